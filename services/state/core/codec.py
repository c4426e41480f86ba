"""Checkpoint of the state core: ``dump`` -> bytes, ``load`` <- bytes (for Redis).

Deterministic: JSON with sorted keys and struct fields (msgspec ``order="sorted"``, which also
sorts sets), Decimals as their exact strings (``str(Decimal)``, as the venue sent them or as
computed by exact arithmetic, so the same events always give the same strings). Folding the same
events into a fresh core gives byte-identical dumps, and ``load(dump())`` continues identically.

A dump can be produced in small steps (:func:`dump_steps`): the small parts are encoded at once,
the big maps (orders, by_client, fills) are copied shallowly (their records are frozen, so the
copy is a consistent view) and encoded a chunk at a time, optionally reusing the encoded entry of
every record unchanged since the previous dump (:class:`DumpCache`). The bytes are the same as
encoding the whole :class:`Checkpoint` at once (the shell steps it between event batches).
"""

from __future__ import annotations

from collections.abc import Generator
from decimal import Decimal
from typing import Any

import msgspec

from services.state.core.algos import AlgoState
from services.state.core.balances import Chain
from services.state.core.book import Book
from services.state.core.core import StateConfig, StateCore
from services.state.core.gaps import FillTally, NetTally, Suspect
from services.state.core.model import (
    AccountState,
    BalanceState,
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
from shared.bus.events import MarketSpec
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
    # retention (defaults: a checkpoint from before retention loads as "nothing evicted yet")
    venue_now: int = 0
    retention_queue: list[tuple[int, int, str]] = msgspec.field(default_factory=list)
    order_tombstones: dict[str, tuple[int, int]] = msgspec.field(default_factory=dict)
    fill_tombstones: dict[str, int] = msgspec.field(default_factory=dict)
    # version 2 (defaults: an older checkpoint loads as "nothing recorded yet")
    kill_switch: dict[str, KillSwitchState] = msgspec.field(default_factory=dict)
    balance_chains: dict[str, Chain] = msgspec.field(default_factory=dict)
    suspects: dict[str, Suspect] = msgspec.field(default_factory=dict)
    fill_tallies: dict[str, FillTally] = msgspec.field(default_factory=dict)
    net_tallies: dict[str, NetTally] = msgspec.field(default_factory=dict)
    order_count_floor: int = -1  # the latest order / fill time evicted for count (-1: none)
    fill_count_floor: int = -1
    # venue market specs (default: a checkpoint from before them has none yet)
    market_specs: dict[str, MarketSpec] = msgspec.field(default_factory=dict)
    market_specs_as_of: int = 0
    # TWAP algo orders (default: a checkpoint from before them has none)
    algos: dict[str, AlgoState] = msgspec.field(default_factory=dict)


_ENCODER = msgspec.json.Encoder(order="sorted")
_DECODER = msgspec.json.Decoder(Checkpoint)
_BIG = ("by_client", "fills", "orders")
_SORT_RUN = 4096
_MARK = msgspec.Raw(b"\0")


class DumpCache:
    """Encoded ``"key":value`` entries of the big maps from the previous dump, by record identity.

    Records are frozen and replaced on every change, so an entry whose record ``is`` the current
    one is still exact. Only the entries of the latest dump are kept. (Two plain dicts per map,
    not one of tuples: no per-entry object for the garbage collector to scan.)
    """

    def __init__(self) -> None:
        self.maps: dict[str, tuple[dict[str, object], dict[str, bytes]]] = {}


def checkpoint_of(core: StateCore) -> Checkpoint:
    """The :class:`Checkpoint` of ``core`` (references to its live tables, not copies)."""
    books = {}
    for m, b in core.books.items():
        bids, asks = b.levels()
        books[m] = BookCheckpoint(market=m, seq_no=b.seq_no, valid=b.valid, reason=b.reason,
                                  last_updated_at=b.last_updated_at, bids=bids, asks=asks)
    ent = core.entities
    ret = core.retention
    cp = Checkpoint(
        version=VERSION, config=core.config, account_seq=core.account_seq,
        market_seq=core.market_seq, orders=core.orders.orders, by_client=core.orders.by_client,
        positions=ent.positions, account=ent.account, balances=ent.balances, fills=ent.fills,
        busted_pending=ent.busted_pending, books=books, bbo=core.bbo, trades=core.trades,
        summary=core.summary, funding=core.funding, feed=core.feed, sources=core.sources,
        snapshots=core.snapshots, last_reconciliation=core.last_reconciliation,
        counters=core.counters.values, venue_now=ret.now, retention_queue=ret.queue,
        order_tombstones=ret.order_tombs, fill_tombstones=ret.fill_tombs,
        kill_switch=core.kill_switch, balance_chains=ent.book.chains, suspects=core.gaps.suspects,
        fill_tallies=core.gaps.tallies, net_tallies=core.gaps.nets,
        order_count_floor=ret.order_floor, fill_count_floor=ret.fill_floor,
        market_specs=core.market_specs.specs, market_specs_as_of=core.market_specs.as_of_ms,
        algos=core.algos.algos)
    return cp


def dump_steps(core: StateCore, cache: DumpCache | None = None,
               chunk: int = 512) -> Generator[None, None, list[bytes]]:
    """Dump ``core`` as of this call in steps; returns the dump as segments (join them for :func:`dump`).

    The first ``next()`` captures the state (encodes the small parts, copies the big maps); the
    core may change between the following steps without affecting the result. Each later step
    encodes (or takes from ``cache``) at most ``chunk`` big-map entries, and each segment holds at
    most ``chunk`` entries, so no step copies the whole dump.
    """
    cp = checkpoint_of(core)
    parts: dict[str, Any] = {}
    big: dict[str, dict[str, Any]] = {}
    for name in cp.__struct_fields__:
        if name in _BIG:
            big[name] = dict(getattr(cp, name))  # a dict copy allocates no per-entry objects
            parts[name] = _MARK
        else:
            parts[name] = msgspec.Raw(_ENCODER.encode(getattr(cp, name)))
    # JSON output never holds a raw NUL byte: the marks split the frame exactly at the big maps.
    frame = _ENCODER.encode(Checkpoint(**parts)).split(b"\0")
    yield
    maps = cache.maps if cache is not None else {}
    out = [frame[0]]
    for name, tail in zip(sorted(big), frame[1:], strict=True):  # struct fields encode sorted
        items = list(big.pop(name).items())
        old_values, old_pieces = maps.get(name, ({}, {}))
        new_values: dict[str, object] = {}
        new_pieces: dict[str, bytes] = {}
        runs: list[tuple[str, Any]] = []
        for i in range(0, len(items), _SORT_RUN):
            runs += sorted(items[i:i + _SORT_RUN])  # keys are unique: tuples compare by key
            yield
        runs.sort()  # timsort merges the sorted runs in C (cheap)
        yield
        old_value, old_piece, enc, missing = old_values.get, old_pieces.__getitem__, _ENCODER.encode, _MARK
        sep = b"{"
        for i in range(0, len(runs), chunk):
            part = runs[i:i + chunk]
            pieces = [old_piece(k) if old_value(k, missing) is v else b"%s:%s" % (enc(k), enc(v))
                      for k, v in part]
            new_values.update(part)
            new_pieces.update(zip([k for k, _ in part], pieces, strict=True))
            out.append(sep + b",".join(pieces))
            sep = b","
            yield
        out.append(b"}" if sep == b"," else b"{}")
        out.append(tail)
        if cache is not None:
            maps[name] = (new_values, new_pieces)
        yield
    return out


def dump(core: StateCore) -> bytes:
    """The deterministic checkpoint bytes of ``core`` (state and both stream sequences)."""
    steps = dump_steps(core, chunk=1 << 30)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return b"".join(done.value)


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
    core.orders.rebuild_indexes()
    ent = core.entities
    ent.positions, ent.account, ent.book.balances = cp.positions, cp.account, cp.balances
    ent.book.chains = cp.balance_chains
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
    ret = core.retention
    ret.now = cp.venue_now
    ret.queue.extend(cp.retention_queue)  # in place: the core holds this list (already a heap)
    ret.order_tombs, ret.fill_tombs = cp.order_tombstones, cp.fill_tombstones
    core.kill_switch = cp.kill_switch
    gaps = core.gaps
    gaps.suspects, gaps.tallies, gaps.nets = cp.suspects, cp.fill_tallies, cp.net_tallies
    gaps.rebuild_queue()
    ret.order_floor, ret.fill_floor = cp.order_count_floor, cp.fill_count_floor
    core.market_specs.specs, core.market_specs.as_of_ms = cp.market_specs, cp.market_specs_as_of
    core.algos.restore(cp.algos)
    return core
