"""Checkpoint of the state core: ``dump`` -> bytes, ``load`` <- bytes (for Redis).

Deterministic: JSON with sorted keys and struct fields (msgspec ``order="sorted"``, which also
sorts sets), Decimals as their exact strings (``str(Decimal)``, as the venue sent them or as
computed by exact arithmetic, so the same events always give the same strings). Folding the same
events into a fresh core gives byte-identical dumps, and ``load(dump())`` continues identically.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from services.state.core.book import Book
from services.state.core.core import StateConfig, StateCore
from services.state.core.model import (
    TERMINAL,
    AccountState,
    BalanceState,
    FillState,
    OrderState,
    PositionState,
)
from services.state.core.tracking import FeedInfo, Reconciliation, SnapshotRun, SourceInfo
from shared.errors import DecodeError
from shared.paradex.models.common import validation_error
from shared.paradex.models.market_data import Bbo, FundingData, MarketSummary, Trade

VERSION = 1


class BookCheckpoint(msgspec.Struct, kw_only=True):
    market: str
    seq_no: int
    valid: bool
    reason: str
    last_updated_at: int
    bids: list[tuple[Decimal, Decimal]]
    asks: list[tuple[Decimal, Decimal]]


class Checkpoint(msgspec.Struct, kw_only=True):
    """Everything the fold holds (the derived indexes are rebuilt on load)."""

    version: int
    config: StateConfig
    account_seq: int
    market_seq: int
    orders: dict[str, OrderState]
    by_client: dict[str, str]
    positions: dict[str, PositionState]
    account: AccountState | None
    balances: dict[str, BalanceState]
    fills: dict[str, FillState]
    busted_pending: set[str]
    books: dict[str, BookCheckpoint]
    bbo: dict[str, Bbo]
    trades: dict[str, list[Trade]]
    summary: dict[str, MarketSummary]
    funding: dict[str, FundingData]
    feed: FeedInfo
    sources: dict[str, SourceInfo]
    snapshots: dict[str, SnapshotRun]
    last_reconciliation: Reconciliation | None
    counters: dict[str, int]


_ENCODER = msgspec.json.Encoder(order="sorted")
_DECODER = msgspec.json.Decoder(Checkpoint)


def dump(core: StateCore) -> bytes:
    """The deterministic checkpoint bytes of ``core`` (state and both stream sequences)."""
    books = {}
    for m, b in core.books.items():
        bids, asks = b.levels()
        books[m] = BookCheckpoint(market=m, seq_no=b.seq_no, valid=b.valid, reason=b.reason,
                                  last_updated_at=b.last_updated_at, bids=bids, asks=asks)
    ent = core.entities
    cp = Checkpoint(
        version=VERSION, config=core.config, account_seq=core.account_seq,
        market_seq=core.market_seq, orders=core.orders.orders, by_client=core.orders.by_client,
        positions=ent.positions, account=ent.account, balances=ent.balances, fills=ent.fills,
        busted_pending=ent.busted_pending, books=books, bbo=core.bbo, trades=core.trades,
        summary=core.summary, funding=core.funding, feed=core.feed, sources=core.sources,
        snapshots=core.snapshots, last_reconciliation=core.last_reconciliation,
        counters=core.counters.values)
    return _ENCODER.encode(cp)


def load(data: bytes) -> StateCore:
    """A core restored from :func:`dump` bytes; raises DecodeError on a bad or foreign checkpoint."""
    try:
        cp = _DECODER.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise validation_error("state checkpoint", exc) from exc
    if cp.version != VERSION:
        raise DecodeError("state checkpoint", f"unsupported version {cp.version}", field="$.version")
    core = StateCore(cp.config)
    core.account_seq, core.market_seq = cp.account_seq, cp.market_seq
    core.orders.orders = cp.orders
    core.orders.by_client = cp.by_client
    core.orders.live = {k for k, st in cp.orders.items() if st.status not in TERMINAL}
    ent = core.entities
    ent.positions, ent.account, ent.balances = cp.positions, cp.account, cp.balances
    ent.fills, ent.busted_pending = cp.fills, cp.busted_pending
    for m, bc in cp.books.items():
        book = Book(m)
        book.bids, book.asks = dict(bc.bids), dict(bc.asks)
        book.bid = bc.bids[0][0] if bc.bids else None
        book.ask = bc.asks[0][0] if bc.asks else None
        book.seq_no, book.valid, book.reason = bc.seq_no, bc.valid, bc.reason
        book.last_updated_at = bc.last_updated_at
        core.books[m] = book
    core.bbo, core.trades, core.summary, core.funding = cp.bbo, cp.trades, cp.summary, cp.funding
    core.feed, core.sources, core.snapshots = cp.feed, cp.sources, cp.snapshots
    core.last_reconciliation = cp.last_reconciliation
    core.counters.values.update(cp.counters)
    return core
