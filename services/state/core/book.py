"""Order books per market (PROTOCOL.md 2.6): ``s`` replaces, ``d`` applies only at ``seq_no == last+1``.

Each side is a plain ``dict`` price -> size (Decimal keys as the venue sent them), sorted only when
queried; the best price of each side is tracked incrementally so the crossed-book check costs
O(1) per frame except when the best level is removed. A book is served with ``valid=False`` (with
the reason) after a gap, a ``BookGap`` event, or when crossed, until the next ``s`` frame.
"""

from __future__ import annotations

import heapq
from decimal import Decimal

from services.state.core.model import BookTop
from shared.paradex.models.market_data import BookLevel, BookUpdate

Level = tuple[Decimal, Decimal]


class Book:
    """One market's book (mutable; the core owns it)."""

    __slots__ = ("ask", "asks", "bid", "bids", "last_updated_at", "market", "reason", "seq_no", "valid")

    def __init__(self, market: str) -> None:
        self.market = market
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.bid: Decimal | None = None
        self.ask: Decimal | None = None
        self.seq_no = -1
        self.valid = False
        self.reason = "no_snapshot"
        self.last_updated_at = 0

    def apply(self, u: BookUpdate) -> str:
        """Apply one frame; returns ``ok``, ``duplicate``, ``gap``, ``crossed`` or ``invalid``."""
        if u.update_type == "s":
            bids: dict[Decimal, Decimal] = {}
            asks: dict[Decimal, Decimal] = {}
            for lvl in u.inserts:
                if lvl.size:
                    (bids if lvl.side == "BUY" else asks)[lvl.price] = lvl.size
            self.bids, self.asks = bids, asks
            self.bid = max(bids) if bids else None
            self.ask = min(asks) if asks else None
            self.seq_no = u.seq_no
            self.last_updated_at = u.last_updated_at
            self.valid, self.reason = True, ""
            return self._check_crossed()
        seq = u.seq_no
        if not self.valid:
            return "invalid"
        if seq <= self.seq_no:
            return "duplicate"
        if seq != self.seq_no + 1:
            self.valid, self.reason = False, "gap"
            return "gap"
        self.seq_no = seq
        self.last_updated_at = u.last_updated_at
        bids, asks = self.bids, self.asks
        bid, ask = self.bid, self.ask
        lost_bid = lost_ask = False
        levels: list[BookLevel]
        for levels in (u.inserts, u.updates):
            for lvl in levels:
                price, size = lvl.price, lvl.size
                if lvl.side == "BUY":
                    if size:
                        bids[price] = size
                        if bid is None or price > bid:
                            bid = price
                    elif bids.pop(price, None) is not None and price == bid:
                        lost_bid = True
                elif size:
                    asks[price] = size
                    if ask is None or price < ask:
                        ask = price
                elif asks.pop(price, None) is not None and price == ask:
                    lost_ask = True
        for lvl in u.deletes:
            price = lvl.price
            if lvl.side == "BUY":
                if bids.pop(price, None) is not None and price == bid:
                    lost_bid = True
            elif asks.pop(price, None) is not None and price == ask:
                lost_ask = True
        if lost_bid:
            bid = max(bids) if bids else None
        if lost_ask:
            ask = min(asks) if asks else None
        self.bid, self.ask = bid, ask
        return self._check_crossed()

    def _check_crossed(self) -> str:
        bid, ask = self.bid, self.ask
        if bid is not None and ask is not None and bid >= ask:
            self.valid, self.reason = False, "crossed"
            return "crossed"
        return "ok"

    def invalidate(self, reason: str) -> None:
        """Mark the book invalid until the next ``s`` frame (``BookGap`` from the feed)."""
        self.valid, self.reason = False, reason

    def top(self) -> BookTop:
        """Best bid/ask (the levels even when invalid, with ``valid`` saying whether to trust them)."""
        bid, ask = self.bid, self.ask
        return BookTop(market=self.market, seq_no=self.seq_no, valid=self.valid, reason=self.reason,
                       bid=bid, bid_size=None if bid is None else self.bids[bid],
                       ask=ask, ask_size=None if ask is None else self.asks[ask],
                       last_updated_at=self.last_updated_at)

    def depth(self, n: int) -> tuple[list[Level], list[Level]]:
        """The best ``n`` levels of each side (bids descending, asks ascending)."""
        bids = heapq.nlargest(n, self.bids.items()) if n < len(self.bids) else sorted(
            self.bids.items(), reverse=True)
        asks = heapq.nsmallest(n, self.asks.items()) if n < len(self.asks) else sorted(self.asks.items())
        return bids, asks

    def levels(self) -> tuple[list[Level], list[Level]]:
        """Every level, sorted (for the checkpoint)."""
        return sorted(self.bids.items(), reverse=True), sorted(self.asks.items())
