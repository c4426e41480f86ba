"""Each strategy's profit and loss of the current UTC day (pure), for ``max_loss``.

Folded from the account's fills (each counted once: fills arrive from the WebSocket and again
from REST, deduplicated by ``(id, fill_type)``), attributed to the strategy that placed the order
(by client id). The loss is ``-(cash + marked positions)``: a BUY pays ``price * size``, a SELL
receives it, every fee is paid, and the day's net position of the strategy in each market is
marked at the reference price (mid). The day is the venue's: it rolls over with the first fill of
a new UTC day (``created_at``). Tradebusts are not reversed (rare; the account's own PnL in the
state service is exact).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from services.commands.core.rules import Intent, Violation
from services.commands.core.strategies import Strategy
from shared.paradex.models.account import Fill

ZERO = Decimal(0)
DAY_MS = 86_400_000


@dataclass
class Book:
    """One strategy's day: cash (fees included) and net position per market."""

    cash: Decimal = ZERO
    positions: dict[str, Decimal] = field(default_factory=dict)

    def loss(self, marks: Mapping[str, Decimal]) -> Decimal:
        """How much the strategy lost today (negative: it gained); a position in a market without
        a mark counts at zero value (worst case for a long, best for a short: no guess)."""
        value = self.cash + sum((size * marks.get(m, ZERO) for m, size in self.positions.items()), ZERO)
        return -value


class DailyPnl:
    """Books per strategy for the current UTC day."""

    def __init__(self) -> None:
        self.day = -1
        self.books: dict[str, Book] = {}
        self._seen: set[tuple[str, str]] = set()

    def apply(self, strategy: str, fill: Fill) -> None:
        """Count ``fill`` (of an order ``strategy`` placed) once."""
        day = fill.created_at // DAY_MS
        if day < self.day:
            return  # a late fill of a finished day
        if day > self.day:
            self.day, self.books, self._seen = day, {}, set()
        key = (fill.id, fill.fill_type)
        if key in self._seen or not strategy:
            return
        self._seen.add(key)
        book = self.books.setdefault(strategy, Book())
        signed = fill.size if fill.side == "BUY" else -fill.size
        book.cash -= signed * fill.price + fill.fee
        book.positions[fill.market] = book.positions.get(fill.market, ZERO) + signed

    def loss(self, strategy: str, marks: Mapping[str, Decimal]) -> Decimal:
        book = self.books.get(strategy)
        return ZERO if book is None else book.loss(marks)


def check_loss(
    strategy: Strategy, intent: Intent, pnl: DailyPnl, marks: Mapping[str, Decimal]
) -> Violation | None:
    """403 ``LOSS_LIMIT`` once the strategy lost ``max_loss`` today; reduce-only orders still pass."""
    if strategy.max_loss is None or "REDUCE_ONLY" in intent.flags:
        return None
    lost = pnl.loss(strategy.name, marks)
    if lost >= strategy.max_loss:
        return Violation(
            error="LOSS_LIMIT",
            rule="max_loss",
            status=403,
            message=f"strategy {strategy.name} lost {lost:.2f} today (UTC), at or beyond its max_loss "
            f"{strategy.max_loss}: only reduce-only orders until tomorrow",
        )
    return None
