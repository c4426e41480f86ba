"""FeedService against the in-process simulator and real NATS: every channel in JSON and SBE,
book gaps, duplicates, garbage frames, NATS restarts, /healthz and /metrics."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import msgspec
import nats
import pytest

from shared.bus import (
    ACCOUNT_EVENTS,
    AccountEvent,
    BalanceChange,
    BookEvent,
    BookGap,
    FillEvent,
    FundingEvent,
    OrderEvent,
    PositionEvent,
    SummaryEvent,
    TradeEvent,
    subjects,
)
from shared.bus.publish import MSG_ID_HEADER
from tests.feed.feedkit import FeedFactory, M, activity, connected, place, start_feed
from tests.feed.helpers import read_stream, until
from tests.simfixture import SimHandle

__all__ = ["start_feed"]  # the fixture, used by name


@pytest.mark.parametrize("sbe_version", [0, 2], ids=["json", "sbe"])
async def test_every_channel_is_published_with_envelope_and_account_events_with_msg_id(
        simulator_factory: Callable[..., Awaitable[SimHandle]], start_feed: FeedFactory,
        sbe_version: int) -> None:
    sim = await simulator_factory(summary_interval_ms=100)
    feed = await start_feed(sim, sbe_schema_version=sbe_version)
    await connected(feed)
    await until(lambda: bool(feed.tap.of(BookEvent)), what="the book snapshot")
    await activity(sim)
    wanted = (OrderEvent, FillEvent, PositionEvent, AccountEvent, BalanceChange, BookEvent, TradeEvent,
              SummaryEvent, FundingEvent)
    await until(lambda: all(feed.tap.of(c) for c in wanted), 8.0,
                f"every event kind; missing {[c.__name__ for c in wanted if not feed.tap.of(c)]}")
    for subject, event, headers in feed.tap.items:
        if subject == subjects.FEED_STATUS:
            continue
        assert event.source == "ws" and event.conn_epoch == 1 and event.recv_ns > 0, event
        if type(event) in ACCOUNT_EVENTS:
            assert len(headers.get(MSG_ID_HEADER, "")) == 32, subject
        else:  # core-NATS market data is never retried: no dedup id (services/feed/sink.py)
            assert MSG_ID_HEADER not in (headers or {}), subject
    first = feed.tap.of(BookEvent)[0]
    assert first.book.update_type == "s" and first.venue_ts_ms == first.book.last_updated_at
    order = feed.tap.of(OrderEvent)[0]
    assert order.venue_ts_ms == order.order.last_updated_at
    frames = feed.service.protocol.frames
    assert frames[f"order_book.{M}.deltas"] >= 1 and frames["orders.ALL"] >= 1
    assert feed.service.protocol.counters["decode_errors"] == 0
    if sbe_version:
        assert feed.service.protocol._sbe.decoded > 0  # public data really came as SBE


async def test_book_gap_publishes_bookgap_resubscribes_and_the_book_is_valid_again(
        simulator: SimHandle, start_feed: FeedFactory) -> None:
    feed = await start_feed(simulator)
    await connected(feed)
    await until(lambda: bool(feed.tap.of(BookEvent)), what="the book snapshot")
    simulator.sim.faults.book_gaps[M] = 1
    bid, _ = simulator.best()
    for i in range(3):
        await place(simulator, side="BUY", size="0.01", price=str(bid - 10 - i))
    await until(lambda: bool(feed.tap.of(BookGap)), what="a BookGap")
    gap = feed.tap.of(BookGap)[0]
    assert gap.market == M and gap.got_seq > gap.expected_seq and gap.reason == "gap"
    await until(lambda: feed.service.protocol.books.book(M).valid, what="a valid book again")
    snaps = [e for e in feed.tap.of(BookEvent) if e.book.update_type == "s"]
    assert len(snaps) == 2  # the first subscription's and the resubscription's
    assert feed.service.protocol.counters["book_gap"] == 1
    await place(simulator, side="BUY", size="0.01", price=str(bid - 20))
    last_seq = snaps[-1].book.seq_no
    await until(lambda: any(e.book.seq_no == last_seq + 1 for e in feed.tap.of(BookEvent)), what="next delta")


async def test_duplicate_private_pushes_are_published_and_the_feed_keeps_going(
        simulator: SimHandle, start_feed: FeedFactory) -> None:
    feed = await start_feed(simulator)
    await connected(feed)
    simulator.sim.faults.private.duplicate.next = 1
    bid, _ = simulator.best()
    await place(simulator, side="BUY", size="0.01", price=str(bid - 5))
    await until(lambda: len(feed.tap.of(OrderEvent)) >= 2, what="order pushes")
    seqs = [e.order.seq_no for e in feed.tap.of(OrderEvent)]
    assert len(seqs) > len(set(seqs))  # the duplicate reached the bus; the state service drops it
    assert feed.service.status.connected


async def test_healthz_and_metrics(simulator: SimHandle, start_feed: FeedFactory) -> None:
    feed = await start_feed(simulator)
    await connected(feed)
    await until(lambda: bool(feed.tap.of(BookEvent)), what="book")
    assert feed.service.http is not None
    base = f"http://127.0.0.1:{feed.service.http.port}"
    async with httpx.AsyncClient(base_url=base) as client:
        health = await client.get("/healthz")
        assert health.status_code == 200, health.text
        body = msgspec.json.decode(health.content)
        assert body["ok"] and body["state"] == "connected" and body["nats_connected"]
        metrics = (await client.get("/metrics")).text
        assert f'feed_frames_total{{channel="order_book.{M}.deltas"}}' in metrics
        assert "feed_queue_depth" in metrics and "feed_publish_latency_seconds_bucket" in metrics
        assert (await client.get("/nope")).status_code == 404
        await feed.service.connection.stop()
        await until(lambda: not feed.service.status.connected, what="disconnected")
        down = await client.get("/healthz")
        assert down.status_code == 503 and msgspec.json.decode(down.content)["state"] == "disconnected"


async def test_nats_restart_mid_stream_loses_no_account_event(
        simulator: SimHandle, start_feed: FeedFactory, nats_server: Any, nats_url: str) -> None:
    if nats_server is None:
        pytest.skip("needs the local nats-server process (NATS_URL or Docker in use)")
    feed = await start_feed(simulator, publish_timeout_s=0.3)
    await connected(feed)
    bid, _ = simulator.best()
    ids = [(await place(simulator, side="BUY", size="0.01", price=str(bid - 30 - i)))["id"] for i in range(2)]
    port = nats_server.port
    nats_server.stop()
    try:
        ids += [(await place(simulator, side="BUY", size="0.01", price=str(bid - 40 - i)))["id"]
                for i in range(3)]
        await until(lambda: not feed.service.health()[0], what="unhealthy while NATS is down")
    finally:
        nats_server.start(port=port)
    await until(lambda: not feed.service.sink.account_lane and feed.service.health()[0], 15.0,
                what="account lane drained after the restart")
    assert feed.service.sink.account_lost == 0
    nc = await nats.connect(nats_url)
    try:
        got = await read_stream(nc.jetstream(), f"pdx.acct.{feed.service.settings.account_token}.order",
                                expect=10_000, timeout_s=2.0)
    finally:
        await nc.close()
    stored = {e.order.id for e, _ in got if isinstance(e, OrderEvent)}
    assert set(ids) <= stored, set(ids) - stored


async def test_malformed_frames_on_the_socket_are_counted_and_the_feed_keeps_going(
        simulator: SimHandle, start_feed: FeedFactory) -> None:
    feed = await start_feed(simulator)
    await connected(feed)
    for conn in list(simulator.sim.hub.conns.values()):
        conn.send(b"{not json", False)
        conn.send(b'{"jsonrpc":"2.0","method":"subscription","params":{"channel":"bbo.X","data":{}}}', False)
        conn.send(b'{"jsonrpc":"2.0","method":"surprise","params":{}}', False)
        conn.send(b"\x01\x02\x03", True)  # truncated SBE
        conn.send(b'{"jsonrpc":"2.0","id":4242,"error":{"code":-32603,"message":"internal"}}', False)
    counters = feed.service.protocol.counters
    await until(lambda: counters["decode_errors"] >= 4 and counters["rpc_errors"] >= 1, what="errors counted")
    await activity(simulator)
    await until(lambda: bool(feed.tap.of(OrderEvent)), what="orders after the garbage")
    assert feed.service.status.connected and feed.epoch == 1
