"""Per-market queue of untriggered stop/take-profit orders, sorted by trigger price.

Two sorted lists, each with its next order to trigger at the *end* (so popping is O(1)):

- ``above`` (trigger when mark >= trigger): keys ``(-trigger, -seq)``, so the last entry is the
  lowest trigger, oldest first among equal triggers;
- ``below`` (trigger when mark <= trigger): keys ``(trigger, -seq)``, the last entry is the
  highest trigger, oldest first.

A check against a new mark looks at two list ends: O(1) however many stops rest, which keeps the
per-command cost of trigger checks negligible. Insert/remove are a bisect plus a list shift.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from decimal import Decimal

from .state import Order


class TriggerQueue:
    __slots__ = ("above", "below")

    def __init__(self) -> None:
        self.above: list[tuple[Decimal, int, Order]] = []
        self.below: list[tuple[Decimal, int, Order]] = []

    def __len__(self) -> int:
        return len(self.above) + len(self.below)

    @staticmethod
    def _key(order: Order) -> tuple[Decimal, int]:
        price = -order.trigger_price if order.trigger_above else order.trigger_price
        return price, -order.trigger_seq

    def add(self, order: Order) -> None:
        """Queue ``order`` (its ``trigger_seq`` must be set and unique)."""
        side = self.above if order.trigger_above else self.below
        price, seq = self._key(order)
        insort(side, (price, seq, order))

    def remove(self, order: Order) -> bool:
        """Take ``order`` out; False when it was not queued."""
        side = self.above if order.trigger_above else self.below
        key = self._key(order)
        i = bisect_left(side, key)
        if i < len(side) and side[i][2] is order:
            del side[i]
            return True
        return False

    def may_trigger(self, low: Decimal, high: Decimal) -> bool:
        """Could a mark within ``[low, high]`` meet a queued condition? (No Decimal arithmetic:
        with both book sides the mid lies between the best bid and ask.)"""
        return bool(
            (self.above and -self.above[-1][0] <= high) or (self.below and self.below[-1][0] >= low)
        )

    def pop_due(self, mark: Decimal) -> Order | None:
        """The next order whose condition ``mark`` meets (the older one if both sides have one)."""
        above = self.above[-1] if self.above and -self.above[-1][0] <= mark else None
        below = self.below[-1] if self.below and self.below[-1][0] >= mark else None
        if above is None and below is None:
            return None
        if below is None or (above is not None and above[1] > below[1]):  # keys hold -seq
            return self.above.pop()[2]
        return self.below.pop()[2]
