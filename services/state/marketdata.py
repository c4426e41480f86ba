"""Market data in the state shell: core NATS in, applied at once, Redis writes coalesced.

Market data arrives on core NATS subjects (both feed modes publish there), is numbered locally and
applied to the core at once; its Redis writes are coalesced per (kind, market), latest wins, and
flushed every ``md_flush_interval_s`` (book rates can exceed what Redis round trips allow, and only
the latest book matters). SSE clients get every flushed value. One replica writes market data to
Redis (``RedisWriter.write_market``); when a replica becomes that writer (or Redis was wiped) it
writes every market again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from services.state.core import INVALID, StateCore
from services.state.encode import Encoded, encode
from services.state.hub import ChangeHub
from services.state.redis_writer import RedisWriter
from shared.bus import decode_event
from shared.bus.events import BboEvent, BookEvent, BookGap, FundingEvent, SummaryEvent, TradeEvent
from shared.bus.publish import market_of

log = logging.getLogger("state.market")

KIND = {BookEvent: "book", BookGap: "book", BboEvent: "venue_bbo", TradeEvent: "trade",
        SummaryEvent: "summary", FundingEvent: "funding"}
DeadLetter = Callable[[str, int, bytes, str], Awaitable[None]]


class MarketData:
    """Applies market-data messages to the core and flushes their latest values."""

    def __init__(self, core: Callable[[], StateCore], writer: RedisWriter, hub: ChangeHub,
                 dead_letter: DeadLetter, *, book_depth: int, flush_interval_s: float) -> None:
        self.core = core
        self.writer = writer
        self.hub = hub
        self.dead_letter = dead_letter
        self.book_depth = book_depth
        self.flush_interval_s = flush_interval_s
        self.events = 0
        self.decode_errors = 0
        self.apply_errors = 0
        self.last_wall = 0.0
        self._dirty: dict[tuple[str, str], None] = {}

    async def on_message(self, msg: Any) -> None:
        """The core NATS callback of ``MARKET_WILDCARD``."""
        try:
            event = decode_event(msg.data)
            kind = KIND[type(event)]
            market = market_of(event)
        except Exception as exc:
            self.decode_errors += 1
            await self.dead_letter(msg.subject, 0, msg.data, f"decode: {exc}")
            return
        self.events += 1
        core = self.core()
        try:
            res = core.apply(core.market_seq + 1, event)
        except Exception as exc:
            self.apply_errors += 1
            await self.dead_letter(msg.subject, 0, msg.data, f"apply: {exc!r}")
            return
        if res.dropped.startswith(INVALID):  # the core's guard refused its venue record
            await self.dead_letter(msg.subject, 0, msg.data, res.dropped)
            return
        self.last_wall = time.time()
        if res.changes:
            self._dirty[(kind, market)] = None
            if kind == "book":
                self._dirty[("bbo", market)] = None

    def value(self, kind: str, market: str) -> Any:
        """The current value behind ``pdx:md:<kind>:<market>`` (same as HTTP serves)."""
        core = self.core()
        if kind == "book":
            return core.get_book(market, self.book_depth).value
        if kind == "bbo":
            return core.get_bbo(market).value
        if kind == "venue_bbo":
            return core.bbo.get(market)
        if kind == "trade":
            trades = core.trades.get(market)
            return trades[-1] if trades else None
        if kind == "summary":
            return core.summary.get(market)
        return core.funding.get(market)

    def mark_all(self) -> None:
        """Every market's values are written at the next flush."""
        core = self.core()
        for kind, table in (("book", core.books), ("bbo", core.books), ("venue_bbo", core.bbo),
                            ("trade", core.trades), ("summary", core.summary), ("funding", core.funding)):
            for market in table:
                self._dirty[(kind, market)] = None

    async def flush(self) -> None:
        """Publish and write the latest value of everything that changed since the last flush."""
        if not self._dirty:
            return
        dirty, self._dirty = self._dirty, {}
        seq = self.core().market_seq
        values = [(kind, market, seq, encode(self.value(kind, market))) for kind, market in dirty]
        self.hub.publish(Encoded("market", kind, market, seq, value, False, None)
                         for kind, market, seq, value in values)
        try:
            got = await self.writer.write_market(values)
        except Exception:
            for key in dirty:  # Redis down: write them with the next flush that succeeds
                self._dirty.setdefault(key, None)
            raise
        if got == 2:
            self.mark_all()  # just became the writer (or Redis was wiped): all of it

    async def flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval_s)
            try:
                await self.flush()
            except Exception as exc:
                log.error("market flush failed: %r", exc)
