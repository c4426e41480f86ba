"""BusSink against real NATS: account events in order with Nats-Msg-Id, market data reaches the
MARKET stream, NATS restarted mid-stream loses no account event, overflow is loud and flagged."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest

from services.feed.core.protocol import FeedProtocol
from services.feed.metrics import FeedMetrics
from services.feed.sink import BusSink
from shared.bus import BboEvent, OrderEvent, ensure_streams, subjects
from shared.bus.publish import MSG_ID_HEADER
from shared.localservers import NatsServer
from tests.feed import samples as s
from tests.feed.helpers import read_stream, until


def order_event(i: int) -> OrderEvent:
    # a distinct recv_ns per call: the content-hash Nats-Msg-Id must not collide across tests
    return OrderEvent(source="ws", venue_ts_ms=i, recv_ns=time.time_ns(), conn_epoch=1,
                      order=s.order(ts=1_700_000_000_000 + i))


@pytest.fixture
async def client(nats_url: str) -> AsyncIterator[Any]:
    nc = await nats.connect(nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    await ensure_streams(nc.jetstream())
    try:
        yield nc
    finally:
        with contextlib.suppress(Exception):
            await nc.close()


async def test_account_events_are_stored_in_order_with_a_msg_id(client: Any, unique: str) -> None:
    sink = BusSink(client, f"a{unique}", FeedMetrics())
    sink.start()
    try:
        for i in range(20):
            sink.put(order_event(i))
        assert await sink.flush()
    finally:
        await sink.stop()
    got = await read_stream(client.jetstream(), subjects.account_filter(f"a{unique}"), expect=20)
    assert [e.venue_ts_ms for e, _ in got] == list(range(20))
    assert all(len(h[MSG_ID_HEADER]) == 32 for _, h in got)


@pytest.mark.parametrize("mode", ["core", "jetstream"])
async def test_market_data_reaches_the_market_stream(client: Any, unique: str, mode: str) -> None:
    market = f"M{unique}"
    sink = BusSink(client, "acct", FeedMetrics(), market_mode=mode)
    sink.start()
    try:
        for i in range(50):
            sink.put(BboEvent(source="ws", venue_ts_ms=i, recv_ns=time.time_ns(), conn_epoch=1,
                              bbo=msgspec_replace_market(s.bbo(seq=i), market)))
        assert await sink.flush()
    finally:
        await sink.stop()
    got = await read_stream(client.jetstream(), subjects.market_filter("bbo", market), expect=50)
    assert [e.venue_ts_ms for e, _ in got] == list(range(50))
    assert sink.published_market == 50 and sink.market_dropped == 0


def msgspec_replace_market(bbo: Any, market: str) -> Any:
    import msgspec

    return msgspec.structs.replace(bbo, market=market)


async def test_market_lane_drops_newest_when_full_and_counts() -> None:
    class _Nc:
        is_connected = True

        def jetstream(self) -> None:
            return None

    sink = BusSink(_Nc(), "acct", FeedMetrics(), market_max=3)
    for i in range(5):
        sink.put(BboEvent(source="ws", recv_ns=i, bbo=s.bbo(seq=i)))
    assert len(sink.market_lane) == 3 and sink.market_dropped == 2


async def test_nats_restarted_mid_stream_loses_no_account_event(
        nats_server: NatsServer | None, client: Any, unique: str) -> None:
    if nats_server is None:
        pytest.skip("needs the local nats-server process (NATS_URL or Docker in use)")
    account = f"a{unique}"
    sink = BusSink(client, account, FeedMetrics(), publish_timeout_s=0.5, retry_s=0.05)
    sink.start()
    try:
        for i in range(10):
            sink.put(order_event(i))
        await until(lambda: sink.published_account == 10, what="first batch")
        port = nats_server.port
        nats_server.stop()
        for i in range(10, 30):
            sink.put(order_event(i))
        await until(lambda: not sink.healthy, what="unhealthy while NATS is down")
        nats_server.start(port=port)
        assert await sink.flush(15.0), f"{sink.depth} events still queued"
        assert sink.healthy and sink.account_lost == 0
    finally:
        await sink.stop()
    got = await read_stream(client.jetstream(), subjects.account_filter(account), expect=30, timeout_s=10)
    ts = [e.venue_ts_ms for e, _ in got]
    assert sorted(set(ts)) == list(range(30)), ts
    assert ts == sorted(ts)  # one total order, same as the venue's


async def test_account_overflow_is_counted_and_flags_a_forced_reconnect(
        caplog: pytest.LogCaptureFixture) -> None:
    class _Nc:
        is_connected = False

        def jetstream(self) -> None:
            return None

    sink = BusSink(_Nc(), "acct", FeedMetrics(), account_max=2)
    for i in range(3):
        sink.put(order_event(i))
    assert len(sink.account_lane) == 2 and sink.account_lost == 1 and sink.overflowed
    assert any("ACCOUNT EVENT LOST" in r.message and r.levelname == "CRITICAL" for r in caplog.records)


def test_protocol_events_feed_the_sink_lanes_by_kind() -> None:
    class _Nc:
        is_connected = True

        def jetstream(self) -> None:
            return None

    p = FeedProtocol([s.M], account=s.ACCOUNT)
    p.connect(1, "t")
    sink = BusSink(_Nc(), "acct", FeedMetrics())
    for frame in (s.push("orders.ALL", s.order()), s.push(f"bbo.{s.M}", s.bbo())):
        for e in p.receive(frame, 1):
            sink.put(e)
    assert len(sink.account_lane) == 1 and len(sink.market_lane) == 1


async def test_a_core_batch_is_one_write_of_the_same_messages_in_order(client: Any, unique: str) -> None:
    """The batched core publish: good messages arrive in order with their payloads (prepared ones
    and events alike); a message without a valid subject and one above the server's max payload
    are dropped and counted, their neighbours unharmed."""
    from services.feed.core.wire import Prepared

    got: list[tuple[str, bytes]] = []

    async def note(msg: Any) -> None:
        got.append((msg.subject, msg.data))

    sub = await client.subscribe(f"t{unique}.>", cb=note)
    bbo_sub = await client.subscribe(subjects.market_filter("bbo", f"M{unique}"), cb=note)
    sink = BusSink(client, "acct", FeedMetrics())
    assert sink._raw  # a nats-py client: the batched path is the one taken
    big = b"x" * (client.max_payload + 1)
    sent = [(f"t{unique}.{i}", b'{"i":%d}' % i) for i in range(300)]
    for i, (subject, payload) in enumerate(sent):
        sink.put(Prepared(subject, payload, time.time_ns()))
        if i == 10:
            sink.put(BboEvent(source="ws", recv_ns=1, bbo=msgspec_replace_market(s.bbo(seq=1), "BTC.>*")))
        if i == 20:
            sink.put(Prepared(f"t{unique}.big", big, time.time_ns()))
    sink.put(BboEvent(source="ws", recv_ns=2, bbo=msgspec_replace_market(s.bbo(seq=2), f"M{unique}")))
    sink.start()
    try:
        assert await sink.flush()
        await client.flush()
        await until(lambda: len(got) >= 301)
    finally:
        await sink.stop()
        await sub.unsubscribe()
        await bbo_sub.unsubscribe()
    assert got[:300] == sent
    assert got[300][0] == subjects.market_subject("bbo", f"M{unique}")
    assert sink.published_market == 301 and sink.market_dropped == 2
    assert client.stats["out_msgs"] >= 301
