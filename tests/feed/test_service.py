"""FeedService against the in-process simulator and real NATS.

Each test: a fresh simulator, a feed with short timeouts, core NATS taps on the feed's subjects
(JetStream publishes reach core subscribers too; storage itself is covered by test_sink).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import msgspec
import nats
import pytest

from services.feed.auth import RestJwtSource
from services.feed.service import FeedService
from services.feed.settings import Settings
from services.simulator.faults import LatencySpec
from shared.bus import (
    AccountEvent,
    BalanceChange,
    BookEvent,
    BookGap,
    FeedStatus,
    FillEvent,
    FundingEvent,
    OrderEvent,
    PositionEvent,
    SummaryEvent,
    TradeEvent,
    subjects,
)
from shared.bus.publish import MSG_ID_HEADER
from shared.bus.requests import decode_request
from shared.settings import Secret, load
from tests.feed.helpers import BusTap, read_stream, until
from tests.simfixture import SimHandle

M = "BTC-USD-PERP"


class Running:
    """A started feed with its taps."""

    def __init__(self, service: FeedService, tap: BusTap, requests: list[Any], jwt: RestJwtSource) -> None:
        self.service = service
        self.tap = tap
        self.requests = requests
        self.jwt = jwt

    @property
    def epoch(self) -> int:
        return int(self.service.status.epoch)

    def states(self) -> list[tuple[str, int]]:
        return [(e.state, e.epoch) for subject, e, _ in self.tap.items
                if isinstance(e, FeedStatus) and subject.startswith("pdx.acct")]


FeedFactory = Callable[..., Awaitable[Running]]


@pytest.fixture
async def start_feed(nats_url: str) -> AsyncIterator[FeedFactory]:
    started: list[tuple[Running, Any]] = []

    async def make(sim: SimHandle, **overrides: Any) -> Running:
        nc = await nats.connect(nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
        kw: dict[str, Any] = {
            "paradex_ws_url": sim.ws_url, "paradex_rest_url": sim.rest_url, "paradex_account": sim.account,
            "paradex_l2_private_key": Secret(sim.private_key), "paradex_markets": (M,), "http_port": 0,
            "silence_timeout_s": 30.0, "backoff_initial_s": 0.05, "backoff_max_s": 0.2,
            "status_interval_s": 0.1, "reply_timeout_s": 2.0,
        }
        settings = load(Settings, env={}, **{**kw, **overrides})
        tap = await BusTap().start(nc, f"pdx.acct.{settings.account_token}.>", "pdx.md.>",
                                   subjects.FEED_STATUS)
        requests: list[Any] = []

        async def on_request(msg: Any) -> None:
            requests.append(decode_request(msg.data))

        await nc.subscribe(subjects.RECONCILE_REQUEST, cb=on_request)
        jwt = RestJwtSource(settings)
        service = FeedService(settings, nc, jwt)
        await service.start()
        running = Running(service, tap, requests, jwt)
        started.append((running, nc))
        return running

    try:
        yield make
    finally:
        for running, nc in started:
            await running.service.stop(drain_s=2.0)
            await running.jwt.aclose()
            await running.tap.stop()
            with contextlib.suppress(Exception):
                await nc.close()


async def connected(feed: Running, epoch: int = 1, timeout_s: float = 5.0) -> None:
    await until(lambda: feed.service.status.connected and feed.epoch >= epoch, timeout_s,
                f"feed connected with epoch >= {epoch}")


async def place(sim: SimHandle, **kw: Any) -> dict[str, Any]:
    async with sim.authed() as client:
        resp = await client.post("/orders", json=sim.order(**kw))
        assert resp.status_code in (200, 201), resp.text
        body: dict[str, Any] = resp.json()
        return body


async def activity(sim: SimHandle) -> None:
    """A resting order (book delta, bbo maybe) then a crossing one (trade, fill, position...)."""
    bid, ask = sim.best()
    await place(sim, side="BUY", size="0.01", price=str(bid))
    await place(sim, side="BUY", size="0.01", price=str(ask))


@pytest.mark.parametrize("sbe_version", [0, 2], ids=["json", "sbe"])
async def test_every_channel_is_published_with_envelope_and_msg_id(
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
        assert len(headers.get(MSG_ID_HEADER, "")) == 32, subject
    first = feed.tap.of(BookEvent)[0]
    assert first.book.update_type == "s" and first.venue_ts_ms == first.book.last_updated_at
    order = feed.tap.of(OrderEvent)[0]
    assert order.venue_ts_ms == order.order.last_updated_at
    frames = feed.service.protocol.frames
    assert frames[f"order_book.{M}.deltas"] >= 1 and frames["orders.ALL"] >= 1
    assert feed.service.protocol.counters["decode_errors"] == 0
    if sbe_version:
        assert feed.service.protocol._sbe.decoded > 0  # public data really came as SBE


async def test_dropped_connection_reconnects_resubscribes_with_new_epoch_and_asks_for_reconciliation(
        simulator: SimHandle, start_feed: FeedFactory) -> None:
    feed = await start_feed(simulator)
    await connected(feed)
    await until(lambda: len(feed.requests) == 1, what="first reconcile request")
    for conn in list(simulator.sim.hub.conns.values()):
        conn.drop("test: dropped")
    await connected(feed, epoch=2)
    await until(lambda: len(feed.requests) == 2, what="reconcile request after reconnect")
    assert [r.reason for r in feed.requests] == ["feed_start", "feed_reconnect"]
    assert feed.service.metrics.reconnects._value.get() == 1
    await until(lambda: ("connected", 2) in feed.states(), what="status events of epoch 2")
    states = feed.states()
    order = [states.index(s) for s in (("disconnected", 1), ("authenticating", 2), ("connected", 2))]
    assert order == sorted(order)
    # resubscribed: a fresh book snapshot on epoch 2 and account pushes flow again
    await until(lambda: any(e.conn_epoch == 2 for e in feed.tap.of(BookEvent)), what="epoch-2 snapshot")
    await activity(simulator)
    await until(lambda: any(e.conn_epoch == 2 for e in feed.tap.of(OrderEvent)), what="epoch-2 order")

    def heartbeat_epochs() -> list[int]:
        return [e.epoch for s, e, _ in feed.tap.items
                if s == subjects.FEED_STATUS and isinstance(e, FeedStatus)]

    await until(lambda: 2 in heartbeat_epochs(), what="a core-NATS heartbeat of epoch 2")


async def test_expired_jwt_is_renewed_for_the_next_connection(
        simulator_factory: Callable[..., Awaitable[SimHandle]], start_feed: FeedFactory) -> None:
    sim = await simulator_factory(jwt_ttl_s=1.0)
    feed = await start_feed(sim)
    await connected(feed)
    first = feed.jwt._rest.jwt.current if feed.jwt._rest else None
    await asyncio.sleep(1.2)  # the first JWT has expired; the connection stays authenticated
    for conn in list(sim.sim.hub.conns.values()):
        conn.drop("test: dropped")
    await connected(feed, epoch=2)
    assert feed.jwt._rest is not None and feed.jwt._rest.jwt.current != first
    await activity(sim)
    await until(lambda: any(e.conn_epoch == 2 for e in feed.tap.of(OrderEvent)), what="epoch-2 private data")


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


async def test_silent_connection_is_detected_and_replaced(
        simulator: SimHandle, start_feed: FeedFactory) -> None:
    feed = await start_feed(simulator, silence_timeout_s=0.5)
    await connected(feed)
    simulator.sim.faults.ws_frozen = True
    await until(lambda: feed.epoch >= 2, 5.0, what="a reconnect after silence")
    assert feed.service.metrics.silences._value.get() >= 1
    assert any(s == "disconnected" and "silent" in e.reason for s, e in
               ((e.state, e) for e in feed.tap.of(FeedStatus)))
    simulator.sim.faults.ws_frozen = False
    await connected(feed, epoch=2)


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


class _FirstTokenBad:
    """Hands out a refused token first, then the real ones; records invalidations."""

    def __init__(self, real: RestJwtSource, bad: str) -> None:
        self.real = real
        self.bad = bad
        self.invalidated: list[str] = []

    async def token(self) -> str:
        if not self.invalidated:
            return self.bad
        return await self.real.token()

    def invalidate(self, token: str) -> None:
        self.invalidated.append(token)
        self.real.invalidate(token)


def _tampered(token: str) -> str:
    head, body, sig = token.split(".")
    return f"{head}.{body}.{'A' if sig[0] != 'A' else 'B'}{sig[1:]}"


@pytest.mark.parametrize("code", [40110, 40111])
async def test_refused_jwt_is_invalidated_and_the_feed_reconnects_with_a_fresh_one(
        simulator: SimHandle, start_feed: FeedFactory, code: int) -> None:
    feed = await start_feed(simulator)
    await connected(feed)
    bad = "not-a-jwt" if code == 40110 else _tampered(await feed.jwt.token())
    await feed.service.connection.stop()
    await until(lambda: not feed.service.status.connected, what="stopped")
    await feed.service.stop(drain_s=1.0)
    # a second service on the same NATS connection, whose first token is refused
    source = _FirstTokenBad(feed.jwt, bad)
    service = FeedService(feed.service.settings, feed.service.nc, source, http=False)
    await service.start()
    try:
        await until(lambda: service.status.connected, what="connected with a fresh JWT")
        assert source.invalidated == [bad] and service.status.epoch == 2
        await until(lambda: any(e.state == "auth_failed" and str(code) in e.reason
                                for e in feed.tap.of(FeedStatus)), what="auth_failed status")
    finally:
        await service.stop(drain_s=1.0)


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


async def test_account_overflow_forces_a_reconnect_and_a_reconciliation(
        simulator: SimHandle, start_feed: FeedFactory) -> None:
    feed = await start_feed(simulator)
    await connected(feed)
    await until(lambda: len(feed.requests) == 1, what="first reconcile request")
    feed.service.sink.overflowed = True  # what BusSink.put_account sets when its bound is exceeded
    await connected(feed, epoch=2)
    await until(lambda: len(feed.requests) == 2, what="reconcile request after the forced reconnect")
    assert any("overflow" in e.reason for e in feed.tap.of(FeedStatus) if e.state == "disconnected")


async def test_no_auth_reply_ends_the_session(simulator: SimHandle, start_feed: FeedFactory) -> None:
    simulator.sim.faults.ws_latency = LatencySpec(mean_ms=5_000)  # replies arrive far too late
    feed = await start_feed(simulator, reply_timeout_s=0.3)
    await until(lambda: feed.epoch >= 2, what="a second attempt after the auth timeout")
    assert any("no auth reply" in e.reason for e in feed.tap.of(FeedStatus))
    simulator.sim.faults.ws_latency = None
    await connected(feed, epoch=2)


async def test_book_without_a_snapshot_forces_a_reconnect(
        simulator: SimHandle, start_feed: FeedFactory) -> None:
    feed = await start_feed(simulator, reply_timeout_s=0.5)
    await connected(feed)
    await until(lambda: feed.service.protocol.books.book(M).valid, what="a valid book")
    feed.service.protocol.books.reset(M)  # as after a resubscription whose snapshot never comes
    await until(lambda: feed.epoch >= 2, what="a reconnect")
    assert any("no snapshot" in e.reason for e in feed.tap.of(FeedStatus))
    await until(lambda: feed.service.protocol.books.book(M).valid, what="a valid book again")
