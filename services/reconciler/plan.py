"""The pure planner of the reconciler: requests in, run plans out (no I/O, no clock).

Requests (start-up, the periodic timers, ``ReconcileRequest`` messages) are folded into one
pending set per lane: reasons (deduplicated, first-come order), snapshot parts, order ids and
client ids to look up. :meth:`Planner.take` turns everything pending into ONE :class:`RunPlan`
and marks a run in progress; requests that arrive meanwhile are folded into the next plan, so a
burst during a run gives exactly one follow-up run, and runs of one lane never overlap.

A request naming orders is a lookup; one naming parts asks for a targeted snapshot of just those
parts (order history and fills from its ``since_ms``, the earliest of the folded requests); one
with neither asks for a full snapshot. :class:`Lanes` routes them: full snapshots to the ``full``
lane, lookups and targeted snapshots (missed-push repairs, the fast check) to the ``fast`` lane,
so a repair never waits behind a long full run (both lanes share the venue rate budget).

:class:`SinceCursor` says from when order history and fills are fetched: a configured lookback
before the first successful run, then the start of the previous successful run minus an overlap
(the venue filters by ``created_at``; the overlap absorbs clock skew and late writes).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.bus.events import SnapshotPartName

ALL_PARTS: tuple[SnapshotPartName, ...] = (
    "open_orders", "positions", "account", "balances", "order_history", "fills")
"""Every part of a snapshot, in fetch order (what strategies miss most first)."""

FAST_PARTS: tuple[SnapshotPartName, ...] = ("open_orders", "positions", "account", "balances")
"""The fast check: one cheap request each, for the loss that no later push reveals."""

STARTUP = "startup"
PERIODIC = "periodic"
FAST = "fast_check"
FULL_LANE = "full"
FAST_LANE = "fast"


@dataclass(frozen=True, slots=True)
class RunPlan:
    """What one run does: a snapshot of ``parts`` (if ``snapshot``) and/or lookups.

    ``reasons`` are the distinct reasons folded in (first-come order); ``requests`` how many
    requests this plan answers (so ``requests - 1`` were coalesced into it). ``since_ms``: where
    order history and fills start (0: the :class:`SinceCursor`'s window).
    """

    reasons: tuple[str, ...]
    snapshot: bool
    parts: tuple[SnapshotPartName, ...]
    order_ids: tuple[str, ...]
    client_ids: tuple[str, ...]
    requests: int
    since_ms: int = 0

    @property
    def reason(self) -> str:
        """The reasons as one comma-separated string (the ``SnapshotStarted.reason``)."""
        return ",".join(self.reasons)


@dataclass(slots=True)
class _Pending:
    reasons: dict[str, None] = field(default_factory=dict)
    snapshot: bool = False
    parts: set[str] = field(default_factory=set)
    since_ms: int = 0
    order_ids: dict[str, None] = field(default_factory=dict)
    client_ids: dict[str, None] = field(default_factory=dict)
    requests: int = 0

    def empty(self) -> bool:
        return self.requests == 0


class Planner:
    """Coalesces requests into run plans; see the module docstring.

    ``max_lookups`` bounds the ids looked up in one run (the rest stay pending for the next run)
    so a flood of lookups cannot starve snapshots or the venue's rate limit.
    """

    def __init__(self, *, max_lookups: int = 200) -> None:
        if max_lookups < 1:
            raise ValueError(f"max_lookups must be >= 1, got {max_lookups}")
        self.max_lookups = max_lookups
        self._pending = _Pending()
        self.running: RunPlan | None = None
        self.received = 0
        self.coalesced = 0
        """Requests that did not get a run of their own (folded into another request's run)."""

    @property
    def has_pending(self) -> bool:
        """True when a request is waiting for a run."""
        return not self._pending.empty()

    def request(self, reason: str, order_ids: tuple[str, ...] = (),
                client_ids: tuple[str, ...] = (), parts: tuple[str, ...] = (),
                since_ms: int = 0) -> None:
        """Fold one request in. Empty ids are ignored; ``parts`` asks for those parts only (with
        order history and fills from ``since_ms``); no ids and no parts means a full snapshot.
        Unknown part names are ignored (a request naming only those is a full snapshot)."""
        p = self._pending
        if not p.empty():
            self.coalesced += 1
        self.received += 1
        p.requests += 1
        p.reasons.setdefault(reason or "unspecified", None)
        ids = [i for i in order_ids if i]
        cids = [c for c in client_ids if c]
        wanted = [x for x in parts if x in ALL_PARTS]
        if wanted:
            p.parts.update(wanted)
            if since_ms > 0 and (not p.since_ms or since_ms < p.since_ms):
                p.since_ms = since_ms
        elif not ids and not cids:
            p.snapshot = True
        for i in ids:
            p.order_ids.setdefault(i, None)
        for c in cids:
            p.client_ids.setdefault(c, None)

    def take(self) -> RunPlan | None:
        """The plan for everything pending, marking it running; None while a run is in progress
        or when nothing is pending."""
        if self.running is not None or self._pending.empty():
            return None
        p = self._pending
        budget = self.max_lookups
        oids = list(p.order_ids)[:budget]
        cids = list(p.client_ids)[:budget - len(oids)]
        parts = ALL_PARTS if p.snapshot else tuple(x for x in ALL_PARTS if x in p.parts)
        plan = RunPlan(reasons=tuple(p.reasons), snapshot=bool(parts), parts=parts,
                       order_ids=tuple(oids), client_ids=tuple(cids), requests=p.requests,
                       since_ms=0 if p.snapshot else p.since_ms)
        left = _Pending()
        for i in list(p.order_ids)[len(oids):]:
            left.order_ids[i] = None
        for c in list(p.client_ids)[len(cids):]:
            left.client_ids[c] = None
        if left.order_ids or left.client_ids:
            left.reasons["lookup_overflow"] = None
            left.requests = 1
        self._pending = left
        self.running = plan
        return plan

    def finish(self) -> None:
        """The running plan is done (whatever its outcome)."""
        self.running = None


class Lanes:
    """Two planners: ``full`` (full snapshots) and ``fast`` (lookups and targeted snapshots)."""

    def __init__(self, *, max_lookups: int = 200) -> None:
        self.lanes = {FULL_LANE: Planner(max_lookups=max_lookups),
                      FAST_LANE: Planner(max_lookups=max_lookups)}

    @staticmethod
    def lane_of(order_ids: tuple[str, ...] = (), client_ids: tuple[str, ...] = (),
                parts: tuple[str, ...] = ()) -> str:
        """Where a request goes: a full snapshot to ``full``, anything narrower to ``fast``."""
        narrow = any(order_ids) or any(client_ids) or any(x in ALL_PARTS for x in parts)
        return FAST_LANE if narrow else FULL_LANE

    def request(self, reason: str, order_ids: tuple[str, ...] = (), client_ids: tuple[str, ...] = (),
                parts: tuple[str, ...] = (), since_ms: int = 0) -> str:
        """Fold one request into its lane; returns the lane."""
        lane = self.lane_of(order_ids, client_ids, parts)
        self.lanes[lane].request(reason, order_ids, client_ids, parts, since_ms)
        return lane

    def __getitem__(self, lane: str) -> Planner:
        return self.lanes[lane]

    @property
    def received(self) -> int:
        """Requests received by both lanes."""
        return sum(p.received for p in self.lanes.values())

    @property
    def coalesced(self) -> int:
        """Requests folded into another request's run, in both lanes."""
        return sum(p.coalesced for p in self.lanes.values())

    @property
    def has_pending(self) -> bool:
        """True when either lane has a request waiting."""
        return any(p.has_pending for p in self.lanes.values())

    @property
    def running(self) -> bool:
        """True while either lane runs."""
        return any(p.running is not None for p in self.lanes.values())


class SinceCursor:
    """Start (venue ms) of the order-history and fills window of the next run."""

    def __init__(self, *, lookback_ms: int, overlap_ms: int) -> None:
        if lookback_ms < 0 or overlap_ms < 0:
            raise ValueError("lookback_ms and overlap_ms must be >= 0")
        self.lookback_ms = lookback_ms
        self.overlap_ms = overlap_ms
        self.last_success_start_ms: int | None = None

    def since_ms(self, now_ms: int) -> int:
        """Where the next run's history window starts, for a run starting at ``now_ms``."""
        if self.last_success_start_ms is None:
            return max(0, now_ms - self.lookback_ms)
        return max(0, self.last_success_start_ms - self.overlap_ms)

    def succeeded(self, run_start_ms: int) -> None:
        """A run that started at ``run_start_ms`` fetched history and fills completely.
        The cursor never moves back (an older run finishing late does not rewind it)."""
        if self.last_success_start_ms is None or run_start_ms > self.last_success_start_ms:
            self.last_success_start_ms = run_start_ms
