"""The feed and the reconciler started in-process next to the commands service (same account token,
same NATS), for the tests that need the WebSocket's confirmation or a lookup.

Small local starters on purpose: the feed's and reconciler's own test fixtures tap their own
subjects (the reconciler's publishes under a random token), which a commands test must not use.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import nats
import pytest

from services.feed.auth import RestJwtSource
from services.feed.service import FeedService
from services.feed.settings import Settings as FeedSettings
from services.reconciler.service import ReconcilerService
from services.reconciler.settings import Settings as ReconcilerSettings
from shared.bus import decode_event, ensure_streams, subjects
from shared.paradex.rest import ParadexRest, RestTimeouts
from shared.settings import Secret, load
from tests.commands.helpers import M
from tests.simfixture import SimHandle


async def until(done: Callable[[], bool], timeout_s: float = 5.0, what: str = "condition") -> None:
    """Poll ``done`` every 10 ms; AssertionError naming ``what`` after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not done():
        if loop.time() >= deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout_s: float = 5.0, what: str = "condition"
) -> None:
    """Await ``check()`` every 10 ms until true; AssertionError naming ``what`` after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await check():
        if loop.time() >= deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


class Tap:
    """Every account event published for ``account`` (core subscription: JetStream publishes reach
    core subscribers too), decoded, in arrival order."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self._sub: Any = None

    async def start(self, nc: Any, account: str) -> Tap:
        async def on_msg(msg: Any) -> None:
            with contextlib.suppress(Exception):
                self.events.append(decode_event(msg.data))

        self._sub = await nc.subscribe(subjects.account_filter(account), cb=on_msg)
        return self

    def of(self, cls: type, client_id: str | None = None) -> list[Any]:
        """Events of type ``cls`` (about ``client_id`` if given)."""
        return [
            e
            for e in self.events
            if isinstance(e, cls) and (client_id is None or getattr(e, "client_id", None) == client_id)
        ]


def _common(sim: SimHandle) -> dict[str, Any]:
    return {
        "paradex_rest_url": sim.rest_url,
        "paradex_ws_url": sim.ws_url,
        "paradex_account": sim.account,
        "paradex_l2_private_key": Secret(sim.private_key),
        "http_port": 0,
    }


def _private_subscribed(sim: SimHandle) -> bool:
    keys = [key for conn in sim.sim.hub.conns.values() for key in conn.subscriptions]
    return any(key.partition("|")[2].startswith("orders") for key in keys)


@pytest.fixture
async def start_feed(nats_url: str) -> AsyncIterator[Callable[..., Awaitable[FeedService]]]:
    """``await start_feed(sim)``: a connected feed (private and BTC channels subscribed)."""
    started: list[tuple[FeedService, RestJwtSource, Any]] = []

    async def make(sim: SimHandle, **overrides: Any) -> FeedService:
        nc = await nats.connect(nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
        kw = {
            **_common(sim),
            "paradex_markets": (M,),
            "backoff_initial_s": 0.05,
            "backoff_max_s": 0.2,
            "status_interval_s": 0.1,
            "reply_timeout_s": 2.0,
            "silence_timeout_s": 30.0,
        }
        settings = load(FeedSettings, env={}, **{**kw, **overrides})
        jwt = RestJwtSource(settings)
        feed = FeedService(settings, nc, jwt, http=False)
        await feed.start()
        started.append((feed, jwt, nc))
        await until(lambda: feed.status.connected, 5.0, "the feed connected")
        await until(lambda: _private_subscribed(sim), 5.0, "the feed's orders subscription")
        return feed

    try:
        yield make
    finally:
        for feed, jwt, nc in started:
            await feed.stop(drain_s=2.0)
            await jwt.aclose()
            with contextlib.suppress(Exception):
                await nc.close()


@pytest.fixture
async def start_reconciler(nats_url: str) -> AsyncIterator[Callable[..., Awaitable[ReconcilerService]]]:
    """``await start_reconciler(sim)``: a reconciler on the simulator's account token (no start-up
    snapshot, no periodic run: it only answers requests)."""
    started: list[tuple[ReconcilerService, ParadexRest, Any]] = []

    async def make(sim: SimHandle, **overrides: Any) -> ReconcilerService:
        nc = await nats.connect(nats_url, max_reconnect_attempts=2)
        await ensure_streams(nc.jetstream())
        kw = {
            **_common(sim),
            "interval_s": 3600.0,
            "run_at_startup": False,
            "coalesce_s": 0.02,
            "rate_per_s": 2000.0,
            "rate_burst": 1000,
            "request_timeout_s": 2.0,
            "part_timeout_s": 10.0,
            "shutdown_grace_s": 2.0,
            "max_retries": 1,
        }
        settings = load(ReconcilerSettings, env={}, **{**kw, **overrides})
        rest = ParadexRest(
            sim.rest_url,
            signer=sim.signer,
            max_retries=settings.max_retries,
            timeouts=RestTimeouts(read_s=settings.request_timeout_s),
        )
        service = ReconcilerService(settings, nc, rest)
        await service.start()
        started.append((service, rest, nc))
        return service

    try:
        yield make
    finally:
        for service, rest, nc in started:
            await service.stop()
            await rest.aclose()
            with contextlib.suppress(Exception):
                await nc.drain()
