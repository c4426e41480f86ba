"""The fixtures give real servers: JetStream streams and durable consumers, Redis strings and streams."""

from __future__ import annotations

import asyncio

from nats.js.api import ConsumerConfig, StreamConfig


async def test_jetstream_stream_publish_and_durable_consume(js, unique):
    stream = f"T{unique}"
    await js.add_stream(StreamConfig(name=stream, subjects=[f"t.{unique}.>"]))
    for i in range(5):
        ack = await js.publish(f"t.{unique}.x", f"m{i}".encode())
        assert ack.stream == stream and ack.seq == i + 1
    sub = await js.pull_subscribe(f"t.{unique}.>", durable="d1", stream=stream)
    msgs = await sub.fetch(5, timeout=5)
    assert [m.data for m in msgs] == [f"m{i}".encode() for i in range(5)]
    for m in msgs[:3]:
        await m.ack()
    info = await js.consumer_info(stream, "d1")
    assert info.config.durable_name == "d1"
    # Unacked messages are redelivered to the same durable after the ack wait.
    await js.delete_consumer(stream, "d1")
    await js.add_consumer(stream, ConsumerConfig(durable_name="d2", ack_wait=1))
    sub2 = await js.pull_subscribe_bind("d2", stream=stream)
    again = await sub2.fetch(5, timeout=5)
    assert len(again) == 5
    await js.delete_stream(stream)


async def test_jetstream_dedup_by_msg_id(js, unique):
    stream = f"D{unique}"
    await js.add_stream(StreamConfig(name=stream, subjects=[f"d.{unique}"], duplicate_window=60))
    a = await js.publish(f"d.{unique}", b"x", headers={"Nats-Msg-Id": "same"})
    b = await js.publish(f"d.{unique}", b"x", headers={"Nats-Msg-Id": "same"})
    assert a.seq == b.seq and b.duplicate
    await js.delete_stream(stream)


async def test_redis_set_get_and_stream_consumer_group(redis_client, unique):
    await redis_client.set(f"k:{unique}", "v1")
    assert await redis_client.get(f"k:{unique}") == b"v1"
    stream = f"s:{unique}"
    ids = [await redis_client.xadd(stream, {"n": str(i)}) for i in range(3)]
    await redis_client.xgroup_create(stream, "g", id="0")
    got = await redis_client.xreadgroup("g", "c1", {stream: ">"}, count=10, block=1000)
    entries = got[0][1]
    assert [e[0] for e in entries] == ids
    assert [e[1][b"n"] for e in entries] == [b"0", b"1", b"2"]
    assert await redis_client.xack(stream, "g", *ids) == 3
    await redis_client.delete(stream, f"k:{unique}")


async def test_nats_restart_keeps_jetstream_data(nats_server, nats_url, unique):
    import nats
    import pytest

    if nats_server is None:
        pytest.skip("NATS provided externally (NATS_URL or Docker): cannot restart it from here")
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=f"R{unique}", subjects=[f"r.{unique}"]))
    await js.publish(f"r.{unique}", b"before")
    await nc.close()
    await asyncio.to_thread(nats_server.restart)
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    info = await js.stream_info(f"R{unique}")
    assert info.state.messages == 1
    await js.delete_stream(f"R{unique}")
    await nc.close()
