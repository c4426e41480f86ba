"""The reconciler's async shell: request intake, the run loop, the periodic timer, shutdown.

Requests come from three places: start-up, a timer (``interval_s`` after the last snapshot
started) and core NATS on ``subjects.RECONCILE_REQUEST`` (answered with a :class:`ReconcileAck`
when the request has a reply subject). All go through the pure :class:`Planner`; one loop takes
its plans one at a time, so runs never overlap and a burst becomes one run (plus at most one
follow-up for what arrived during it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import msgspec

from services.reconciler.fetch import Limiter, PartFetcher
from services.reconciler.lookup import Lookups
from services.reconciler.markets import MarketsPublisher
from services.reconciler.metrics import ReconcilerMetrics
from services.reconciler.plan import PERIODIC, STARTUP, Planner, RunPlan, SinceCursor
from services.reconciler.ratelimit import TokenBucket
from services.reconciler.run import Runner, RunReport
from services.reconciler.settings import Settings
from shared.bus import EventPublisher, subjects
from shared.bus.events import Event
from shared.bus.requests import decode_request
from shared.opshttp import HttpServer
from shared.paradex.rest import ParadexRest

log = logging.getLogger("reconciler")


class ReconcileAck(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Reply to a reconcile request: accepted (queued) or not, with the queue's state."""

    accepted: bool
    pending: int = 0
    running: bool = False
    error: str = ""


_ACK = msgspec.json.Encoder()


class ReconcilerService:
    """Runs snapshots and lookups on request; see the module docstring. ``publisher`` defaults to
    an :class:`EventPublisher` on ``nc``'s JetStream for ``settings.account_token``."""

    def __init__(self, settings: Settings, nc: Any, rest: ParadexRest, *,
                 publisher: EventPublisher | None = None) -> None:
        self.settings = settings
        self.nc = nc
        self.rest = rest
        self.publisher = publisher or EventPublisher(nc.jetstream(), settings.account_token,
                                                     timeout_s=settings.publish_timeout_s)
        self.planner = Planner(max_lookups=settings.max_lookups)
        self.cursor = SinceCursor(lookback_ms=int(settings.history_lookback_s * 1000),
                                  overlap_ms=int(settings.history_overlap_s * 1000))
        self.metrics = ReconcilerMetrics()
        limiter = Limiter(TokenBucket(settings.rate_per_s, settings.rate_burst, time.monotonic()))
        self.fetcher = PartFetcher(rest, limiter, page_size=settings.page_size, max_pages=settings.max_pages)
        self.runner = Runner(self.fetcher, Lookups(rest, limiter, timeout_s=settings.part_timeout_s),
                             self._publish, venue_now_ms=self.venue_now_ms,
                             part_timeout_s=settings.part_timeout_s)
        self.http = HttpServer(settings.http_host, settings.http_port, self.health, self.metrics.registry,
                               name="reconciler")
        self.markets = MarketsPublisher(rest, self._publish, venue_now_ms=self.venue_now_ms,
                                        interval_s=settings.markets_interval_s,
                                        timeout_s=settings.request_timeout_s)
        self.clock_offset_ms = 0
        self.reports: list[RunReport] = []
        self.failures = 0
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._sub: Any = None
        self._taken = 0

    # ------------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Serve HTTP, subscribe to requests, queue the start-up run, start the loop."""
        await self.http.start()
        self._sub = await self.nc.subscribe(subjects.RECONCILE_REQUEST, cb=self._on_request)
        await self._sync_clock()
        await self.markets.start(self.nc)
        if self.settings.run_at_startup:
            self.submit(STARTUP)
        self._task = asyncio.create_task(self._loop(), name="reconciler-loop")

    async def stop(self) -> None:
        """Stop taking requests; let the current run finish within ``shutdown_grace_s``, else
        abandon it (its snapshot is closed as incomplete)."""
        self._stopping = True
        self._wake.set()
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None
        if self._task is not None:
            done, _ = await asyncio.wait({self._task}, timeout=self.settings.shutdown_grace_s)
            if not done:
                log.warning("abandoning the current run on shutdown")
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        await self.markets.stop()
        await self.http.stop()

    # ------------------------------------------------------------------------------- requests

    def submit(self, reason: str, order_ids: tuple[str, ...] = (), client_ids: tuple[str, ...] = ()) -> None:
        """Queue a request (folded with whatever is pending) and wake the loop."""
        before = self.planner.coalesced
        self.planner.request(reason, order_ids, client_ids)
        self.metrics.requests.labels(reason or "unspecified").inc()
        self.metrics.coalesced.inc(self.planner.coalesced - before)
        self._wake.set()

    async def _on_request(self, msg: Any) -> None:
        try:
            req = decode_request(msg.data)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            self.metrics.bad_requests.inc()
            ack = ReconcileAck(accepted=False, error=str(exc))
        else:
            if self._stopping:
                ack = ReconcileAck(accepted=False, error="shutting down")
            else:
                self.submit(req.reason, req.order_ids, req.client_ids)
                ack = ReconcileAck(accepted=True, pending=self.planner.received - self.runs_taken,
                                   running=self.planner.running is not None)
        if msg.reply:
            with contextlib.suppress(Exception):
                await msg.respond(_ACK.encode(ack))

    @property
    def runs_taken(self) -> int:
        """Requests already taken into runs (for the ack's ``pending``)."""
        return self._taken

    # ------------------------------------------------------------------------------- the loop

    async def _loop(self) -> None:
        interval = self.settings.interval_s
        next_periodic = time.monotonic() + interval
        while not self._stopping:
            if not self.planner.has_pending:
                try:
                    await asyncio.wait_for(self._wake.wait(), max(0.0, next_periodic - time.monotonic()))
                except TimeoutError:
                    if not self._stopping:
                        self.submit(PERIODIC)
                if self._stopping:
                    break
                await asyncio.sleep(self.settings.coalesce_s)
            self._wake.clear()
            plan = self.planner.take()
            if plan is None:
                continue
            if plan.snapshot:
                next_periodic = time.monotonic() + interval
            await self._execute(plan)

    async def _execute(self, plan: RunPlan) -> None:
        self._taken += plan.requests
        self.metrics.running.set(1)
        log.info("run: reasons=%s snapshot=%s lookups=%d", plan.reason, plan.snapshot,
                 len(plan.order_ids) + len(plan.client_ids))
        try:
            report = await self.runner.run(plan, self.cursor.since_ms(self.venue_now_ms()))
        except asyncio.CancelledError:
            self.metrics.runs.labels("abandoned").inc()
            raise
        except Exception:
            self.failures += 1
            self.metrics.runs.labels("failed").inc()
            log.exception("run failed (reasons=%s)", plan.reason)
        else:
            if report.snapshot_id and report.parts_complete("order_history", "fills"):
                self.cursor.succeeded(report.started_venue_ms)
            outcome = self.metrics.observe(report, time.time())
            self.reports = [*self.reports[-99:], report]
            log.info("run %s %s: %d records, %d ms, errors=%s", report.snapshot_id or "-", outcome,
                     report.records, report.duration_ms, list(report.errors))
        finally:
            self.planner.finish()
            self.metrics.running.set(0)
        await self._sync_clock()

    # ------------------------------------------------------------------------------- helpers

    async def _publish(self, event: Event) -> int:
        return await self.publisher.publish(event)

    def venue_now_ms(self) -> int:
        """The venue's clock as we estimate it (wall clock + offset from ``/system/time``)."""
        return int(time.time() * 1000) + self.clock_offset_ms

    async def _sync_clock(self) -> None:
        """Learn the venue clock offset from ``GET /system/time`` (kept as is on failure)."""
        try:
            t0 = time.time()
            st = await asyncio.wait_for(self.rest.system_time(), self.settings.request_timeout_s)
            t1 = time.time()
            self.clock_offset_ms = st.server_time_ms - int((t0 + t1) * 500)
        except Exception as exc:  # the wall clock alone still works
            log.debug("venue clock sync failed: %s", exc)

    def health(self) -> tuple[bool, dict[str, Any]]:
        """``/healthz``: NATS connected and the loop alive; details of the last run."""
        last = self.reports[-1] if self.reports else None
        loop_alive = self._task is not None and not self._task.done()
        ok = bool(getattr(self.nc, "is_connected", False)) and loop_alive
        return ok, {
            "running": self.planner.running is not None, "pending": self.planner.has_pending,
            "runs": len(self.reports), "failures": self.failures, "clock_offset_ms": self.clock_offset_ms,
            "last_run": None if last is None else {
                "snapshot_id": last.snapshot_id, "complete": last.complete, "records": last.records,
                "duration_ms": last.duration_ms, "errors": list(last.errors),
                "reasons": list(last.plan.reasons)},
        }
