"""Order-book sequence checking per market (PROTOCOL.md 2.6, DESIGN.md "Order book").

Rules: an ``s`` frame replaces the book and resets the sequence; a ``d`` frame applies only if
``seq_no == last + 1``; a lower ``seq_no`` is a duplicate (dropped); a higher one is a gap (the
book is invalid until the next ``s``, which the shell obtains by resubscribing). After applying a
frame the book must not be crossed (best bid >= best ask), else it is invalid too.

While a market waits for a fresh snapshot, deltas are dropped as ``STALE`` (they may still come
from the old subscription) without raising a second gap.

Best prices are cached and recomputed only when the best level itself is removed, so a delta
costs O(levels in the delta) in the common case.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import Decimal

from shared.paradex.models import BookUpdate

_ZERO = Decimal(0)


class Verdict(enum.Enum):
    """What to do with one book frame."""

    SNAPSHOT = "snapshot"    # publish; the book is valid again
    APPLIED = "applied"      # publish
    DUPLICATE = "duplicate"  # drop (seq_no <= last)
    STALE = "stale"          # drop (no valid book: waiting for a snapshot)
    GAP = "gap"              # drop, publish BookGap, resubscribe
    CROSSED = "crossed"      # publish the frame, then BookGap, resubscribe


@dataclass(slots=True)
class Check:
    """Outcome of :meth:`BookChecker.check`: the verdict and the sequence numbers involved."""

    verdict: Verdict
    expected: int = 0
    got: int = 0

    @property
    def publish(self) -> bool:
        """True when the frame itself goes to the bus."""
        return self.verdict in (Verdict.SNAPSHOT, Verdict.APPLIED, Verdict.CROSSED)

    @property
    def invalidates(self) -> bool:
        """True when the book became invalid (publish BookGap and resubscribe)."""
        return self.verdict in (Verdict.GAP, Verdict.CROSSED)


@dataclass(slots=True)
class _Side:
    levels: dict[Decimal, Decimal] = field(default_factory=dict)
    best: Decimal | None = None
    is_bid: bool = True

    def clear(self) -> None:
        self.levels.clear()
        self.best = None

    def set(self, price: Decimal, size: Decimal) -> None:
        if size == _ZERO:
            self.remove(price)
            return
        self.levels[price] = size
        best = self.best
        if best is None or (price > best if self.is_bid else price < best):
            self.best = price

    def remove(self, price: Decimal) -> None:
        if self.levels.pop(price, None) is not None and price == self.best:
            levels = self.levels
            self.best = (max(levels) if self.is_bid else min(levels)) if levels else None


@dataclass(slots=True)
class MarketBook:
    """The sequence state and price levels of one market."""

    market: str
    last_seq: int = -1
    valid: bool = False
    bids: _Side = field(default_factory=lambda: _Side(is_bid=True))
    asks: _Side = field(default_factory=lambda: _Side(is_bid=False))

    @property
    def crossed(self) -> bool:
        """True when both sides exist and best bid >= best ask."""
        b, a = self.bids.best, self.asks.best
        return b is not None and a is not None and b >= a

    def apply(self, update: BookUpdate) -> None:
        """Apply the levels of ``update`` (no sequence check)."""
        bids, asks = self.bids, self.asks
        if update.update_type == "s":
            bids.clear()
            asks.clear()
        for group in (update.inserts, update.updates):
            for lv in group:
                (bids if lv.side == "BUY" else asks).set(lv.price, lv.size)
        for lv in update.deletes:
            (bids if lv.side == "BUY" else asks).remove(lv.price)


class BookChecker:
    """Sequence and crossed-book checks for every market of the feed."""

    def __init__(self) -> None:
        self.books: dict[str, MarketBook] = {}

    def book(self, market: str) -> MarketBook:
        """The state of ``market`` (created empty and invalid on first use)."""
        book = self.books.get(market)
        if book is None:
            book = self.books[market] = MarketBook(market)
        return book

    def check(self, update: BookUpdate) -> Check:
        """Check ``update`` against the market's sequence, apply it when in order."""
        book = self.book(update.market)
        seq = update.seq_no
        if update.update_type == "s":
            book.last_seq = seq
            book.apply(update)
            if book.crossed:
                book.valid = False
                return Check(Verdict.CROSSED, seq, seq)
            book.valid = True
            return Check(Verdict.SNAPSHOT, seq, seq)
        if not book.valid:
            return Check(Verdict.STALE, book.last_seq + 1, seq)
        expected = book.last_seq + 1
        if seq < expected:
            return Check(Verdict.DUPLICATE, expected, seq)
        if seq > expected:
            book.valid = False
            return Check(Verdict.GAP, expected, seq)
        book.last_seq = seq
        book.apply(update)
        if book.crossed:
            book.valid = False
            return Check(Verdict.CROSSED, expected, seq)
        return Check(Verdict.APPLIED, expected, seq)

    def reset(self, market: str) -> None:
        """Forget ``market``'s book (before resubscribing): deltas are STALE until a snapshot."""
        book = self.book(market)
        book.valid = False
        book.bids.clear()
        book.asks.clear()

    def reset_all(self) -> None:
        """Forget every book (a new connection starts each with a snapshot)."""
        for market in self.books:
            self.reset(market)
