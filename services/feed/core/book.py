"""Order-book sequence checking per market (PROTOCOL.md 2.6, DESIGN.md "Order book").

Rules: an ``s`` frame replaces the book and resets the sequence; a ``d`` frame applies only if
``seq_no == last + 1``; a lower ``seq_no`` is a duplicate (dropped); a higher one is a gap (the
book is invalid until the next ``s``, which the shell obtains by resubscribing). After applying a
frame the book must not be crossed (best bid >= best ask), else it is invalid too.

While a market waits for a fresh snapshot, deltas are dropped as ``STALE`` (they may still come
from the old subscription) without raising a second gap.

Prices are kept as exact *keys* in units of 1e-8 (:func:`price_key`): an ``int`` (the SBE
mantissa itself, or a JSON decimal string scaled by 10**8 without building a Decimal), or, for a
price with more than 8 decimals, the scaled ``Decimal`` (ints and Decimals compare and hash
exactly with each other, so the order stays exact; never a float). A side's levels map key ->
size key; only "size is zero" matters here.

Best prices are cached and recomputed only when the best level itself is removed, so a delta
costs O(levels in the delta) in the common case.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal

from shared.paradex.models import BookUpdate

PriceKey = int | Decimal
"""An exact price (or size) in units of 1e-8: an int, or a Decimal when it has more decimals."""

_WIDE = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)  # scaleb stays exact


def price_key(value: Decimal) -> PriceKey:
    """The exact key of a decimal price or size: ``value * 10**8``, as an int when integral."""
    scaled = value.scaleb(8, _WIDE)
    return int(scaled) if scaled == scaled.to_integral_value(context=_WIDE) else scaled


class Verdict(enum.Enum):
    """What to do with one book frame."""

    SNAPSHOT = "snapshot"    # publish; the book is valid again
    APPLIED = "applied"      # publish
    DUPLICATE = "duplicate"  # drop (seq_no <= last)
    STALE = "stale"          # drop (no valid book: waiting for a snapshot)
    GAP = "gap"              # drop, publish BookGap, resubscribe
    CROSSED = "crossed"      # publish the frame, then BookGap, resubscribe


@dataclass(frozen=True, slots=True)
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
    levels: dict[PriceKey, PriceKey] = field(default_factory=dict)
    best: PriceKey | None = None
    is_bid: bool = True

    def clear(self) -> None:
        self.levels.clear()
        self.best = None

    def set(self, price: PriceKey, size: PriceKey) -> None:
        if size == 0:
            self.remove(price)
            return
        self.levels[price] = size
        best = self.best
        if best is None or (price > best if self.is_bid else price < best):
            self.best = price

    def apply_flat(self, flat: Sequence[PriceKey]) -> None:
        """Apply ``(price, size, price, size...)`` in order: size 0 removes the level."""
        levels = self.levels
        best = self.best
        is_bid = self.is_bid
        for i in range(0, len(flat), 2):
            price, size = flat[i], flat[i + 1]
            if size == 0:
                if levels.pop(price, None) is not None and price == best:
                    best = (max(levels) if is_bid else min(levels)) if levels else None
                continue
            levels[price] = size
            if best is None or (price > best if is_bid else price < best):
                best = price
        self.best = best

    def remove(self, price: PriceKey) -> None:
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
        bids, asks = flat_levels(update)
        self.apply_flat(update.update_type == "s", bids, asks)

    def apply_flat(self, snapshot: bool, bids: Sequence[PriceKey], asks: Sequence[PriceKey]) -> None:
        """Apply flat ``(price, size, ...)`` key sequences per side (see :func:`flat_levels`)."""
        if snapshot:
            self.bids.clear()
            self.asks.clear()
        if bids:
            self.bids.apply_flat(bids)
        if asks:
            self.asks.apply_flat(asks)


def flat_levels(update: BookUpdate) -> tuple[list[PriceKey], list[PriceKey]]:
    """The levels of ``update`` as flat ``(price, size, ...)`` keys per side, in application
    order: inserts and updates set price -> size (size 0 removes), then deletes (size 0)."""
    bids: list[PriceKey] = []
    asks: list[PriceKey] = []
    for group in (update.inserts, update.updates):
        for lv in group:
            (bids if lv.side == "BUY" else asks).extend((price_key(lv.price), price_key(lv.size)))
    for lv in update.deletes:
        (bids if lv.side == "BUY" else asks).extend((price_key(lv.price), 0))
    return bids, asks


APPLIED = Check(Verdict.APPLIED)
"""The (shared, frozen) outcome of an in-order delta: the hot path allocates nothing."""


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
        bids, asks = flat_levels(update)
        return self.check_flat(update.market, update.seq_no, update.update_type == "s", bids, asks)

    def check_flat(self, market: str, seq: int, snapshot: bool, bids: Sequence[PriceKey],
                   asks: Sequence[PriceKey]) -> Check:
        """:meth:`check` for a frame already reduced to flat per-side keys (:func:`flat_levels`;
        the fast paths build them straight from SBE mantissas or JSON strings)."""
        book = self.books.get(market)
        if book is None:
            book = self.book(market)
        if snapshot:
            book.last_seq = seq
            book.apply_flat(True, bids, asks)
            if book.crossed:
                book.valid = False
                return Check(Verdict.CROSSED, seq, seq)
            book.valid = True
            return Check(Verdict.SNAPSHOT, seq, seq)
        if not book.valid:
            return Check(Verdict.STALE, book.last_seq + 1, seq)
        expected = book.last_seq + 1
        if seq != expected:
            if seq < expected:
                return Check(Verdict.DUPLICATE, expected, seq)
            book.valid = False
            return Check(Verdict.GAP, expected, seq)
        book.last_seq = seq
        # a side with one level set (the usual delta) is applied inline: no call, no range
        side = book.bids
        if len(bids) == 2 and bids[1]:
            price = bids[0]
            side.levels[price] = bids[1]
            b = side.best
            if b is None or price > b:
                b = side.best = price
        else:
            if bids:
                side.apply_flat(bids)
            b = side.best
        side = book.asks
        if len(asks) == 2 and asks[1]:
            price = asks[0]
            side.levels[price] = asks[1]
            a = side.best
            if a is None or price < a:
                a = side.best = price
        else:
            if asks:
                side.apply_flat(asks)
            a = side.best
        if b is not None and a is not None and b >= a:
            book.valid = False
            return Check(Verdict.CROSSED, expected, seq)
        return APPLIED

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
