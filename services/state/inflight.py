"""The state's timers around the pure core: the in-flight check and the missed-push repairs.

The core never reads a clock; these shells do, and only to *ask*: their requests go to the
reconciler, whose answers come back as events the core folds. Nothing here changes the state.

In-flight check (issue 12 item 3): an order whose displayed status waits for the venue
(PENDING_NEW, UNKNOWN, PENDING_CANCEL, PENDING_MODIFY: the core's ``orders.inflight`` index, with
the ``recv_ns`` since which it waits) longer than ``threshold`` is looked up (by exchange id, else
client id), again after ``backoff``, 2x``backoff``, ... (:func:`attempt_due_ns`), at most
``max_attempts`` times; an order still waiting ``backoff`` after the last lookup is reported
unresolved (metric ``state_inflight_unresolved`` and the health body) until it leaves the state
it was stuck in. The repairs (:mod:`services.state.repairs`) follow the same pattern.

Both run in one supervised loop (:func:`run_checks`) every ``interval``; a check that raises is
logged and the loop goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from services.state.core import StateCore
from shared.bus.requests import ReconcileRequest

log = logging.getLogger("state.inflight")


def attempt_due_ns(since_ns: int, attempts: int, threshold_ns: int, backoff_ns: int) -> int:
    """When attempt number ``attempts`` (0-based) is due: the threshold, then doubling backoffs
    (threshold, +b, +2b, +4b, ...)."""
    if attempts <= 0:
        return since_ns + threshold_ns
    return since_ns + threshold_ns + backoff_ns * ((1 << attempts) - 1)


class Sender(Protocol):
    async def send(self, req: ReconcileRequest, *, force: bool = False) -> bool: ...


class Unresolved(msgspec.Struct, frozen=True, kw_only=True):
    """An order (or a suspected missed push) the venue's answers did not settle."""

    key: str
    status: str
    since_ns: int
    attempts: int


@dataclass
class _Tries:
    since_ns: int
    attempts: int = 0


@dataclass
class InflightCheck:
    """Looks up orders stuck in a local status; see the module docstring."""

    threshold_s: float = 2.0
    backoff_s: float = 0.5
    max_attempts: int = 5
    tries: dict[str, _Tries] = field(default_factory=dict)
    unresolved: dict[str, Unresolved] = field(default_factory=dict)
    lookups: int = 0
    reported: int = 0

    def due(self, core: StateCore, now_ns: int) -> ReconcileRequest | None:
        """The lookups due at ``now_ns`` (one request), updating attempts and the unresolved set."""
        threshold_ns, backoff_ns = int(self.threshold_s * 1e9), int(self.backoff_s * 1e9)
        inflight, orders = core.orders.inflight, core.orders.orders
        for key in [k for k, t in self.tries.items() if inflight.get(k) != t.since_ns]:
            del self.tries[key]  # resolved, or stuck again since a new command
            self.unresolved.pop(key, None)
        ids: list[str] = []
        cids: list[str] = []
        for key, since in inflight.items():
            if not since:
                continue
            t = self.tries.get(key)
            if t is None:
                if now_ns < since + threshold_ns:
                    continue
                t = self.tries[key] = _Tries(since)
            if t.attempts >= self.max_attempts:
                if key not in self.unresolved and now_ns >= attempt_due_ns(
                        since, t.attempts, threshold_ns, backoff_ns):
                    st = orders[key]
                    self.unresolved[key] = Unresolved(key=key, status=st.status, since_ns=since,
                                                      attempts=t.attempts)
                    self.reported += 1
                    log.warning("order %s stuck in %s for %.1f s after %d lookups: unresolved", key,
                                st.status, (now_ns - since) / 1e9, t.attempts)
                continue
            if now_ns < attempt_due_ns(since, t.attempts, threshold_ns, backoff_ns):
                continue
            t.attempts += 1
            st = orders[key]
            if st.id:
                ids.append(st.id)
            elif st.client_id:
                cids.append(st.client_id)
        if not ids and not cids:
            return None
        self.lookups += len(ids) + len(cids)
        return ReconcileRequest(reason="inflight", order_ids=tuple(ids), client_ids=tuple(cids))


class Check(Protocol):
    def due(self, core: StateCore, now_ns: int) -> ReconcileRequest | None: ...


async def run_checks(core: Callable[[], StateCore], checks: Sequence[Check], sender: Sender,
                     interval_s: float, clock_ns: Callable[[], int] = time.time_ns,
                     active: Callable[[], bool] = lambda: True) -> None:
    """Every ``interval_s`` while ``active()`` (this process holds its consumer's lease, so its
    fold is current): ask each check what is due (against the wall clock, the same clock as the
    events' ``recv_ns``) and send it. Retries are sent even when an identical request went out
    less than the requester's coalescing window ago (they are spaced by their own backoff)."""
    while True:
        await asyncio.sleep(interval_s)
        if not active():
            continue
        for check in checks:
            try:
                req = check.due(core(), clock_ns())
                if req is not None:
                    await sender.send(req, force=True)
            except Exception:
                log.exception("%s failed", type(check).__name__)


class ChecksHealth(msgspec.Struct, frozen=True, kw_only=True):
    """The timers' part of the health body: what the venue's answers did not settle."""

    in_flight: int
    in_flight_unresolved: list[Unresolved]
    suspects: int
    missed_push_unresolved: list[Unresolved]


def checks_health(core: StateCore, inflight: InflightCheck, repairs: Any) -> ChecksHealth:
    """Health of the in-flight check and the repairs (``repairs``: a RepairCheck)."""
    return ChecksHealth(in_flight=len(core.orders.inflight),
                        in_flight_unresolved=sorted(inflight.unresolved.values(), key=lambda u: u.key),
                        suspects=len(core.gaps.suspects),
                        missed_push_unresolved=sorted(repairs.unresolved.values(), key=lambda u: u.key))


Samples = list[tuple[dict[str, str], float]]


def check_metrics(core: StateCore, inflight: InflightCheck,
                  repairs: Any) -> list[tuple[str, str, str, Samples]]:
    """Prometheus families of both timers and the core's missed-push detections by kind."""
    counters = core.counters.values
    kinds = sorted({k.split(".", 1)[1] for k in counters if k.startswith(("missed_push.", "repaired."))})
    return [
        ("state_inflight_orders", "gauge", "Orders waiting for the venue (PENDING_NEW, UNKNOWN, "
         "PENDING_CANCEL, PENDING_MODIFY)", [({}, len(core.orders.inflight))]),
        ("state_inflight_lookups_total", "counter", "Lookups asked for by the in-flight check",
         [({}, inflight.lookups)]),
        ("state_inflight_unresolved", "gauge", "Orders still in flight after every lookup",
         [({}, len(inflight.unresolved))]),
        ("state_inflight_unresolved_total", "counter", "Orders reported unresolved",
         [({}, inflight.reported)]),
        ("state_missed_pushes_total", "counter", "Missed private pushes detected from the data, by kind",
         [({"kind": k}, counters.get(f"missed_push.{k}", 0)) for k in kinds]),
        ("state_missed_pushes_repaired_total", "counter", "Detected missed pushes the venue's answers "
         "repaired, by kind", [({"kind": k}, counters.get(f"repaired.{k}", 0)) for k in kinds]),
        ("state_repair_requests_total", "counter", "Targeted reconciliations asked for",
         [({}, repairs.requests)]),
        ("state_missed_push_unresolved", "gauge", "Suspected missed pushes still unexplained after "
         "every targeted request", [({}, len(repairs.unresolved))]),
    ]
