"""The feed service: protocol core + connection loop + bus sink + status ticker + book resync
requests + HTTP, every long-running task under one :class:`~services.feed.supervise.Supervisor`.

:class:`FeedService` owns nothing it did not build except the NATS connection and the JWT source,
which the caller (``__main__``/tests) passes in and closes. :attr:`FeedService.failed` is set when
a task gave up: ``__main__`` then exits non-zero.

``/healthz`` is 200 only when the venue connection is authenticated, NATS takes account events,
every task runs and market data is being published (``market_data_stale_s``); its body reports
each task, the age of the last message published per kind, the refusals by reason and the last
session failure with what to fix.
"""

from __future__ import annotations

import asyncio
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
from services.feed.supervise import Supervisor
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
        self.protocol = FeedProtocol(settings.paradex_markets, account=settings.account_token,
                                     book_feed=settings.book_channel, summary=settings.subscribe_summary,
                                     future_ms=int(settings.venue_clock_skew_s * 1000),
                                     dlq_per_s=settings.dlq_rate_per_s)
        p = self.protocol
        self.metrics.attach(lambda: (p.frames, p.counters, p.rejects))
        self.sink = BusSink(nc, settings.account_token, self.metrics, market_mode=settings.market_data_mode,
                            account_max=settings.account_buffer_max, market_max=settings.market_queue_max,
                            dead_max=settings.dlq_queue_max, publish_timeout_s=settings.publish_timeout_s,
                            trace=settings.trace, account_inflight=settings.account_inflight)
        policy = BackoffPolicy(initial_s=settings.backoff_initial_s, max_s=settings.backoff_max_s,
                               stable_after_s=settings.backoff_stable_s)
        self.connection = FeedConnection(
            ws_url(settings.paradex_ws_url, settings.sbe_schema_version), self.protocol, self.sink, jwt, nc,
            self.metrics, Backoff(policy, rng), silence_timeout_s=settings.silence_timeout_s,
            connect_timeout_s=settings.connect_timeout_s, reply_timeout_s=settings.reply_timeout_s,
            max_size=settings.ws_max_size, max_queue=settings.ws_max_queue,
            fatal_retry_s=settings.fatal_retry_s)
        self.resync = ResyncHandler(nc, self.connection, self.metrics,
                                    min_interval_s=settings.book_resync_min_interval_s,
                                    on_failure=lambda: self.metrics.task_restarts.labels("resync").inc())
        self.supervisor = Supervisor(max_restarts=settings.task_restart_max,
                                     window_s=settings.task_restart_window_s,
                                     on_failure=lambda name: self.metrics.task_restarts.labels(name).inc())
        self.http = (HttpServer(settings.http_host, settings.http_port, self.health, self.metrics.registry,
                                name="feed") if http else None)

    @property
    def status(self) -> StatusTracker:
        """The connection's :class:`~services.feed.core.status.StatusTracker`."""
        return self.connection.status

    @property
    def failed(self) -> asyncio.Event:
        """Set when a supervised task gave up (the process should exit non-zero)."""
        return self.supervisor.failed

    def market_data_stalled(self, now: float) -> bool:
        """Connected for ``market_data_stale_s`` and no market data published for as long."""
        limit = self.settings.market_data_stale_s
        st = self.connection.status
        if not limit or not st.connected or st.connected_since is None or now - st.connected_since < limit:
            return False
        last = self.sink.last_market_publish
        return last is None or now - max(last, st.connected_since) >= limit

    def health(self) -> tuple[bool, dict[str, Any]]:
        """``(ok, details)``: see the module docstring."""
        st = self.connection.status
        sink = self.sink
        now = time.monotonic()
        nats_ok = bool(self.nc.is_connected)
        stalled = self.market_data_stalled(now)
        tasks_ok = self.supervisor.healthy and self.resync.subscribed
        ok = st.connected and sink.healthy and tasks_ok and not stalled
        failure = self.connection.failure
        retry_at = self.connection.retry_at
        return ok, {
            "state": st.state, "epoch": st.epoch, "reason": st.reason,
            "last_frame_age_ms": st.frame_age_ms(now),
            "nats_connected": nats_ok, "account_publish_error": sink.last_account_error,
            "tasks": {**self.supervisor.report(),
                      "resync": {"state": "running" if self.resync.subscribed else "dead",
                                 "restarts": 0, "last_error": self.resync.last_error}},
            "market_data_stalled": stalled,
            "last_published_age_ms": sink.published_ages_ms(now),
            "queue": {"account": len(sink.account_lane), "market": len(sink.market_lane),
                      "dlq": len(sink.dead_lane)},
            "account_events_lost": sink.account_lost, "market_events_dropped": sink.market_dropped,
            "rejected": dict(self.protocol.rejects.counts), "filtered": dict(self.protocol.rejects.filtered),
            "dead_letters": {"published": sink.dead_published, "dropped": sink.dead_dropped,
                             "rate_limited": self.protocol.rejects.limited},
            "failure": None if failure is None else {
                "kind": failure.kind, "reason": failure.reason, "fix": failure.hint,
                "retry_in_s": None if retry_at is None else round(max(0.0, retry_at - now), 3)},
            "reconcile_requests": self.connection.reconcile_requests,
            "books_valid": {m: b.valid for m, b in self.protocol.books.books.items()},
        }

    async def start(self) -> None:
        """Ensure the streams, start publishing, the status ticker, HTTP and the connection loop."""
        try:
            await ensure_streams(self.nc.jetstream())
        except Exception as exc:  # the state or an operator may create them; publishing still works
            log.warning("could not ensure the JetStream streams: %r", exc)
        self.sink.start(self.supervisor)
        await self.resync.start()
        if self.http is not None:
            await self.http.start()
        self.supervisor.spawn("connection", self.connection.run)
        self.supervisor.spawn("status", self._tick)

    async def stop(self, drain_s: float = 5.0) -> None:
        """Close the venue connection, publish what is queued (up to ``drain_s``), stop."""
        await self.resync.stop()
        await self.connection.stop()
        if not await self.supervisor.wait("connection", 3.0):
            log.warning("the connection loop did not end within 3 s; cancelling it")
        await self.supervisor.stop("connection", "status")
        if not await self.sink.flush(drain_s):
            log.error("feed stopping with %d events unpublished", self.sink.depth)
        await self.sink.stop()
        if self.http is not None:
            await self.http.stop()

    async def _tick(self) -> None:
        """Every ``status_interval_s``: FeedStatus on core NATS, gauges, the refusal log's summary,
        pending reconcile retry."""
        interval = self.settings.status_interval_s
        m, sink = self.metrics, self.sink
        throttle = self.protocol.rejects.log
        while True:
            await asyncio.sleep(interval)
            throttle.flush(time.time())
            nats_ok = bool(self.nc.is_connected)
            m.nats_connected.set(1 if nats_ok else 0)
            m.queue_depth.labels("account").set(len(sink.account_lane))
            m.queue_depth.labels("market").set(len(sink.market_lane))
            m.queue_depth.labels("dlq").set(len(sink.dead_lane))
            if not nats_ok:
                continue
            status = self.connection.status.snapshot(time.monotonic(), time.time_ns())
            try:
                await self.nc.publish(subjects.FEED_STATUS, encode_event(status))
            except Exception as exc:  # NATS went away between the check and the publish
                log.debug("status heartbeat not sent: %r", exc)
            if self.connection.reconcile_pending:
                await self.connection.request_reconcile("feed_reconnect")

