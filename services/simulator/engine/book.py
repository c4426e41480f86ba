"""Price-time priority limit order book of one market, with delta/snapshot frames.

Every frame that changes levels gets ``seq_no = previous + 1``; sizes in frames are absolute.
Changes are recorded as they happen and turned into one frame by :meth:`OrderBook.flush`.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterator
from decimal import Decimal

from .events import BboUpdate, BookDelta, BookLevel
from .state import Order
from .types import ZERO, Side


class Level:
    """Orders resting at one price, oldest first, and their total remaining size."""

    __slots__ = ("orders", "price", "size")

    def __init__(self, price: Decimal) -> None:
        self.price = price
        self.orders: deque[Order] = deque()
        self.size = ZERO


class BookSide:
    """One side of the book. Prices are kept sorted by *key*: price for asks, -price for bids,
    so the best level is always ``keys[0]``; ``_at`` maps each key to its level (the best level
    is one lookup of a stored key: no Decimal negated and hashed anew per call)."""

    __slots__ = ("_at", "_bids", "_keys", "levels", "side")

    def __init__(self, side: Side) -> None:
        self.side = side
        self._bids = side is Side.BUY
        self.levels: dict[Decimal, Level] = {}
        self._keys: list[Decimal] = []
        self._at: dict[Decimal, Level] = {}

    def _key(self, price: Decimal) -> Decimal:
        return -price if self._bids else price

    def best(self) -> Level | None:
        keys = self._keys
        return self._at[keys[0]] if keys else None

    def iter_levels(self) -> Iterator[Level]:
        """Levels best first."""
        at = self._at
        for k in self._keys:
            yield at[k]

    def add(self, order: Order) -> Level:
        level = self.levels.get(order.price)
        if level is None:
            level = self.levels[order.price] = Level(order.price)
            key = self._key(order.price)
            self._at[key] = level
            insort(self._keys, key)
        level.orders.append(order)
        level.size += order.remaining_size
        return level

    def drop_level_if_empty(self, level: Level) -> None:
        if not level.orders:
            del self.levels[level.price]
            key = self._key(level.price)
            del self._at[key]
            del self._keys[bisect_left(self._keys, key)]

    def remove(self, order: Order) -> None:
        """Take a resting order out (cancel)."""
        level = self.levels[order.price]
        level.orders.remove(order)
        level.size -= order.remaining_size
        self.drop_level_if_empty(level)

    def __len__(self) -> int:
        return len(self._keys)


class OrderBook:
    """Both sides of one market plus its book sequence and pending frame changes."""

    __slots__ = ("_dirty", "_last_bbo", "asks", "bids", "last_updated_at", "market", "seq_no")

    def __init__(self, market: str) -> None:
        self.market = market
        self.bids = BookSide(Side.BUY)
        self.asks = BookSide(Side.SELL)
        self.seq_no = 0
        self.last_updated_at = 0
        #: (side, price) -> level size before the first change of the current frame (None: absent).
        self._dirty: dict[tuple[Side, Decimal], Decimal | None] = {}
        self._last_bbo: tuple[Decimal | None, Decimal, Decimal | None, Decimal] = (None, ZERO, None, ZERO)

    def side(self, side: Side) -> BookSide:
        return self.bids if side is Side.BUY else self.asks

    def _note(self, side: Side, price: Decimal, before: Decimal | None) -> None:
        self._dirty.setdefault((side, price), before)

    def level_size(self, side: Side, price: Decimal) -> Decimal | None:
        level = self.side(side).levels.get(price)
        return level.size if level is not None else None

    def rest(self, order: Order) -> None:
        """Put ``order`` at the back of its price level."""
        self._note(order.side, order.price, self.level_size(order.side, order.price))
        self.side(order.side).add(order)

    def unrest(self, order: Order) -> None:
        """Remove a resting ``order`` (cancel, expire)."""
        self._note(order.side, order.price, self.level_size(order.side, order.price))
        self.side(order.side).remove(order)

    def consume(self, level: Level, qty: Decimal, side: Side) -> None:
        """Reduce the head order of ``level`` by ``qty`` (a fill); the caller already
        decremented the order's ``remaining_size``. Drops the order when it is done."""
        self._note(side, level.price, level.size)
        level.size -= qty
        if level.orders[0].remaining_size == ZERO:
            level.orders.popleft()
            self.side(side).drop_level_if_empty(level)

    def best_bid(self) -> Decimal | None:
        level = self.bids.best()
        return level.price if level else None

    def best_ask(self) -> Decimal | None:
        level = self.asks.best()
        return level.price if level else None

    def crosses(self, side: Side, price: Decimal) -> bool:
        """Would a ``side`` order at ``price`` trade against the opposite side?"""
        if side is Side.BUY:
            ask = self.asks.best()
            return ask is not None and price >= ask.price
        bid = self.bids.best()
        return bid is not None and price <= bid.price

    def is_crossed(self) -> bool:
        bid, ask = self.bids.best(), self.asks.best()
        return bid is not None and ask is not None and bid.price >= ask.price

    def flush(self, now_ms: int) -> BookDelta | None:
        """Close the current frame: one delta with seq_no + 1, or None if no level changed."""
        if not self._dirty:
            return None
        inserts: list[BookLevel] = []
        updates: list[BookLevel] = []
        deletes: list[BookLevel] = []
        bid_levels, ask_levels = self.bids.levels, self.asks.levels
        for (side, price), before in self._dirty.items():
            level = (bid_levels if side is Side.BUY else ask_levels).get(price)
            after = level.size if level is not None else None
            if before is None:
                if after is not None:
                    inserts.append(BookLevel(side, price, after))
            elif after is None:
                deletes.append(BookLevel(side, price, ZERO))
            elif after != before:
                updates.append(BookLevel(side, price, after))
        self._dirty.clear()
        if not (inserts or updates or deletes):
            return None
        self.seq_no += 1
        self.last_updated_at = max(self.last_updated_at, now_ms)
        bid, ask = self.top()
        return BookDelta(
            market=self.market,
            seq_no=self.seq_no,
            last_updated_at=self.last_updated_at,
            update_type="d",
            inserts=tuple(inserts),
            updates=tuple(updates),
            deletes=tuple(deletes),
            best_bid=bid,
            best_ask=ask,
        )

    def top(self) -> tuple[BookLevel | None, BookLevel | None]:
        """The best level of each side (None when a side is empty)."""
        bid, ask = self.bids.best(), self.asks.best()
        return (
            BookLevel(Side.BUY, bid.price, bid.size) if bid else None,
            BookLevel(Side.SELL, ask.price, ask.size) if ask else None,
        )

    def levels(self, side: Side, depth: int | None = None) -> list[BookLevel]:
        """Aggregated levels of one side, best first (all when ``depth`` is None)."""
        out: list[BookLevel] = []
        for level in self.side(side).iter_levels():
            if depth is not None and len(out) >= depth:
                break
            out.append(BookLevel(side, level.price, level.size))
        return out

    def snapshot(self, depth: int | None = None) -> BookDelta:
        """An ``"s"`` frame at the current seq_no (all levels as inserts)."""
        bid, ask = self.top()
        return BookDelta(
            market=self.market,
            seq_no=self.seq_no,
            last_updated_at=self.last_updated_at,
            update_type="s",
            inserts=tuple(self.levels(Side.BUY, depth) + self.levels(Side.SELL, depth)),
            updates=(),
            deletes=(),
            best_bid=bid,
            best_ask=ask,
        )

    def bbo(self) -> BboUpdate:
        return self._bbo(self.bids.best(), self.asks.best())

    def _bbo(self, bid: Level | None, ask: Level | None) -> BboUpdate:
        return BboUpdate(
            market=self.market,
            seq_no=self.seq_no,
            last_updated_at=self.last_updated_at,
            bid=bid.price if bid else None,
            bid_size=bid.size if bid else ZERO,
            ask=ask.price if ask else None,
            ask_size=ask.size if ask else ZERO,
        )

    def bbo_if_changed(self) -> BboUpdate | None:
        """A BBO event when the top of book (price or size) changed since the last one."""
        bid, ask = self.bids.best(), self.asks.best()
        top = (
            bid.price if bid else None,
            bid.size if bid else ZERO,
            ask.price if ask else None,
            ask.size if ask else ZERO,
        )
        if top == self._last_bbo:
            return None
        self._last_bbo = top
        return self._bbo(bid, ask)
