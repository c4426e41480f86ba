"""The reconciler's async shell: request intake, the run loops, the periodic timers, shutdown.

Requests come from four places: start-up, the full timer (``interval_s`` after the last full
snapshot started), the fast timer (``fast_interval_s`` after the last fast check: open orders,
positions, account, balances) and core NATS on ``subjects.RECONCILE_REQUEST`` (answered with a
:class:`ReconcileAck` when the request has a reply subject). All go through the pure
:class:`Lanes`: full snapshots in the ``full`` lane; lookups, targeted snapshots (the state's
missed-push repairs) and the fast check in the ``fast`` lane. One loop per lane takes its plans
one at a time, so a lane's runs never overlap and a burst becomes one run (plus at most one
follow-up for what arrived during it), while a repair never waits behind a long full run. Both
lanes take their venue reads from ONE token bucket (``rate_per_s``/``rate_burst``), the budget
under the venue's private-GET limit (README "Reconciler request budget").
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
from services.reconciler.plan import (
    ALL_PARTS,
    FAST,
    FAST_LANE,
    FAST_PARTS,
    FULL_LANE,
    PERIODIC,
    STARTUP,
    Lanes,
    RunPlan,
    SinceCursor,
)
from services.reconciler.ratelimit import TokenBucket
from services.reconciler.run import Runner, RunReport
from services.reconciler.settings import Settings
from shared.bus import EventPublisher, subjects
from shared.bus.events import Event
from shared.bus.gate import RecordGate
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


def _loop_done(task: asyncio.Task[None]) -> None:
    """A lane loop ended: loud when it died (``/healthz`` turns false too)."""
    if not task.cancelled() and task.exception() is not None:
        log.error("reconciler %s died: %r", task.get_name(), task.exception())


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
        self.lanes = Lanes(max_lookups=settings.max_lookups)
        self.cursor = SinceCursor(lookback_ms=int(settings.history_lookback_s * 1000),
                                  overlap_ms=int(settings.history_overlap_s * 1000))
        self.metrics = ReconcilerMetrics()
        limiter = self.limiter = Limiter(
            TokenBucket(settings.rate_per_s, settings.rate_burst, time.monotonic()),
            on_acquire=lambda purpose: self.metrics.venue_requests.labels(purpose).inc())
        self.gate = RecordGate("reconciler", settings.account_token, nc, registry=self.metrics.registry)
        self.fetcher = PartFetcher(rest, limiter, page_size=settings.page_size, max_pages=settings.max_pages,
                                   gate=self.gate)
        self.runner = Runner(self.fetcher, Lookups(rest, limiter, timeout_s=settings.part_timeout_s,
                                                   gate=self.gate),
                             self._publish, venue_now_ms=self.venue_now_ms,
                             part_timeout_s=settings.part_timeout_s)
        self.http = HttpServer(settings.http_host, settings.http_port, self.health, self.metrics.registry,
                               name="reconciler")
        self.markets = MarketsPublisher(rest, self._publish, venue_now_ms=self.venue_now_ms,
                                        interval_s=settings.markets_interval_s,
                                        timeout_s=settings.request_timeout_s)
        self.clock_offset_ms = 0
        self._clock_synced = -1e9
        self.reports: list[RunReport] = []
        self.failures = 0
        self._wake = {FULL_LANE: asyncio.Event(), FAST_LANE: asyncio.Event()}
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._sub: Any = None
        self._taken = 0

    # ------------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Serve HTTP, subscribe to requests, queue the start-up run, start the loop."""
        await self.http.start()
        self._sub = await self.nc.subscribe(subjects.RECONCILE_REQUEST, cb=self._on_request)
        await self._sync_clock(force=True)
        await self.markets.start(self.nc)
        if self.settings.run_at_startup:
            self.submit(STARTUP)
        s = self.settings
        self._tasks = [
            asyncio.create_task(self._loop(FULL_LANE, s.interval_s, PERIODIC, ()), name="reconciler-full"),
            asyncio.create_task(self._loop(FAST_LANE, s.fast_interval_s, FAST, FAST_PARTS),
                                name="reconciler-fast")]
        for task in self._tasks:
            task.add_done_callback(_loop_done)

    async def stop(self) -> None:
        """Stop taking requests; let the current run finish within ``shutdown_grace_s``, else
        abandon it (its snapshot is closed as incomplete)."""
        self._stopping = True
        for wake in self._wake.values():
            wake.set()
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=self.settings.shutdown_grace_s)
            if pending:
                log.warning("abandoning %d current run(s) on shutdown", len(pending))
                for task in pending:
                    task.cancel()
                for task in pending:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            self._tasks = []
        await self.markets.stop()
        await self.http.stop()

    # ------------------------------------------------------------------------------- requests

    def submit(self, reason: str, order_ids: tuple[str, ...] = (), client_ids: tuple[str, ...] = (),
               parts: tuple[str, ...] = (), since_ms: int = 0) -> None:
        """Queue a request (folded with whatever is pending in its lane) and wake that lane."""
        before = self.lanes.coalesced
        lane = self.lanes.request(reason, order_ids, client_ids, parts, since_ms)
        self.metrics.requests.labels(reason or "unspecified").inc()
        self.metrics.coalesced.inc(self.lanes.coalesced - before)
        self._wake[lane].set()

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
                self.submit(req.reason, req.order_ids, req.client_ids, req.parts, req.since_ms)
                ack = ReconcileAck(accepted=True, pending=self.lanes.received - self.runs_taken,
                                   running=self.lanes.running)
        if msg.reply:
            with contextlib.suppress(Exception):
                await msg.respond(_ACK.encode(ack))

    @property
    def runs_taken(self) -> int:
        """Requests already taken into runs (for the ack's ``pending``)."""
        return self._taken

    # ------------------------------------------------------------------------------- the loop

    async def _loop(self, lane: str, period_s: float, periodic: str,
                    periodic_parts: tuple[str, ...]) -> None:
        """One lane: take its plans one at a time; submit ``periodic`` every ``period_s`` after
        the last run that covered it (0: never)."""
        planner, wake = self.lanes[lane], self._wake[lane]
        cover = set(periodic_parts)
        next_periodic = time.monotonic() + period_s
        while not self._stopping:
            if not planner.has_pending:
                timeout = max(0.0, next_periodic - time.monotonic()) if period_s > 0 else None
                try:
                    await asyncio.wait_for(wake.wait(), timeout)
                except TimeoutError:
                    if not self._stopping:
                        self.submit(periodic, parts=periodic_parts)
                if self._stopping:
                    break
                await asyncio.sleep(self.settings.coalesce_s)
            wake.clear()
            plan = planner.take()
            if plan is None:
                continue
            if plan.snapshot and (cover <= set(plan.parts) if cover else plan.parts == ALL_PARTS):
                next_periodic = time.monotonic() + period_s
            try:
                await self._execute(plan)
            finally:
                planner.finish()

    async def _execute(self, plan: RunPlan) -> None:
        self._taken += plan.requests
        self.metrics.running.inc()
        log.info("run: reasons=%s parts=%s since=%s lookups=%d", plan.reason, ",".join(plan.parts),
                 plan.since_ms or "cursor", len(plan.order_ids) + len(plan.client_ids))
        now = self.venue_now_ms()
        since = self.cursor.since_ms(now)
        if plan.since_ms:  # a targeted run: from where its requester needs (within the lookback)
            since = max(plan.since_ms, now - int(self.settings.history_lookback_s * 1000))
        try:
            report = await self.runner.run(plan, since)
        except asyncio.CancelledError:
            self.metrics.runs.labels("abandoned").inc()
            raise
        except Exception:
            self.failures += 1
            self.metrics.runs.labels("failed").inc()
            log.exception("run failed (reasons=%s)", plan.reason)
        else:
            if (report.snapshot_id and not plan.since_ms
                    and report.parts_complete("order_history", "fills")):
                self.cursor.succeeded(report.started_venue_ms)
            outcome = self.metrics.observe(report, time.time())
            self.reports = [*self.reports[-99:], report]
            log.info("run %s %s: %d records, %d ms, errors=%s", report.snapshot_id or "-", outcome,
                     report.records, report.duration_ms, list(report.errors))
        finally:
            self.metrics.running.dec()
        await self._sync_clock()

    # ------------------------------------------------------------------------------- helpers

    async def _publish(self, event: Event) -> int:
        return await self.publisher.publish(event)

    def venue_now_ms(self) -> int:
        """The venue's clock as we estimate it (wall clock + offset from ``/system/time``)."""
        return int(time.time() * 1000) + self.clock_offset_ms

    async def _sync_clock(self, force: bool = False) -> None:
        """Learn the venue clock offset from ``GET /system/time`` (kept as is on failure), at
        most once per ``clock_sync_s``."""
        if not force and time.monotonic() - self._clock_synced < self.settings.clock_sync_s:
            return
        self._clock_synced = time.monotonic()
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
        loop_alive = bool(self._tasks) and not any(t.done() for t in self._tasks)
        ok = bool(getattr(self.nc, "is_connected", False)) and loop_alive
        return ok, {
            "running": self.lanes.running, "pending": self.lanes.has_pending,
            "lanes": {name: {"running": p.running is not None, "pending": p.has_pending}
                      for name, p in self.lanes.lanes.items()},
            "venue_requests": dict(sorted(self.limiter.counts.items())),
            "runs": len(self.reports), "failures": self.failures, "clock_offset_ms": self.clock_offset_ms,
            "last_run": None if last is None else {
                "snapshot_id": last.snapshot_id, "complete": last.complete, "records": last.records,
                "duration_ms": last.duration_ms, "errors": list(last.errors),
                "reasons": list(last.plan.reasons)},
        }
