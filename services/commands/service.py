"""Builds the commands service from settings and live clients; owns its background tasks.

:class:`CommandsService` is also what the HTTP edge calls (``api.Commands``): each command is one
method handing over to the piece that does it (the place pipeline, cancels, modifies, records).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from typing import Any

import uvicorn

from services.commands.api import ARRIVAL, build_app
from services.commands.budget import LocalBudget
from services.commands.cancels import Cancels
from services.commands.core.exposure import ExposureBook
from services.commands.core.messages import Answer, CancelBatch, ModifyOrder, PlaceBatch, PlaceOrder
from services.commands.core.strategies import Strategies, Strategy
from services.commands.exposure import ExposureFollower
from services.commands.metrics import Metrics
from services.commands.modify import Modifies
from services.commands.outbox import Outbox
from services.commands.ownership import Ownership
from services.commands.pipeline import PlacePipeline, Waits
from services.commands.records import Records
from services.commands.settings import Settings
from services.commands.store import CommandStore
from services.commands.transport import RestTransport
from services.commands.venue import VenueView
from services.commands.watch import OrderWatch
from shared.bus import EventPublisher
from shared.bus.gate import RecordGate
from shared.paradex.models.account import Order
from shared.paradex.rest import ParadexRest, RestTimeouts
from shared.rediskeys import Keys

log = logging.getLogger("commands.service")


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
        self._server: uvicorn.Server | None = None

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
        keys = Keys(s.account_token)
        store = CommandStore(self.redis, keys, s.idempotency_ttl_s)
        self.venue = VenueView(self.rest, s.markets_refresh_s, s.system_refresh_s)
        await self.venue.load()
        self.exposure = ExposureBook()
        self.follower = ExposureFollower(
            self.redis,
            keys,
            self.exposure,
            store,
            list(self.venue.markets),
            self.venue.venue_prices,
            block_s=s.exposure_refresh_s,
            resync_s=s.exposure_resync_s,
        )
        await self.follower.snapshot()
        self.watch = OrderWatch(self.nc, s.account_token)
        await self.watch.start()
        outbox = Outbox(EventPublisher(self.js, s.account_token, timeout_s=s.publish_timeout_s), self.nc)
        gate = RecordGate("commands", s.account_token, self.nc, registry=self.metrics.registry)
        transport = RestTransport(self.rest, gate)
        budget = LocalBudget(s.rate_per_s, s.rate_burst)
        ownership = Ownership(store, self.exposure)
        self.pipeline = PlacePipeline(
            store=store,
            outbox=outbox,
            transport=transport,
            signer=self.rest,
            book=self.exposure,
            venue=self.venue,
            budget=budget,
            watch=self.watch,
            metrics=self.metrics,
            waits=Waits(s.ws_wait_default_s, s.ws_wait_max_s, s.pending_stale_s),
        )
        self.cancels = Cancels(
            outbox=outbox,
            transport=transport,
            ownership=ownership,
            book=self.exposure,
            budget=budget,
            metrics=self.metrics,
            markets=lambda: self.venue.markets,
        )
        self.modifies = Modifies(
            outbox=outbox,
            transport=transport,
            signer=self.rest,
            ownership=ownership,
            book=self.exposure,
            venue=self.venue,
            budget=budget,
            metrics=self.metrics,
        )
        self.records = Records(store, self.metrics)
        self.watch.on_truth = self._resolve
        self.app = build_app(self, self.strategies, max_body_bytes=s.max_body_bytes)
        self._tasks = [
            asyncio.ensure_future(self.venue.run()),
            asyncio.ensure_future(self.follower.run()),
        ]
        if self.http:
            await self._serve()

    # ------------------------------------------------------------------ commands (api.Commands)

    async def place(self, s: Strategy, req: PlaceOrder) -> Answer:
        return await self.pipeline.place_one(s, req)

    async def place_batch(self, s: Strategy, req: PlaceBatch) -> Answer:
        return await self.pipeline.place_batch(s, req.orders, req.wait)

    async def record(self, s: Strategy, client_id: str) -> Answer:
        return await self.records.get(s, client_id)

    async def cancel(self, s: Strategy, order_id: str) -> Answer:
        return await self.cancels.cancel(s, order_id)

    async def cancel_by_client_id(self, s: Strategy, client_id: str, market: str | None) -> Answer:
        return await self.cancels.cancel_by_client_id(s, client_id, market)

    async def cancel_batch(self, s: Strategy, req: CancelBatch) -> Answer:
        return await self.cancels.cancel_batch(s, req)

    async def cancel_all(self, s: Strategy, market: str | None) -> Answer:
        return await self.cancels.cancel_all(s, market)

    async def modify(self, s: Strategy, order_id: str, req: ModifyOrder) -> Answer:
        return await self.modifies.modify(s, order_id, req)

    async def _resolve(self, strategy: str, order: Order) -> None:
        await self.records.resolve(strategy, order)

    def health(self) -> tuple[bool, dict[str, Any]]:
        age = time.time() - self.follower.updated_at
        fresh = self.follower.healthy and age < 10 * max(1.0, self.settings.exposure_refresh_s)
        ok = bool(self.venue.markets) and self.nc.is_connected and fresh
        return ok, {
            "markets": len(self.venue.markets),
            "system_status": self.venue.system_status,
            "exposure_age_s": round(age, 3),
            "redis_connected": self.follower.healthy,
            "nats_connected": self.nc.is_connected,
            "strategies": len(self.strategies),
        }

    # ------------------------------------------------------------------ lifecycle

    async def _serve(self) -> None:
        # Bind ourselves with proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted connections
        # only for sockets it recognises as TCP (proto 0 would leave Nagle on: ~40 ms per reply).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.settings.http_host, self.settings.http_port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=5
        )
        self._server = uvicorn.Server(config)
        self._sock = sock
        self._tasks.append(asyncio.ensure_future(self._server.serve(sockets=[sock])))
        while not self._server.started:  # noqa: ASYNC110 (uvicorn exposes a flag, not an event)
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Stop serving, stop the refresh loops (cancelled again until they end: a cancellation
        landing inside a redis-py command can be swallowed), wait for in-flight sends."""
        if self._server is not None:
            self._server.should_exit = True
        for part in ("venue", "follower"):
            if hasattr(self, part):
                getattr(self, part).stopped = True
        server = self._tasks[-1] if self._server is not None and self._tasks else None
        loops = {t for t in self._tasks if t is not server}
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server, 10)
        for _ in range(50):
            if not loops:
                break
            for t in loops:
                t.cancel()
            _, loops = await asyncio.wait(loops, timeout=0.1)
        for t in self._tasks:
            if t.done() and not t.cancelled() and t.exception() is not None:
                log.error("task %s ended with an error", t.get_name(), exc_info=t.exception())
        if hasattr(self, "pipeline"):
            await self.pipeline.tasks.wait(5)
        if hasattr(self, "watch"):
            await self.watch.stop()
        if hasattr(self, "rest"):
            await self.rest.aclose()
