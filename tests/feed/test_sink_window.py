"""The account lane pipelined (``FEED_ACCOUNT_INFLIGHT`` > 1): every event stored once, in the
order queued, also when NATS goes away mid-window and comes back (the retry resends from the first
unacked event; the duplicate window drops what was stored already)."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from services.feed.metrics import FeedMetrics
from services.feed.settings import Settings
from services.feed.sink import BusSink
from shared.bus import subjects
from shared.errors import ConfigError
from shared.localservers import NatsServer
from shared.settings import load
from shared.trace import TRACE_HEADER
from tests.feed.helpers import read_stream, until
from tests.feed.test_sink import client, order_event

__all__ = ["client"]


def test_pipelined_is_the_default_and_zero_is_refused() -> None:
    assert load(Settings, env={}).account_inflight == 64
    with pytest.raises(ConfigError, match="FEED_ACCOUNT_INFLIGHT"):
        load(Settings, env={"FEED_ACCOUNT_INFLIGHT": "0"})


@pytest.mark.parametrize("trace", [False, True])
async def test_a_pipelined_lane_stores_every_event_once_in_order(client: Any, unique: str,
                                                                  trace: bool) -> None:
    account = f"a{unique}"
    acks: list[Any] = []

    async def on_acks(msg: Any) -> None:
        acks.extend(msgspec.json.decode(msg.data))

    sub = await client.subscribe(subjects.FEED_TRACE, cb=on_acks)
    sink = BusSink(client, account, FeedMetrics(), account_inflight=64, trace=trace)
    sink.start()
    try:
        for i in range(300):
            sink.put(order_event(i))
        assert await sink.flush()
        await client.flush()
    finally:
        await sink.stop()
        await sub.unsubscribe()
    got = await read_stream(client.jetstream(), subjects.account_filter(account), expect=300)
    assert [e.venue_ts_ms for e, _ in got] == list(range(300))
    assert sink.published_account == 300 and not sink.last_account_error
    assert all((TRACE_HEADER in h) is trace for _, h in got)
    if trace:
        await until(lambda: len(acks) == 300, what="300 ack stamps")
        assert all(pub <= ack for _, pub, ack in acks) and len({seq for seq, _, _ in acks}) == 300


@pytest.mark.parametrize("inflight", [1, 16])
async def test_nats_restarted_mid_window_keeps_every_event_once_and_in_order(
        nats_server: NatsServer | None, client: Any, unique: str, inflight: int) -> None:
    if nats_server is None:
        pytest.skip("needs the local nats-server process (NATS_URL or Docker in use)")
    account = f"a{unique}"
    sink = BusSink(client, account, FeedMetrics(), publish_timeout_s=0.5, retry_s=0.05,
                   account_inflight=inflight)
    sink.start()
    try:
        for i in range(400):
            sink.put(order_event(i))
        await until(lambda: sink.published_account >= 40, timeout_s=10, what="first events")
        port = nats_server.port
        nats_server.stop()  # mid-lane: a window is (most likely) in flight
        for i in range(400, 500):
            sink.put(order_event(i))
        await until(lambda: not sink.healthy, what="unhealthy while NATS is down")
        nats_server.start(port=port)
        assert await sink.flush(20.0), f"{sink.depth} events still queued"
        assert sink.healthy and sink.account_lost == 0
    finally:
        await sink.stop()
    got = await read_stream(client.jetstream(), subjects.account_filter(account), expect=500, timeout_s=10)
    assert [e.venue_ts_ms for e, _ in got] == list(range(500))


async def test_a_window_is_written_in_the_turn_it_is_published(client: Any, unique: str) -> None:
    """Not on nats-py's flusher's next turn, behind every other ready task (bench.e2e: publish ->
    socket write p50 0.073 ms at 1 000 events/s). Counts loop turns, not time."""
    sink = BusSink(client, f"a{unique}", FeedMetrics(), account_inflight=64)
    sink.start()
    transport = client._transport
    write = transport.writelines
    try:
        sink.put(order_event(0))  # the first publish also sets up nats-py's reply subscription
        assert await sink.flush()
        writes: list[tuple[int, bytes]] = []
        turn = 0

        def spy(parts: Any) -> None:
            writes.append((turn, b"".join(parts)))
            write(parts)

        transport.writelines = spy
        sink.put(order_event(1))
        while turn < 10 and not any(b".acct." in w for _, w in writes):
            await asyncio.sleep(0)
            turn += 1
        assert [t for t, w in writes if b".acct." in w] == [0]  # the lane's own turn (1 with the flusher)
        assert await sink.flush()
    finally:
        transport.writelines = write
        await sink.stop()
    got = await read_stream(client.jetstream(), subjects.account_filter(f"a{unique}"), expect=2)
    assert [e.venue_ts_ms for e, _ in got] == [0, 1]
