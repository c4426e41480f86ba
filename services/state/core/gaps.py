"""Missed pushes found from the data itself (DESIGN.md "Version 2 rules"; pure, no clock).

The venue replays nothing, so a lost private push must be inferred from what did arrive:

- ``balance_chain``: a ``balance_events`` push whose ``before`` is not the current balance is held
  (see :mod:`services.state.core.balances`); its predecessor may still come (reordered pushes of
  one multi-level sweep), or it was lost;
- ``fill_missing``: an order filled further than the fills received for it;
- ``order_behind``: fills received for an order beyond what its record shows (its push was lost);
- ``order_unknown``: a fill for an order we hold no record of;
- ``fill_unseen``: a ``balance_events`` push naming a fill we never received;
- ``position_fills``: a position that the fills received do not explain, or fills the position
  does not reflect.

Each is a :class:`Suspect`, raised by a record that changed the state (a live push, or a REST
correction: the fast check finding a position the fills do not explain) once the entity has a
baseline (its first record, or a REST one covering its past, explains itself), and resolved as
soon as the data agrees again. A fill for an order we never saw is suspect only when live.

Pushes of one venue step arrive a few ms apart in any order, so a suspect is a
detection only once the *stream* has moved ``settle_ms`` past it: the first account event whose
``recv_ns`` is at least ``since_ns + settle_ms`` promotes it (counted ``missed_push.<kind>``;
held balance changes are then released). Nothing here reads a clock: the shell's timer only asks
for the targeted reconciliation (:func:`repair_actions`) whose answer is events.

A targeted answer that still leaves the data unexplained (fills older than any history, a venue
that does not add up) rebases the check (counted ``gap_rebased.<kind>``) instead of asking
forever. Per-order fill sums and per-market fill nets live here (:class:`FillTally`,
:class:`NetTally`) and in the checkpoint; ``base`` is what the fills we hold do not cover, as of
venue time ``base_ts``: a fill created at or before ``base_ts`` arriving later moves from
``base`` to the sum (it was covered), a later one must be matched by the entity's record.
"""

from __future__ import annotations

from decimal import Decimal
from heapq import heapify, heappop, heappush

import msgspec

from services.state.core.counters import Counters
from services.state.core.model import ZERO, Action

BALANCE_CHAIN = "balance_chain"
FILL_MISSING = "fill_missing"
ORDER_BEHIND = "order_behind"
ORDER_UNKNOWN = "order_unknown"
FILL_UNSEEN = "fill_unseen"
POSITION_FILLS = "position_fills"

KINDS = (BALANCE_CHAIN, FILL_MISSING, ORDER_BEHIND, ORDER_UNKNOWN, FILL_UNSEEN, POSITION_FILLS)
_FETCH: dict[str, tuple[str, ...]] = {
    BALANCE_CHAIN: ("balances",), FILL_MISSING: ("fills",), FILL_UNSEEN: ("fills",),
    POSITION_FILLS: ("positions", "fills"),
}
"""The snapshot parts that answer each kind (the order kinds are answered by lookups)."""


class Suspect(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A push that may have been lost: ``kind`` about ``key`` (token, order id or market).

    ``since_ns`` / ``seq``: ``recv_ns`` and stream sequence of the event that raised it;
    ``since_ms``: venue time from which fills must be fetched to explain it; ``detected``: the
    stream moved past the settle window with it still unexplained.
    """

    kind: str
    key: str
    since_ns: int
    seq: int
    since_ms: int = 0
    detected: bool = False


class FillTally(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Fills received for one order. ``based`` once the order's first record was seen;
    ``ok_ts``: the order's venue time when its fills last explained it."""

    total: Decimal = ZERO
    base: Decimal = ZERO
    base_ts: int = 0
    ok_ts: int = 0
    based: bool = False


class NetTally(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Signed fills received in one market (BUY +, SELL -, busted ones taken out)."""

    net: Decimal = ZERO
    base: Decimal = ZERO
    base_ts: int = 0
    ok_ts: int = 0
    based: bool = False


def sid(kind: str, key: str) -> str:
    """The id of a suspect."""
    return f"{kind}:{key}"


def repair_actions(suspects: list[Suspect]) -> list[Action]:
    """The targeted requests that answer ``suspects``: one reconcile of the union of their parts
    (fills from the earliest ``since_ms``) and one lookup per order."""
    parts: dict[str, None] = {}
    since = 0
    out: list[Action] = []
    for s in suspects:
        fetch = _FETCH.get(s.kind)
        if fetch is None:
            out.append(Action(kind="lookup", reason=f"missed_push:{s.kind}", order_id=s.key))
            continue
        parts.update(dict.fromkeys(fetch))
        if "fills" in fetch and s.since_ms and (not since or s.since_ms < since):
            since = s.since_ms
    if parts:
        out.insert(0, Action(kind="reconcile", reason="missed_push", parts=tuple(sorted(parts)),
                             since_ms=since))
    return out


class Gaps:
    """The suspects, the tallies, and the settle window that turns a suspect into a detection."""

    __slots__ = ("c", "nets", "next_due_ns", "queue", "settle_ns", "suspects", "tallies")

    def __init__(self, counters: Counters, settle_ms: int = 200) -> None:
        self.c = counters
        self.settle_ns = settle_ms * 1_000_000
        self.suspects: dict[str, Suspect] = {}
        self.tallies: dict[str, FillTally] = {}
        self.nets: dict[str, NetTally] = {}
        #: (due_ns, suspect id) of the suspects not yet detected; lazy (a resolved or renewed
        #: suspect's entry is skipped when popped); derived from ``suspects``, not checkpointed
        self.queue: list[tuple[int, str]] = []
        self.next_due_ns = 0

    def rebuild_queue(self) -> None:
        """Recompute the settle queue from the suspects (after a checkpoint load)."""
        self.queue = [(s.since_ns + self.settle_ns, k) for k, s in self.suspects.items()
                      if not s.detected and s.since_ns]
        heapify(self.queue)
        self.next_due_ns = self.queue[0][0] if self.queue else 0

    # ------------------------------------------------------------------------------ suspects

    def raise_(self, kind: str, key: str, since_ns: int, seq: int, since_ms: int = 0,
               renew: bool = False) -> None:
        """Suspect a lost push (kept with its first ``since_ns``; ``since_ms`` only moves back).
        ``renew``: a new incident replaces a suspect already detected (a new settle window)."""
        k = sid(kind, key)
        cur = self.suspects.get(k)
        if cur is not None and not (renew and cur.detected):
            if since_ms and (not cur.since_ms or since_ms < cur.since_ms):
                cur.since_ms = since_ms
            return
        self.suspects[k] = Suspect(kind=kind, key=key, since_ns=since_ns, seq=seq, since_ms=since_ms)
        if since_ns:
            due = since_ns + self.settle_ns
            heappush(self.queue, (due, k))
            if not self.next_due_ns or due < self.next_due_ns:
                self.next_due_ns = due

    def resolve(self, kind: str, key: str) -> Suspect | None:
        """The data agrees again: forget the suspect (returned, or None when there was none)."""
        s = self.suspects.pop(sid(kind, key), None)
        if s is not None and s.detected:
            self.c.bump(f"repaired.{kind}")
        return s

    def due(self, recv_ns: int) -> bool:
        """Cheap check after every account event: has the stream passed a settle window?"""
        return bool(self.next_due_ns) and recv_ns >= self.next_due_ns

    def promote(self, recv_ns: int) -> list[Suspect]:
        """Mark every suspect whose settle window ``recv_ns`` passed as detected (counted), in
        (due, id) order; returns them (the caller releases held balance changes)."""
        out: list[Suspect] = []
        q = self.queue
        while q and q[0][0] <= recv_ns:
            due, k = heappop(q)
            s = self.suspects.get(k)
            if s is None or s.detected or s.since_ns + self.settle_ns != due:
                continue  # resolved, or renewed with a later window (its own entry follows)
            s.detected = True
            self.c.bump(f"missed_push.{s.kind}")
            out.append(s)
        self.next_due_ns = q[0][0] if q else 0
        return out

    def of_kind(self, *kinds: str) -> list[Suspect]:
        """The suspects of these kinds, in id order."""
        return [self.suspects[k] for k in sorted(self.suspects) if self.suspects[k].kind in kinds]

    # ------------------------------------------------------------------------ orders and fills

    def order_seen(self, order_id: str, filled: Decimal, lua: int, created_at: int, src: str,
                   seq: int, recv_ns: int) -> None:
        """Check an order's filled size against its fills after a record of it (``src``)."""
        t = self.tallies.get(order_id)
        if t is None:
            t = self.tallies[order_id] = FillTally()
        if not t.based:
            # First record: one from REST (a snapshot, a lookup) covers its past fills; a live one
            # starts the count (an order first seen live already filled is a gap to look into).
            t.based = True
            t.ok_ts = created_at or lua
            if src == "rest":
                t.base, t.base_ts = filled - t.total, lua
        self._judge_order(order_id, t, filled, lua, src, seq, recv_ns)

    def _judge_order(self, order_id: str, t: FillTally, filled: Decimal, lua: int, src: str,
                     seq: int, recv_ns: int) -> None:
        gap = filled - t.total - t.base
        if not gap:
            if lua > t.ok_ts:
                t.ok_ts = lua
            if self.suspects:  # the common case has none: no ids to build
                self.resolve(FILL_MISSING, order_id)
                self.resolve(ORDER_BEHIND, order_id)
                self.resolve(ORDER_UNKNOWN, order_id)
            return
        self.resolve(ORDER_UNKNOWN, order_id)
        kind, other = (FILL_MISSING, ORDER_BEHIND) if gap > 0 else (ORDER_BEHIND, FILL_MISSING)
        self.resolve(other, order_id)
        self.raise_(kind, order_id, recv_ns, seq, t.ok_ts)

    def fill_seen(self, order_id: str, size: Decimal, created_at: int,
                  order: tuple[Decimal, int] | None, src: str, seq: int, recv_ns: int) -> None:
        """A new fill of ``size`` for ``order_id``; ``order`` is its (filled, lua), None if unknown."""
        t = self.tallies.get(order_id)
        if t is None:
            t = self.tallies[order_id] = FillTally()
        t.total += size
        if t.based and created_at <= t.base_ts:
            t.base -= size  # covered by the base already: moves into the sum
        if order is None:
            if src == "ws":
                self.raise_(ORDER_UNKNOWN, order_id, recv_ns, seq)
            return
        if t.based:
            self._judge_order(order_id, t, order[0], order[1], src, seq, recv_ns)

    def rebase_order(self, order_id: str, filled: Decimal, lua: int) -> None:
        """The venue answered and the fills still do not explain the order: accept it as is."""
        t = self.tallies.get(order_id)
        if t is None:
            return
        for kind in (FILL_MISSING, ORDER_BEHIND):
            if self.suspects.pop(sid(kind, order_id), None) is not None:
                self.c.bump(f"gap_rebased.{kind}")
        t.base, t.base_ts, t.ok_ts, t.based = filled - t.total, lua, lua, True

    def forget_order(self, order_id: str) -> None:
        """Retention evicted the order."""
        self.tallies.pop(order_id, None)
        for kind in (FILL_MISSING, ORDER_BEHIND, ORDER_UNKNOWN):
            self.suspects.pop(sid(kind, order_id), None)

    # -------------------------------------------------------------------------------- positions

    def position_seen(self, market: str, size: Decimal, ts: int, src: str, seq: int,
                      recv_ns: int) -> None:
        """Check a position against the fills after the state's position changed."""
        t = self.nets.get(market)
        if t is None:
            t = self.nets[market] = NetTally()
        if not t.based:
            t.based, t.base, t.base_ts, t.ok_ts = True, size - t.net, ts, ts
        self._judge_position(market, t, size, ts, src, seq, recv_ns)

    def _judge_position(self, market: str, t: NetTally, size: Decimal, ts: int, src: str, seq: int,
                        recv_ns: int) -> None:
        if size == t.net + t.base:
            if ts > t.ok_ts:
                t.ok_ts = ts
            if self.suspects:
                self.resolve(POSITION_FILLS, market)
        else:
            self.raise_(POSITION_FILLS, market, recv_ns, seq, t.ok_ts)

    def position_fill(self, market: str, signed: Decimal, created_at: int,
                      position: tuple[Decimal, int] | None, src: str, seq: int,
                      recv_ns: int) -> None:
        """A new (or busted: ``signed`` negated) fill in ``market``; ``position`` is (size, ts)."""
        t = self.nets.get(market)
        if t is None:
            t = self.nets[market] = NetTally()
        t.net += signed
        if t.based and created_at <= t.base_ts:
            t.base -= signed
        if t.based and position is not None:
            self._judge_position(market, t, position[0], position[1], src, seq, recv_ns)

    def rebase_position(self, market: str, size: Decimal, ts: int) -> None:
        """The venue answered and the fills still do not explain the position: accept it."""
        t = self.nets.get(market)
        if t is None:
            return
        if self.suspects.pop(sid(POSITION_FILLS, market), None) is not None:
            self.c.bump(f"gap_rebased.{POSITION_FILLS}")
        t.based, t.base, t.base_ts, t.ok_ts = True, size - t.net, ts, ts
