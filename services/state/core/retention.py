"""Retention: terminal orders and fills leave memory once they are older than a horizon.

No clock: "now" is the highest venue timestamp seen on the ACCOUNT stream (it only moves
forward), so eviction is part of the deterministic fold. A terminal order (CLOSED / REJECTED)
whose ``last_updated_at`` is at least ``retention_ms`` behind now, and a fill whose ``created_at``
is at least ``fill_retention_ms`` behind now, are evicted: removed from the tables with a deletion
:class:`Change` (value ``None``). An order without a venue time (a local REJECTED) counts from the
moment it became terminal. Open orders and pending ``client:<cid>`` entries are never evicted.

A tombstone remains for every evicted order id (its status rank and ``last_updated_at``) and fill
id, so a later venue record of it (REST order history, a fills page, a late WS duplicate) is
suppressed and counted, never resurrected and never a correction. Tombstones expire
``TOMBSTONE_FACTOR`` (4) times the horizon after the entity's time; past that, a terminal order
record or a fill that is unknown and already older than the horizon is still suppressed (it would
be evicted at once), so nothing older than the horizon is ever created.

Work is incremental: a min-heap of ``(due_ms, kind, key)`` entries, popped at most
:data:`BUDGET` per applied event. Entries are lazy: when popped, the entity is re-checked (it may
be gone, reopened by venue evidence, or refined to a later time, then it is pushed again).

**By count** as well (``max_closed_orders`` / ``max_fills``, 0 = no limit), so memory is bounded
whatever the flow: past the limit, the oldest terminal orders (by venue ``last_updated_at``; a
local REJECTED without one by the time its command arrived) and the oldest fills (by
``created_at``) are evicted, at most :data:`BUDGET` per event, with tombstones as for age. The
``count floor`` (the latest time evicted for count) then suppresses a terminal order or a fill
that is unknown and not newer than it, exactly as the age horizon does; tombstones are capped at
:data:`TOMB_COUNT_FACTOR` times the counts (the oldest go first). A record that claims a
long-evicted order is still live, once its tombstone is gone too, is taken as venue evidence (the
next reconciliation corrects it): hiding an order that might really be open would be worse.
The count queues are derived from the tables (rebuilt on load, compacted when stale entries pile
up); only the floors are part of the checkpoint, so an eviction depends on the state alone and
replay stays deterministic.
"""

from __future__ import annotations

from collections.abc import Container
from heapq import heapify, heappop, heappush
from typing import TYPE_CHECKING

from services.state.core.model import STATUS_RANK, TERMINAL, OrderState, Result

if TYPE_CHECKING:
    from services.state.core.entities import EntityTables
    from services.state.core.orders import OrderTable

TOMBSTONE_FACTOR = 4
TOMB_COUNT_FACTOR = 2  # tombstones kept per kind: this many times the count limit
BUDGET = 32
ORDER, FILL, ORDER_TOMB, FILL_TOMB = 0, 1, 2, 3


def order_time(st: OrderState) -> int:
    """The time an order is old by: the venue's ``last_updated_at``, else (a local REJECTED) ms of
    the command's receive time."""
    return st.last_updated_at or st.last_recv_ns // 1_000_000


class Retention:
    """The eviction queue, the tombstones and the stream's venue "now" (all in the checkpoint),
    and the count limits with their derived queues (see the module docstring)."""

    __slots__ = ("_counted", "_fill_q", "_ftomb_q", "_order_q", "_otomb_q", "fill_floor", "fill_ms",
                 "fill_tombs", "max_fills", "max_orders", "now", "order_floor", "order_ms", "order_tombs",
                 "queue")

    def __init__(self, order_ms: int = 0, fill_ms: int = 0, max_orders: int = 0,
                 max_fills: int = 0) -> None:
        self.order_ms = order_ms
        self.fill_ms = fill_ms
        self.max_orders = max_orders
        self.max_fills = max_fills
        self.now = 0
        self.queue: list[tuple[int, int, str]] = []
        self.order_tombs: dict[str, tuple[int, int]] = {}
        self.fill_tombs: dict[str, int] = {}
        #: the latest order / fill time evicted for count (-1: none); in the checkpoint
        self.order_floor = -1
        self.fill_floor = -1
        self._counted = False  # the derived count queues below are not built yet
        self._order_q: list[tuple[int, str]] = []
        self._fill_q: list[tuple[int, str]] = []
        self._otomb_q: list[tuple[int, str]] = []  # (last_updated_at, order id) of tombstones
        self._ftomb_q: list[tuple[int, str]] = []  # (created_at, fill id)

    def order_terminal(self, key: str, last_updated_at: int) -> None:
        """An order entry just became terminal: queue its eviction."""
        if self.order_ms:
            heappush(self.queue, ((last_updated_at or self.now) + self.order_ms, ORDER, key))

    def fill_added(self, fill_id: str, created_at: int) -> None:
        """A fill was added: queue its eviction."""
        if self.fill_ms:
            heappush(self.queue, (created_at + self.fill_ms, FILL, fill_id))

    def order_gone(self, order_id: str, status: str, last_updated_at: int) -> bool:
        """True for a record of an order that is evicted, or terminal and already past the horizon
        (or not newer than the orders evicted for count)."""
        if order_id in self.order_tombs:
            return True
        return status in TERMINAL and (
            (self.order_ms > 0 and last_updated_at + self.order_ms <= self.now)
            or last_updated_at <= self.order_floor)

    def fill_gone(self, fill_id: str, created_at: int) -> bool:
        """True for a fill that is evicted, or already past the horizon (or the count floor)."""
        if fill_id in self.fill_tombs:
            return True
        return (self.fill_ms > 0 and created_at + self.fill_ms <= self.now) or created_at <= self.fill_floor

    def due(self) -> bool:
        """Whether the queue's first entry is due (cheap: checked after every account event)."""
        q = self.queue
        return bool(q) and q[0][0] <= self.now

    def evict_due(self, orders: OrderTable, entities: EntityTables, res: Result) -> None:
        """Pop at most :data:`BUDGET` due entries; evict entities / expire tombstones."""
        q, now = self.queue, self.now
        for _ in range(BUDGET):
            if not q or q[0][0] > now:
                return
            due, kind, key = heappop(q)
            if kind == ORDER:
                self._order_due(due, key, orders, res)
            elif kind == FILL:
                if not self.fill_ms:
                    continue  # retention switched off since this entry was queued
                f = entities.evict_fill(key, res)
                if f is not None:
                    self._tomb_fill(key, f.fill.created_at)
                    heappush(q, (due + (TOMBSTONE_FACTOR - 1) * self.fill_ms, FILL_TOMB, key))
            elif kind == ORDER_TOMB:
                self.order_tombs.pop(key, None)
            else:
                self.fill_tombs.pop(key, None)

    # ------------------------------------------------------------------------------- by count

    def evict_over_count(self, orders: OrderTable, entities: EntityTables, res: Result) -> None:
        """After each event: follow its changes into the count queues, then evict past the limits."""
        if not self._counted:
            self._build(orders, entities)
        for ch in res.changes:
            v = ch.value
            if v is None:
                continue
            if ch.kind == "order":
                if v.status in TERMINAL:
                    heappush(self._order_q, (order_time(v), ch.key))
            elif ch.kind == "fill":
                heappush(self._fill_q, (v.fill.created_at, ch.key))
        budget = BUDGET
        if self.max_orders:
            budget = self._evict_orders(orders, res, budget)
        if self.max_fills and budget:
            self._evict_fills(entities, res, budget)
        self._cap_tombs()
        self._compact(orders, entities)

    def _evict_orders(self, orders: OrderTable, res: Result, budget: int) -> int:
        table, q = orders.orders, self._order_q
        while budget and q and len(table) - len(orders.live) > self.max_orders:
            t, key = heappop(q)
            st = table.get(key)
            if st is None or st.status not in TERMINAL:
                continue  # gone, or reopened (queued again when it closes)
            now_t = order_time(st)
            if now_t != t:
                if now_t > t:
                    heappush(q, (now_t, key))  # refined since: its place moved
                continue
            orders.evict(key, res)
            budget -= 1
            self.order_floor = max(self.order_floor, t)
            if st.id:
                self._tomb_order(st)
        return budget

    def _evict_fills(self, entities: EntityTables, res: Result, budget: int) -> None:
        table, q = entities.fills, self._fill_q
        while budget and q and len(table) > self.max_fills:
            t, fid = heappop(q)
            f = table.get(fid)
            if f is None or f.fill.created_at != t:
                continue
            entities.evict_fill(fid, res)
            budget -= 1
            self.fill_floor = max(self.fill_floor, t)
            self._tomb_fill(fid, t)

    def _cap_tombs(self) -> None:
        """Tombstones beyond the count limits go, oldest first (a record that old is suppressed by
        the floor anyway, unless it claims the order is live)."""
        tombs, q, cap = self.order_tombs, self._otomb_q, TOMB_COUNT_FACTOR * self.max_orders
        while cap and len(tombs) > cap and q:
            t, key = heappop(q)
            cur = tombs.get(key)
            if cur is not None and cur[1] == t:
                del tombs[key]
        ftombs, fq, fcap = self.fill_tombs, self._ftomb_q, TOMB_COUNT_FACTOR * self.max_fills
        while fcap and len(ftombs) > fcap and fq:
            t, key = heappop(fq)
            if ftombs.get(key) == t:
                del ftombs[key]

    def _build(self, orders: OrderTable, entities: EntityTables) -> None:
        self._order_q = [(order_time(st), k) for k, st in orders.orders.items() if st.status in TERMINAL]
        self._fill_q = [(f.fill.created_at, k) for k, f in entities.fills.items()]
        self._otomb_q = [(t[1], k) for k, t in self.order_tombs.items()]
        self._ftomb_q = [(t, k) for k, t in self.fill_tombs.items()]
        for q in (self._order_q, self._fill_q, self._otomb_q, self._ftomb_q):
            heapify(q)
        self._counted = True

    def _compact(self, orders: OrderTable, entities: EntityTables) -> None:
        """Rebuild a count queue once stale entries (evicted by age, refined) outnumber live ones;
        drop the age queue's entries of entities no longer held (a function of the checkpointed
        queue and the tables, so replay and resume compact alike)."""
        held = len(orders.orders) + len(entities.fills) + len(self.order_tombs) + len(self.fill_tombs)
        queued = len(self._order_q) + len(self._fill_q) + len(self._otomb_q) + len(self._ftomb_q)
        if queued > 2 * held + 4096:
            self._build(orders, entities)
        q = self.queue
        if len(q) > 2 * held + 4096:  # age entries of entities evicted for count, long before due
            tables: dict[int, Container[str]] = {ORDER: orders.orders, FILL: entities.fills,
                                                 ORDER_TOMB: self.order_tombs, FILL_TOMB: self.fill_tombs}
            q[:] = [e for e in q if e[2] in tables[e[1]]]  # in place: the core holds this list
            heapify(q)

    def _tomb_order(self, st: OrderState) -> None:
        self.order_tombs[st.id] = (STATUS_RANK.get(st.status, 0), st.last_updated_at)
        if self._counted:
            heappush(self._otomb_q, (st.last_updated_at, st.id))

    def _tomb_fill(self, fid: str, created_at: int) -> None:
        self.fill_tombs[fid] = created_at
        if self._counted:
            heappush(self._ftomb_q, (created_at, fid))

    # ---------------------------------------------------------------------------------- by age

    def _order_due(self, due: int, key: str, orders: OrderTable, res: Result) -> None:
        st = orders.orders.get(key)
        if st is None or st.status not in TERMINAL:
            return  # relinked / already gone, or reopened by venue evidence (re-queued if it closes)
        horizon = self.order_ms
        if not horizon:
            return  # retention switched off since this entry was queued
        # no venue time: counted from when it became terminal (due - horizon), or from now when
        # that was before the stream's first venue timestamp
        again = (st.last_updated_at or max(due - horizon, 0) or self.now) + horizon
        if again > due:  # refined to a later time (or the horizon grew): not yet
            heappush(self.queue, (again, ORDER, key))
            return
        orders.evict(key, res)
        if st.id:
            self._tomb_order(st)
            heappush(self.queue, (due + (TOMBSTONE_FACTOR - 1) * horizon, ORDER_TOMB, st.id))
