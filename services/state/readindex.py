"""Sorted indexes for paginated reads (``GET /v1/orders``, ``GET /v1/fills``), kept from changes.

A page of orders in key order from a cursor, or of fills in time order before a cursor, must not
sort the whole table per request (100 000 orders: ~30 ms a sort, at every new sequence). So the
shell keeps sorted indexes (``sortedcontainers``: O(log n) inserts) and updates them from the
changes the core reports, which name every key that appears or disappears (the core reports a
change for every entry it adds, re-keys or evicts):

- ``orders``: every order key, sorted; ``live``: the keys whose status is not terminal (what
  ``status=OPEN,PENDING_NEW,...`` filters scan instead of every order);
- ``fills``: ``(created_at, fill id)`` of every fill; ``fills_of``: the same per order id.

:meth:`ReadIndex.rebuild` builds them from a core (start-up, after a checkpoint). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sortedcontainers import SortedList

from services.state.core import TERMINAL, StateCore


class ReadIndex:
    """Sorted keys of orders (all, live) and of fills (all, per order)."""

    def __init__(self) -> None:
        self.orders: SortedList = SortedList()
        self.live: SortedList = SortedList()
        self._known: set[str] = set()  # membership in ``orders`` / ``live`` at O(1) (hot path)
        self._live: set[str] = set()
        self.fills: SortedList = SortedList()
        self.fills_of: dict[str, SortedList] = {}
        self._fill_pos: dict[str, tuple[int, str, str]] = {}  # id -> (created_at, id, order id)

    def rebuild(self, core: StateCore) -> None:
        """Index everything ``core`` holds now."""
        self.__init__()  # type: ignore[misc]
        orders = core.orders.orders
        self._known.update(orders)
        self._live.update(k for k, st in orders.items() if st.status not in TERMINAL)
        self.orders.update(self._known)
        self.live.update(self._live)
        for fid, f in core.entities.fills.items():
            self._add_fill(fid, f)

    def apply(self, changes: Iterable[Any]) -> None:
        """Follow core :class:`~services.state.core.Change` objects (``kind``, ``key``, ``value``)."""
        for ch in changes:
            kind = ch.kind
            if kind == "order":
                self._order(ch.key, ch.value)
            elif kind == "fill":
                if ch.value is None:
                    self._drop_fill(ch.key)
                elif ch.key not in self._fill_pos:
                    self._add_fill(ch.key, ch.value)

    def _order(self, key: str, st: Any) -> None:
        known, live = self._known, self._live
        if st is None:
            if key in known:
                known.discard(key)
                self.orders.remove(key)
            if key in live:
                live.discard(key)
                self.live.remove(key)
            return
        if key not in known:
            known.add(key)
            self.orders.add(key)
        if st.status in TERMINAL:
            if key in live:
                live.discard(key)
                self.live.remove(key)
        elif key not in live:
            live.add(key)
            self.live.add(key)

    def _add_fill(self, fid: str, f: Any) -> None:
        entry = (f.fill.created_at, fid)
        self._fill_pos[fid] = (*entry, f.fill.order_id)
        self.fills.add(entry)
        per = self.fills_of.get(f.fill.order_id)
        if per is None:
            per = self.fills_of[f.fill.order_id] = SortedList()
        per.add(entry)

    def _drop_fill(self, fid: str) -> None:
        pos = self._fill_pos.pop(fid, None)
        if pos is None:
            return
        ts, _, order_id = pos
        self.fills.discard((ts, fid))
        per = self.fills_of.get(order_id)
        if per is not None:
            per.discard((ts, fid))
            if not per:
                del self.fills_of[order_id]
