"""Builds the commands service from settings and live clients; owns its background tasks."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from services.commands.api import ARRIVAL, build_app
from services.commands.core.bucket import TokenBucket
from services.commands.core.strategies import Strategies
from services.commands.engine import Engine
from services.commands.metrics import Metrics
from services.commands.records import Records
from services.commands.settings import Settings
from services.commands.store import CommandStore
from services.commands.views import ExposureView, VenueView
from services.commands.watch import OrderWatch
from shared import httpserve
from shared.bus import EventPublisher
from shared.paradex.models.account import Order
from shared.paradex.rest import ParadexRest, RestTimeouts


class CommandsService:
    """``await start()`` connects to the venue and serves HTTP; ``await stop()`` drains."""

    def __init__(self, settings: Settings, nc: Any, js: Any, redis: Any, *, http: bool = True) -> None:
        self.settings = settings
        self.nc, self.js, self.redis = nc, js, redis
        self.http = http
        self.strategies = Strategies.parse(settings.strategies.reveal())
        self.metrics = Metrics()
        self.added_s: list[float] = []  # kept for the bench (bounded)
        self.port = 0
        self._tasks: list[asyncio.Task[Any]] = []
        self._server: httpserve.HttpServer | None = None

    def _on_request(self, method: str, path: str, attempt: int) -> None:
        arrival = ARRIVAL.get()
        if arrival and method != "GET" and attempt == 0:
            added = time.perf_counter() - arrival
            self.metrics.added.observe(added)
            if len(self.added_s) < 1_000_000:
                self.added_s.append(added)

    async def start(self) -> None:
        s = self.settings
        timeouts = RestTimeouts(connect_s=s.venue_connect_timeout_s, read_s=s.venue_read_timeout_s)
        self.rest = await ParadexRest.connect(
            s, timeouts=timeouts, on_request=self._on_request, max_connections=64
        )
        account = s.account_token
        store = CommandStore(self.redis, account, s.idempotency_ttl_s)
        self.venue = VenueView(self.rest, s.markets_refresh_s, s.system_refresh_s)
        await self.venue.load()
        self.exposure = ExposureView(self.redis, account, store, list(self.venue.markets))
        self.exposure.venue_prices = self.venue.venue_prices
        await self.exposure.refresh()
        self.watch = OrderWatch(self.nc, account)
        await self.watch.start()
        self.engine = Engine(
            rest=self.rest,
            publisher=EventPublisher(self.js, account, timeout_s=s.publish_timeout_s),
            nc=self.nc,
            store=store,
            venue=self.venue,
            exposure=self.exposure,
            bucket=TokenBucket(s.rate_per_s, s.rate_burst, time.monotonic()),
            watch=self.watch,
            metrics=self.metrics,
            pending_stale_s=s.pending_stale_s,
            ws_wait_default_s=s.ws_wait_default_s,
            ws_wait_max_s=s.ws_wait_max_s,
        )
        self.records = Records(store, self.metrics)
        self.watch.on_truth = self._resolve
        self.app = build_app(self.engine, self.strategies, self.health)
        self._tasks = [
            asyncio.ensure_future(self.venue.run()),
            asyncio.ensure_future(self.exposure.run(s.exposure_refresh_s)),
        ]
        if self.http:
            await self._serve()

    async def _resolve(self, strategy: str, order: Order) -> None:
        await self.records.resolve(strategy, order)

    def health(self) -> tuple[bool, dict[str, Any]]:
        age = time.time() - self.exposure.refreshed_at
        ok = (
            bool(self.venue.markets)
            and self.nc.is_connected
            and age < 10 * max(1.0, self.settings.exposure_refresh_s)
        )
        return ok, {
            "markets": len(self.venue.markets),
            "system_status": self.venue.system_status,
            "exposure_age_s": round(age, 3),
            "nats_connected": self.nc.is_connected,
            "strategies": len(self.strategies),
        }

    async def _serve(self) -> None:
        # The shared helper: TCP_NODELAY on accepted connections, no signal handling of its own.
        self._server = httpserve.HttpServer(self.app, self.settings.http_host, self.settings.http_port,
                                            name="commands", graceful_s=5)
        await self._server.start()
        self.port = self._server.port

    async def stop(self) -> None:
        """Stop serving, stop the refresh loops (cancelled again until they end: a cancellation
        landing inside a redis-py command can be swallowed), wait for in-flight sends."""
        if hasattr(self, "venue"):
            self.venue.stopped = True
        if hasattr(self, "exposure"):
            self.exposure.stopped = True
        if self._server is not None:
            await self._server.stop()  # in-flight requests finish (bounded), then the listener closes
        loops = set(self._tasks)
        for _ in range(50):
            if not loops:
                break
            for t in loops:
                t.cancel()
            _, loops = await asyncio.wait(loops, timeout=0.1)
        for t in self._tasks:
            if t.done() and not t.cancelled():
                t.exception()  # retrieved: errors were logged by the loops themselves
        if hasattr(self, "engine") and self.engine.tasks:
            await asyncio.wait(list(self.engine.tasks), timeout=5)
        if hasattr(self, "watch"):
            await self.watch.stop()
        if hasattr(self, "rest"):
            await self.rest.aclose()
