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
"""

from __future__ import annotations

from heapq import heappop, heappush
from typing import TYPE_CHECKING

from services.state.core.model import STATUS_RANK, TERMINAL, Result

if TYPE_CHECKING:
    from services.state.core.entities import EntityTables
    from services.state.core.orders import OrderTable

TOMBSTONE_FACTOR = 4
BUDGET = 32
ORDER, FILL, ORDER_TOMB, FILL_TOMB = 0, 1, 2, 3


class Retention:
    """The eviction queue, the tombstones and the stream's venue "now" (all in the checkpoint)."""

    __slots__ = ("fill_ms", "fill_tombs", "now", "order_ms", "order_tombs", "queue")

    def __init__(self, order_ms: int = 0, fill_ms: int = 0) -> None:
        self.order_ms = order_ms
        self.fill_ms = fill_ms
        self.now = 0
        self.queue: list[tuple[int, int, str]] = []
        self.order_tombs: dict[str, tuple[int, int]] = {}
        self.fill_tombs: dict[str, int] = {}

    def order_terminal(self, key: str, last_updated_at: int) -> None:
        """An order entry just became terminal: queue its eviction."""
        if self.order_ms:
            heappush(self.queue, ((last_updated_at or self.now) + self.order_ms, ORDER, key))

    def fill_added(self, fill_id: str, created_at: int) -> None:
        """A fill was added: queue its eviction."""
        if self.fill_ms:
            heappush(self.queue, (created_at + self.fill_ms, FILL, fill_id))

    def order_gone(self, order_id: str, status: str, last_updated_at: int) -> bool:
        """True for a record of an order that is evicted, or terminal and already past the horizon."""
        if order_id in self.order_tombs:
            return True
        return (status in TERMINAL and self.order_ms > 0
                and last_updated_at + self.order_ms <= self.now)

    def fill_gone(self, fill_id: str, created_at: int) -> bool:
        """True for a fill that is evicted, or already past the horizon."""
        if fill_id in self.fill_tombs:
            return True
        return self.fill_ms > 0 and created_at + self.fill_ms <= self.now

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
                    self.fill_tombs[key] = f.fill.created_at
                    heappush(q, (due + (TOMBSTONE_FACTOR - 1) * self.fill_ms, FILL_TOMB, key))
            elif kind == ORDER_TOMB:
                self.order_tombs.pop(key, None)
            else:
                self.fill_tombs.pop(key, None)

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
            self.order_tombs[st.id] = (STATUS_RANK.get(st.status, 0), st.last_updated_at)
            heappush(self.queue, (due + (TOMBSTONE_FACTOR - 1) * horizon, ORDER_TOMB, st.id))
