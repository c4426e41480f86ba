"""The feed under test: a fixture that starts FeedService against a simulator with real NATS,
core NATS taps on its subjects (JetStream publishes reach core subscribers too), and helpers
that drive the simulator."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import nats
import pytest

from services.feed.auth import RestJwtSource
from services.feed.service import FeedService
from services.feed.settings import Settings
from shared.bus import (
    FeedStatus,
    subjects,
)
from shared.bus.requests import decode_request
from shared.settings import Secret, load
from tests.feed.helpers import BusTap, until
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
