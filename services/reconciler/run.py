"""One reconciliation run: the snapshot (marker → records → parts → report) and the lookups.

Order on the ACCOUNT stream, which is what the state service's rule 4 relies on:

1. ``SnapshotStarted`` before any REST request of the run (the snapshot is effective as of it);
2. every record fetched, as its snapshot event (``source="rest"``, ``snapshot_id``, the entity's
   venue time, ``recv_ns`` of the response that carried it), pages published as they arrive;
3. one ``SnapshotPart`` per part: ``complete`` only if every page of it arrived without error,
   else ``complete=False`` with the error text (records of the pages that did arrive still count);
4. ``SnapshotFinished``: complete only if every part is, with duration, records and errors;
5. a ``LookupResult`` per order id / client id asked for (see :mod:`services.reconciler.lookup`).

A bus failure (``BusError``) ends the run at once: an unpublished record cannot be reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from services.reconciler.fetch import PURPOSE, PartFetcher
from services.reconciler.lookup import Lookups
from services.reconciler.plan import ALL_PARTS, FAST, RunPlan
from shared.bus.events import (
    AccountEvent,
    AlgoEvent,
    BalanceRecord,
    Event,
    FillEvent,
    LookupResult,
    OrderEvent,
    PositionEvent,
    SnapshotFinished,
    SnapshotPart,
    SnapshotPartName,
    SnapshotStarted,
)
from shared.errors import BusError
from shared.paradex.models.account import Account, Balance, Fill, Order, Position
from shared.paradex.models.algo import AlgoOrder

log = logging.getLogger("reconciler.run")

Publish = Callable[[Event], Awaitable[int]]
ALGO_OVERLAP_MS = 60_000
"""How far before the previous algo read the next one reads the algo history (clock skew, an
algo created just before that read)."""
MAX_CLOSED_ALGOS = 10_000


@dataclass(slots=True)
class PartOutcome:
    """What one part fetched: ``count`` records; ``error`` is empty only when complete."""

    part: SnapshotPartName
    complete: bool = False
    count: int = 0
    error: str = ""


@dataclass(slots=True)
class RunReport:
    """The outcome of one run (also published as ``SnapshotFinished`` when there was a snapshot)."""

    plan: RunPlan
    snapshot_id: str = ""
    started_venue_ms: int = 0
    since_ms: int = 0
    complete: bool = True
    duration_ms: int = 0
    parts: dict[str, PartOutcome] = field(default_factory=dict)
    lookups: list[LookupResult] = field(default_factory=list)

    @property
    def records(self) -> int:
        """Records published by the snapshot."""
        return sum(p.count for p in self.parts.values())

    @property
    def errors(self) -> tuple[str, ...]:
        """One text per failed part."""
        return tuple(f"{p.part}: {p.error}" for p in self.parts.values() if not p.complete)

    def parts_complete(self, *names: str) -> bool:
        """True when each named part was fetched completely in this run."""
        return all(n in self.parts and self.parts[n].complete for n in names)


def record_event(record: Any, snapshot_id: str, recv_ns: int) -> Event:
    """The snapshot event of one REST record, stamped with the entity's own venue time."""
    if isinstance(record, Order):
        return OrderEvent(source="rest", snapshot_id=snapshot_id, venue_ts_ms=record.last_updated_at,
                          recv_ns=recv_ns, order=record)
    if isinstance(record, Fill):
        return FillEvent(source="rest", snapshot_id=snapshot_id, venue_ts_ms=record.created_at,
                         recv_ns=recv_ns, fill=record)
    if isinstance(record, Position):
        ts = record.last_updated_at or record.created_at or 0
        return PositionEvent(source="rest", snapshot_id=snapshot_id, venue_ts_ms=ts, recv_ns=recv_ns,
                             position=record)
    if isinstance(record, Account):
        return AccountEvent(source="rest", snapshot_id=snapshot_id, venue_ts_ms=record.updated_at,
                            recv_ns=recv_ns, summary=record)
    if isinstance(record, AlgoOrder):
        return AlgoEvent(source="rest", snapshot_id=snapshot_id,
                         venue_ts_ms=record.last_updated_at or record.created_at, recv_ns=recv_ns,
                         algo=record)
    if isinstance(record, Balance):
        return BalanceRecord(source="rest", snapshot_id=snapshot_id, venue_ts_ms=record.last_updated_at or 0,
                             recv_ns=recv_ns, balance=record)
    raise TypeError(f"not a snapshot record: {type(record).__name__}")


def purpose_of(plan: RunPlan) -> str:
    """The budget line of a plan's snapshot: full | fast_check | targeted."""
    if plan.parts == ALL_PARTS:
        return "full"
    return "fast_check" if set(plan.reasons) == {FAST} else "targeted"


def describe(exc: BaseException) -> str:
    """A short error text for a part or lookup (the typed error's message, or its class)."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Runner:
    """Executes run plans: fetches with ``fetcher``, publishes with ``publish``.

    ``venue_now_ms`` estimates the venue's clock (wall clock plus the offset learnt from
    ``/system/time``); ``part_timeout_s`` bounds each part, retries included.
    """

    def __init__(self, fetcher: PartFetcher, lookups: Lookups, publish: Publish, *,
                 venue_now_ms: Callable[[], int], part_timeout_s: float = 60.0,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.fetcher = fetcher
        self.lookups = lookups
        self.publish = publish
        self.venue_now_ms = venue_now_ms
        self.part_timeout_s = part_timeout_s
        self._clock_ns = clock_ns
        #: algo id -> created_at of the algos the last algo read saw NEW/OPEN
        self.open_algos: dict[str, int] = {}
        self.last_algo_read_ms = 0
        #: closed algo id -> its last_updated_at, as published (not published again by fast checks)
        self.closed_algos: dict[str, int] = {}
        self.algo_errors = 0

    async def run(self, plan: RunPlan, since_ms: int) -> RunReport:
        """Carry out ``plan`` (snapshot first, then lookups) and report."""
        t0 = time.monotonic()
        report = RunReport(plan=plan, since_ms=since_ms)
        open_orders: list[Order] = []
        if plan.snapshot:
            PURPOSE.set(purpose_of(plan))
            await self._snapshot(plan, report, open_orders)
        if plan.order_ids or plan.client_ids:
            PURPOSE.set("lookup")
            report.lookups = await self.lookups.resolve(plan.order_ids, plan.client_ids, open_orders,
                                                        self.publish)
        report.duration_ms = int((time.monotonic() - t0) * 1000)
        return report

    async def _snapshot(self, plan: RunPlan, report: RunReport, open_orders: list[Order]) -> None:
        t0 = time.monotonic()
        sid = report.snapshot_id = uuid.uuid4().hex
        report.started_venue_ms = self.venue_now_ms()
        await self.publish(SnapshotStarted(
            source="rest", snapshot_id=sid, reason=plan.reason, parts=plan.parts, since_ms=report.since_ms,
            venue_ts_ms=report.started_venue_ms, recv_ns=self._clock_ns()))
        try:
            await self._parts(plan, report, open_orders, sid, t0)
        except asyncio.CancelledError:
            report.complete = False
            # Shutdown mid-run: close the snapshot so the state never waits on it (best effort).
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.publish(SnapshotFinished(
                    source="rest", snapshot_id=sid, complete=False,
                    duration_ms=int((time.monotonic() - t0) * 1000), records=report.records,
                    errors=(*report.errors, "abandoned: shutdown"), recv_ns=self._clock_ns())), 2.0)
            raise

    async def _algos(self, sid: str, history_since_ms: int | None) -> None:
        """With every snapshot that reads open orders: the open algo orders (``GET /algo/orders``)
        and one page of ``GET /algo/orders-history`` from the earliest of: the ``created_at`` of
        those seen open before that are not any more, the previous algo read minus
        ``ALGO_OVERLAP_MS`` (an algo placed and finished between two reads), and, with the order
        history, ``history_since_ms`` (algos that ended while no reconciler watched). The AsyncAPI
        has no algo channel: this is how the state learns an algo's progress and its end
        (unchanged records are dropped by the state). Not a snapshot part: a failure is logged
        and counted (``algo_errors``), absence is never judged from it."""
        started_ms = self.venue_now_ms()
        try:
            async with asyncio.timeout(self.part_timeout_s):
                records, recv_ns = await self.fetcher.open_algos()
                for algo in records:
                    await self.publish(record_event(algo, sid, recv_ns))
                now_open = {a.id: a.created_at for a in records}
                starts = [v for k, v in self.open_algos.items() if k not in now_open]
                if self.last_algo_read_ms:
                    starts.append(self.last_algo_read_ms - ALGO_OVERLAP_MS)
                if history_since_ms is not None:
                    starts.append(history_since_ms)
                if starts:
                    history, recv_ns = await self.fetcher.algo_history(max(0, min(starts)))
                    closed = self.closed_algos
                    for algo in history:
                        if algo.id in now_open:
                            continue
                        if history_since_ms is None and closed.get(algo.id) == algo.last_updated_at:
                            continue  # published already ("no changes once CLOSED")
                        await self.publish(record_event(algo, sid, recv_ns))
                        if algo.status == "CLOSED":
                            closed[algo.id] = algo.last_updated_at
                    if len(closed) > MAX_CLOSED_ALGOS:
                        for key in list(closed)[: len(closed) - MAX_CLOSED_ALGOS]:
                            del closed[key]
                self.open_algos = now_open
                self.last_algo_read_ms = started_ms
        except BusError:
            raise
        except Exception as exc:  # the algo read is best effort; the next snapshot retries it
            self.algo_errors += 1
            log.warning("snapshot %s: algo orders not read: %s", sid, describe(exc))

    async def _parts(self, plan: RunPlan, report: RunReport, open_orders: list[Order], sid: str,
                     t0: float) -> None:
        for part in plan.parts:
            outcome = report.parts[part] = PartOutcome(part)
            try:
                async with asyncio.timeout(self.part_timeout_s):
                    async for records, recv_ns in self.fetcher.part(part, report.since_ms):
                        for record in records:
                            await self.publish(record_event(record, sid, recv_ns))
                        outcome.count += len(records)
                        if part == "open_orders":
                            open_orders.extend(r for r in records if isinstance(r, Order))
                outcome.complete = True
            except BusError:
                raise
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # typed REST errors, page limits, timeouts, bad payloads
                outcome.error = describe(exc)
                log.warning("snapshot %s part %s incomplete after %d records: %s", sid, part,
                            outcome.count, outcome.error)
        if "open_orders" in plan.parts:
            await self._algos(sid, report.since_ms if "order_history" in plan.parts else None)
        for outcome in report.parts.values():
            await self.publish(SnapshotPart(source="rest", snapshot_id=sid, part=outcome.part,
                                            complete=outcome.complete, count=outcome.count,
                                            error=outcome.error, recv_ns=self._clock_ns()))
        report.complete = all(p.complete for p in report.parts.values())
        await self.publish(SnapshotFinished(
            source="rest", snapshot_id=sid, complete=report.complete,
            duration_ms=int((time.monotonic() - t0) * 1000), records=report.records,
            errors=report.errors, recv_ns=self._clock_ns()))
