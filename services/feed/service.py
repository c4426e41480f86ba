"""The feed service: protocol core + connection loop + bus sink + status ticker + book resync
requests + HTTP.

:class:`FeedService` owns nothing it did not build except the NATS connection and the JWT source,
which the caller (``__main__``/tests) passes in and closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from typing import Any

from services.feed.connection import FeedConnection, JwtSource, ws_url
from services.feed.core.protocol import FeedProtocol
from services.feed.core.status import StatusTracker
from services.feed.metrics import FeedMetrics
from services.feed.resync import ResyncHandler
from services.feed.settings import Settings
from services.feed.sink import BusSink
from shared.bus import encode_event, ensure_streams, subjects
from shared.opshttp import HttpServer
from shared.paradex.retry import Backoff, BackoffPolicy, Rng

log = logging.getLogger("feed")


class FeedService:
    """Paradex WebSocket → NATS. ``start`` → (running) → ``stop`` (drains what is queued)."""

    def __init__(self, settings: Settings, nc: Any, jwt: JwtSource, *, http: bool = True,
                 rng: Rng = random.random) -> None:
        self.settings = settings
        self.nc = nc
        self.metrics = FeedMetrics()
        self.protocol = FeedProtocol(settings.paradex_markets, book_feed=settings.book_channel,
                                     summary=settings.subscribe_summary)
        self.metrics.attach(lambda: (self.protocol.frames, self.protocol.counters))
        self.sink = BusSink(nc, settings.account_token, self.metrics, market_mode=settings.market_data_mode,
                            account_max=settings.account_buffer_max, market_max=settings.market_queue_max,
                            publish_timeout_s=settings.publish_timeout_s)
        policy = BackoffPolicy(initial_s=settings.backoff_initial_s, max_s=settings.backoff_max_s,
                               stable_after_s=settings.backoff_stable_s)
        self.connection = FeedConnection(
            ws_url(settings.paradex_ws_url, settings.sbe_schema_version), self.protocol, self.sink, jwt, nc,
            self.metrics, Backoff(policy, rng), silence_timeout_s=settings.silence_timeout_s,
            connect_timeout_s=settings.connect_timeout_s, reply_timeout_s=settings.reply_timeout_s)
        self.resync = ResyncHandler(nc, self.connection, self.metrics,
                                    min_interval_s=settings.book_resync_min_interval_s)
        self.http = (HttpServer(settings.http_host, settings.http_port, self.health, self.metrics.registry,
                                name="feed") if http else None)
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def status(self) -> StatusTracker:
        """The connection's :class:`~services.feed.core.status.StatusTracker`."""
        return self.connection.status

    def health(self) -> tuple[bool, dict[str, Any]]:
        """``(ok, details)``: ok when the venue connection is up and NATS takes account events."""
        st = self.connection.status
        sink = self.sink
        nats_ok = bool(self.nc.is_connected)
        ok = st.connected and sink.healthy
        return ok, {
            "state": st.state, "epoch": st.epoch, "reason": st.reason,
            "last_frame_age_ms": st.frame_age_ms(time.monotonic()),
            "nats_connected": nats_ok, "account_publish_error": sink.last_account_error,
            "queue": {"account": len(sink.account_lane), "market": len(sink.market_lane)},
            "account_events_lost": sink.account_lost, "market_events_dropped": sink.market_dropped,
            "reconcile_requests": self.connection.reconcile_requests,
            "books_valid": {m: b.valid for m, b in self.protocol.books.books.items()},
        }

    async def start(self) -> None:
        """Ensure the streams, start publishing, the status ticker, HTTP and the connection loop."""
        with contextlib.suppress(Exception):
            await ensure_streams(self.nc.jetstream())
        self.sink.start()
        await self.resync.start()
        if self.http is not None:
            await self.http.start()
        self._tasks = [asyncio.create_task(self.connection.run(), name="feed-connection"),
                       asyncio.create_task(self._tick(), name="feed-status")]

    async def stop(self, drain_s: float = 5.0) -> None:
        """Close the venue connection, publish what is queued (up to ``drain_s``), stop."""
        await self.resync.stop()
        await self.connection.stop()
        for task in self._tasks:
            if task.get_name() == "feed-connection":
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, 3.0)
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if not await self.sink.flush(drain_s):
            log.error("feed stopping with %d events unpublished", self.sink.depth)
        await self.sink.stop()
        if self.http is not None:
            await self.http.stop()

    async def _tick(self) -> None:
        """Every ``status_interval_s``: FeedStatus on core NATS, gauges, pending reconcile retry."""
        interval = self.settings.status_interval_s
        m, sink = self.metrics, self.sink
        while True:
            await asyncio.sleep(interval)
            nats_ok = bool(self.nc.is_connected)
            m.nats_connected.set(1 if nats_ok else 0)
            m.queue_depth.labels("account").set(len(sink.account_lane))
            m.queue_depth.labels("market").set(len(sink.market_lane))
            if not nats_ok:
                continue
            status = self.connection.status.snapshot(time.monotonic(), time.time_ns())
            try:
                await self.nc.publish(subjects.FEED_STATUS, encode_event(status))
            except Exception as exc:  # NATS went away between the check and the publish
                log.debug("status heartbeat not sent: %r", exc)
            if self.connection.reconcile_pending:
                await self.connection.request_reconcile("feed_reconnect")
