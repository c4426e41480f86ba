"""Market-data handlers of the state core (MARKET stream): books, BBO, trades, summary, funding."""

from __future__ import annotations

from typing import Any

from services.state.core.book import Book
from services.state.core.counters import Counters
from services.state.core.model import Change, Result
from shared.bus.events import BboEvent, BookEvent, BookGap, FundingEvent, SummaryEvent, TradeEvent
from shared.paradex.models.market_data import Bbo, FundingData, MarketSummary, Trade


class MarketHandlers:
    """Mixed into :class:`StateCore`: one handler per market-data event type."""

    books: dict[str, Book]
    bbo: dict[str, Bbo]
    trades: dict[str, list[Trade]]
    summary: dict[str, MarketSummary]
    funding: dict[str, FundingData]
    counters: Counters
    max_trades: int

    # ------------------------------------------------------------------------------ market data

    def _book(self, seq: int, ev: BookEvent, res: Result) -> None:
        u = ev.book
        book = self.books.get(u.market)
        if book is None:
            book = self.books[u.market] = Book(u.market)
        outcome = book.apply(u)
        if outcome == "ok":
            res.changes.append(Change("book", u.market, book.top()))
            return
        self.counters.bump(f"book_{outcome}")
        if outcome in ("duplicate", "invalid"):
            res.dropped = outcome
        else:
            res.changes.append(Change("book", u.market, book.top()))

    def _book_gap(self, seq: int, ev: BookGap, res: Result) -> None:
        book = self.books.get(ev.market)
        if book is None:
            book = self.books[ev.market] = Book(ev.market)
        book.invalidate(ev.reason or "gap")
        self.counters.bump("book_gap_events")
        res.changes.append(Change("book", ev.market, book.top()))

    def _bbo(self, seq: int, ev: BboEvent, res: Result) -> None:
        b = ev.bbo
        cur = self.bbo.get(b.market)
        _latest(self.bbo, "bbo", b.market, b, cur is not None and b.seq_no < cur.seq_no, res)

    def _trade(self, seq: int, ev: TradeEvent, res: Result) -> None:
        t = ev.trade
        trades = self.trades.setdefault(t.market, [])
        trades.append(t)
        if len(trades) > self.max_trades:
            del trades[0]
        res.changes.append(Change("trade", t.market, t))

    def _summary(self, seq: int, ev: SummaryEvent, res: Result) -> None:
        s = ev.summary
        cur = self.summary.get(s.symbol)
        _latest(self.summary, "summary", s.symbol, s, cur is not None and s.created_at < cur.created_at, res)

    def _funding(self, seq: int, ev: FundingEvent, res: Result) -> None:
        f = ev.funding
        cur = self.funding.get(f.market)
        _latest(self.funding, "funding", f.market, f, cur is not None and f.created_at < cur.created_at, res)


def _latest(table: dict[str, Any], kind: str, key: str, value: Any, older: bool, res: Result) -> None:
    """Keep ``value`` as the latest of ``kind`` for ``key`` unless it is ``older`` (then: dropped)."""
    if older:
        res.dropped = "stale"
        return
    table[key] = value
    res.changes.append(Change(kind, key, value))
