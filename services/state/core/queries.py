"""Read-side queries of the state core; every answer carries the stream sequence it reflects.

Account answers carry the ACCOUNT stream sequence, book/bbo answers the MARKET one.
"""

from __future__ import annotations

from collections.abc import Collection
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec

from services.state.core.model import (
    AccountState,
    Answer,
    BalanceState,
    BookTop,
    FillState,
    OrderState,
    PositionState,
)
from services.state.core.tracking import (
    FeedInfo,
    KillSwitchState,
    Reconciliation,
    SnapshotRun,
    SourceInfo,
)

if TYPE_CHECKING:
    from services.state.core.algos import AlgoTable
    from services.state.core.book import Book
    from services.state.core.counters import Counters
    from services.state.core.entities import EntityTables
    from services.state.core.orders import OrderTable
    from services.state.core.venue_markets import MarketSpecs


class BookView(msgspec.Struct, frozen=True, kw_only=True):
    """A book served to readers: ``valid`` false means do not trust the levels (gap, crossed...)."""

    market: str
    seq_no: int
    valid: bool
    reason: str
    bids: list[tuple[Decimal, Decimal]]
    asks: list[tuple[Decimal, Decimal]]
    last_updated_at: int


class BookHealth(msgspec.Struct, frozen=True, kw_only=True):
    valid: bool
    reason: str
    seq_no: int


class Health(msgspec.Struct, frozen=True, kw_only=True):
    """Per-stream health: last sequences, the feed, book validity, reconciliation, counters."""

    account_seq: int
    market_seq: int
    feed: FeedInfo
    sources: dict[str, SourceInfo]
    books: dict[str, BookHealth]
    last_reconciliation: Reconciliation | None
    snapshots_in_progress: list[str]
    counters: dict[str, int]
    kill_switch: dict[str, KillSwitchState] = msgspec.field(default_factory=dict)
    in_flight: int = 0


class Queries:
    """Mixed into :class:`StateCore`: the query functions for the HTTP/Redis layer."""

    account_seq: int
    market_seq: int
    orders: OrderTable
    entities: EntityTables
    books: dict[str, Book]
    feed: FeedInfo
    sources: dict[str, SourceInfo]
    snapshots: dict[str, SnapshotRun]
    last_reconciliation: Reconciliation | None
    counters: Counters
    market_specs: MarketSpecs
    kill_switch: dict[str, KillSwitchState]
    algos: AlgoTable

    def list_orders(self, status: Collection[str] | str | None = None, market: str | None = None,
                    client_id: str | None = None) -> Answer:
        """Orders (sorted by key), filtered by displayed status(es), market and client id."""
        statuses = {status} if isinstance(status, str) else status
        out: list[OrderState] = []
        for key in sorted(self.orders.orders):
            st = self.orders.orders[key]
            if statuses is not None and st.status not in statuses:
                continue
            if market is not None and st.market != market:
                continue
            if client_id is not None and st.client_id != client_id:
                continue
            out.append(st)
        return Answer(self.account_seq, out)

    def open_orders(self, market: str | None = None) -> Answer:
        """Every order not terminal (including PENDING_NEW / UNKNOWN / PENDING_CANCEL / ...MODIFY)."""
        live = self.orders.live
        out = [self.orders.orders[k] for k in sorted(live)
               if market is None or self.orders.orders[k].market == market]
        return Answer(self.account_seq, out)

    def get_order(self, order_id: str = "", client_id: str = "") -> Answer:
        """One order by exchange id or client id (value ``None`` when unknown)."""
        return Answer(self.account_seq, self.orders.find(order_id, client_id))

    def list_positions(self) -> Answer:
        """Positions by market (flat ones included)."""
        pos = self.entities.positions
        out: list[PositionState] = [pos[m] for m in sorted(pos)]
        return Answer(self.account_seq, out)

    def get_account(self) -> Answer:
        """The account summary (``None`` before the first record)."""
        acct: AccountState | None = self.entities.account
        return Answer(self.account_seq, acct)

    def list_balances(self) -> Answer:
        """Balances by token."""
        bal = self.entities.balances
        out: list[BalanceState] = [bal[t] for t in sorted(bal)]
        return Answer(self.account_seq, out)

    def list_fills(self, market: str | None = None, order_id: str | None = None,
                   limit: int | None = None) -> Answer:
        """Fills ordered by venue time then id (most recent last); ``limit`` keeps the last N."""
        out: list[FillState] = [
            f for f in self.entities.fills.values()
            if (market is None or f.fill.market == market)
            and (order_id is None or f.fill.order_id == order_id)]
        out.sort(key=lambda f: (f.fill.created_at, f.fill.id))
        if limit is not None:
            out = out[-limit:] if limit > 0 else []
        return Answer(self.account_seq, out)

    def list_market_specs(self, status: str | None = None) -> Answer:
        """The venue's market specs by symbol (``status`` filters: open, pre_open, expired, rfq_only)."""
        specs = self.market_specs.specs
        out = [specs[s] for s in sorted(specs) if status is None or specs[s].status == status]
        return Answer(self.account_seq, out)

    def get_market_spec(self, symbol: str) -> Answer:
        """One market's spec (``None`` when the venue did not list it)."""
        return Answer(self.account_seq, self.market_specs.specs.get(symbol))

    def list_algos(self, status: str | None = None, market: str | None = None) -> Answer:
        """TWAP algo orders by id (``status`` NEW|OPEN|CLOSED and ``market`` filter), each with
        its linked child order ids."""
        algos = self.algos.algos
        out = [algos[k] for k in sorted(algos, key=lambda k: (len(k), k))
               if (status is None or algos[k].status == status)
               and (market is None or algos[k].algo.market == market)]
        return Answer(self.account_seq, out)

    def get_algo(self, algo_id: str) -> Answer:
        """One algo order (``None`` when unknown)."""
        return Answer(self.account_seq, self.algos.algos.get(algo_id))

    def get_book(self, market: str, depth: int = 15) -> Answer:
        """The best ``depth`` levels of a market's book (``None`` when never seen)."""
        book = self.books.get(market)
        if book is None:
            return Answer(self.market_seq, None)
        bids, asks = book.depth(depth)
        return Answer(self.market_seq, BookView(
            market=market, seq_no=book.seq_no, valid=book.valid, reason=book.reason, bids=bids,
            asks=asks, last_updated_at=book.last_updated_at))

    def get_bbo(self, market: str) -> Answer:
        """Best bid/ask from the maintained book, with its validity."""
        book = self.books.get(market)
        top: BookTop | None = None if book is None else book.top()
        return Answer(self.market_seq, top)

    def health(self) -> Answer:
        """Health of streams, feed, books and reconciliation (the shell adds ages from its clock)."""
        return Answer(self.account_seq, Health(
            account_seq=self.account_seq, market_seq=self.market_seq,
            feed=msgspec.structs.replace(self.feed),
            sources={k: msgspec.structs.replace(v) for k, v in sorted(self.sources.items())},
            books={m: BookHealth(valid=b.valid, reason=b.reason, seq_no=b.seq_no)
                   for m, b in sorted(self.books.items())},
            last_reconciliation=self.last_reconciliation,
            snapshots_in_progress=sorted(self.snapshots), counters=self.counters.snapshot(),
            kill_switch={k: msgspec.structs.replace(v) for k, v in sorted(self.kill_switch.items())},
            in_flight=len(self.orders.inflight)))

    def current_entities(self) -> list[tuple[str, str, Any]]:
        """Every entity the shell keeps in Redis, as ``(kind, key, record)``, as of now.

        The same kinds and keys as the changes :meth:`apply` reports (orders, fills, positions,
        balances, the account, the feed, the last reconciliation, markets): a full rewrite of
        Redis writes exactly these.
        """
        ent = self.entities
        out: list[tuple[str, str, Any]] = [("order", k, v) for k, v in self.orders.orders.items()]
        out += [("fill", k, v) for k, v in ent.fills.items()]
        out += [("position", k, v) for k, v in ent.positions.items()]
        out += [("balance", k, v) for k, v in ent.balances.items()]
        if ent.account is not None:
            out.append(("account", "account", ent.account))
        if self.feed.last_change_seq:  # set whenever a feed change was reported
            out.append(("feed", "private", msgspec.structs.replace(self.feed)))
        if self.last_reconciliation is not None:
            out.append(("reconciliation", "last", self.last_reconciliation))
        out += [("market_spec", k, v) for k, v in self.market_specs.specs.items()]
        out += [("algo", k, v) for k, v in self.algos.algos.items()]
        return out

    def metrics(self) -> dict[str, int]:
        """Every counter (events by kind and source, stale REST suppressed, corrections...)."""
        return self.counters.snapshot()
