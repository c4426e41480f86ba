"""The connection loop against the simulator: drops, JWT renewal and refusal, silence, auth-reply
timeout, forced reconnects (account overflow, book without snapshot)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from services.feed.auth import RestJwtSource
from services.feed.service import FeedService
from services.simulator.faults import LatencySpec
from shared.bus import (
    BookEvent,
    FeedStatus,
    OrderEvent,
    subjects,
)
from tests.feed.feedkit import FeedFactory, M, activity, connected, start_feed
from tests.feed.helpers import until
from tests.simfixture import SimHandle

__all__ = ["start_feed"]  # the fixture, used by name


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
