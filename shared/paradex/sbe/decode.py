"""SBE frame → the same msgspec models the JSON feed decodes to (``shared.paradex.models``).

Mapping (JSON field ← SBE field), timestamps µs → ms by floor division (``ts // 1000``):

- Trade: ``id`` ← ``tradeIdStr`` (1:2), or ``str(tradeId)`` when the frame has no ``tradeIdStr``
  (older layout; that int64 is the venue's truncated id); ``created_at`` ← ``createdAt``.
- Bbo: ``seq_no`` ← ``seq``; ``last_updated_at`` ← ``ts``; prices/sizes are decimal text
  (``"67629.7"``, no trailing zeros) and a null (empty book side) is ``""``, as in JSON.
- BookUpdate: ``seq_no`` ← ``seq``; ``last_updated_at`` ← ``ts``; SNAPSHOT → ``"s"`` with every
  level in ``inserts``; DELTA → ``"d"`` with size-0 levels in ``deletes`` and the others in
  ``updates`` (SBE cannot tell an insert from an update; both mean "set price → size"). Bids come
  before asks in each list, in frame order. ``best_*_interactive`` ← ``bestBid*/bestAsk*``,
  ``best_*_api`` ← ``bestBidApi*/bestAskApi*`` (``None`` when the price is null).
- MarketSummary: ``created_at`` ← ``ts``; ``funding_rate`` ← ``fundingRatePrecise`` (Rate12), else
  ``fundingRate`` (Rate8); ``greeks`` only when delta, gamma and vega are all present, and the
  deprecated top-level ``delta`` repeats ``greeks.delta`` as the JSON feed does; bid/ask/sizes,
  ``mark_price`` (``markPrice``), ``last_traded_price`` (``lastPrice``) and ``underlying_price``
  (``indexPrice``) are decimal text with null → ``""``; ``rolling_details`` is not carried →
  ``None``.
- FundingData: ``created_at`` ← ``createdAt``.

:func:`shared.paradex.sbe.canonical.canonical` gives, for any model, the model an SBE round trip
yields; ``decode(encode(m)) == canonical(m)``.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import msgspec

from shared.errors import DecodeError
from shared.paradex.models import Bbo, BookLevel, BookUpdate, FundingData, Greeks, MarketSummary, Trade
from shared.paradex.sbe.layout import (
    BBO,
    BOOK,
    FUNDING_DATA,
    GROUP_HEADER,
    HEADER,
    HEARTBEAT,
    MARKET_SUMMARY,
    NULL,
    PKG_DELTA,
    PKG_SNAPSHOT,
    SCHEMA_ID,
    SIDES,
    TRADE,
    TRADE_TYPES,
    Template,
)
from shared.paradex.sbe.mantissa import dec8, dec12, memo8, opt_dec8, text8
from shared.paradex.sbe.wire import (
    FLAT_CACHE,
    Buffer,
    flat_struct,
    read_block,
    read_levels,
    read_string,
)

_ZERO = Decimal(0)
_NON_REPRESENTABLE = 254


class Heartbeat(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """HeartbeatEvent (template 40): the server's keepalive on an idle connection."""

    ts_us: int
    seq: int


class Skipped(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A well-formed frame of a template this codec does not decode (skipped, per the schema)."""

    template_id: int
    version: int
    length: int


Decoded = Trade | Bbo | BookUpdate | MarketSummary | FundingData | Heartbeat | Skipped


def _enum(table: dict[int, str], code: int, what: str, name: str) -> str:
    value = table.get(code)
    if value is None:
        if code != _NON_REPRESENTABLE:
            raise DecodeError(what, f"unknown {name} code {code}", field=name)
        value = "NON_REPRESENTABLE"
    return value


def _market(buf: Buffer, pos: int, what: str) -> tuple[str, int]:
    market, pos = read_string(buf, pos, what)
    if market is None:
        raise DecodeError(what, "frame ends before the market string", field="market")
    return market, pos


def _required(m: int, what: str, name: str) -> Decimal:
    if m == NULL:
        raise DecodeError(what, "null in a required field", field=name)
    return dec8(m)


def _or_zero(m: int) -> Decimal:
    return _ZERO if m == NULL else dec8(m)


def decode_trade(buf: Buffer, block_length: int) -> Trade:
    """TradeEvent body (header already read)."""
    what = TRADE.name
    _ts, _seq, trade_id, side, price, size, created_at, trade_type = read_block(buf, TRADE, block_length)
    market, pos = _market(buf, 8 + block_length, what)
    trade_id_str, _ = read_string(buf, pos, what)
    return Trade(
        id=str(trade_id) if trade_id_str is None else trade_id_str,
        market=market,
        side=_enum(SIDES, side, what, "side"),
        size=_required(size, what, "size"),
        price=_required(price, what, "price"),
        created_at=created_at // 1000,
        trade_type=_enum(TRADE_TYPES, trade_type, what, "tradeType"),
    )


def decode_bbo(buf: Buffer, block_length: int) -> Bbo:
    """BboEvent body."""
    ts, seq, bid, bid_size, ask, ask_size = read_block(buf, BBO, block_length)
    market, _ = _market(buf, 8 + block_length, BBO.name)
    return Bbo(
        market=market, seq_no=seq, bid=text8(bid), bid_size=text8(bid_size), ask=text8(ask),
        ask_size=text8(ask_size), last_updated_at=ts // 1000,
    )


def _best(side: str, price: int, size: int) -> BookLevel | None:
    if price == NULL:
        return None
    return BookLevel(side=side, price=dec8(price), size=_or_zero(size))


def _levels(side: str, flat: tuple[int, ...]) -> list[BookLevel]:
    # Hot path (hundreds of thousands of levels per second): memo lookups inlined, dec8 on a miss.
    get, d, it = memo8, dec8, iter(flat)
    pairs = zip(it, it, strict=False)
    return [BookLevel(side=side, price=get(p) or d(p), size=get(s) or d(s)) for p, s in pairs]


def _split(side: str, flat: tuple[int, ...]) -> tuple[list[BookLevel], list[BookLevel]]:
    """Delta levels of one side as (updates, deletes): size 0 removes the level."""
    levels = _levels(side, flat)
    if 0 not in flat[1::2]:
        return levels, []
    return [lv for lv in levels if lv.size], [lv for lv in levels if not lv.size]


def _flat_levels(buf: Buffer, pos: int, end: int, what: str) -> tuple[tuple[int, ...], int]:
    """Fast path of :func:`read_levels` for the usual 16-byte entries; falls back to it otherwise."""
    if pos + 4 <= end:
        entry_length, count = _GROUP(buf, pos)
        after = pos + 4 + 16 * count
        if entry_length == 16 and after <= end:
            flat = FLAT_CACHE.get(count) or flat_struct(count)
            return flat.unpack_from(buf, pos + 4), after
    return read_levels(buf, pos, what)


def decode_book(buf: Buffer, block_length: int) -> BookUpdate:
    """BookEvent body; see the module docstring for the snapshot/delta mapping."""
    what = BOOK.name
    end = len(buf)
    pos = 8 + block_length
    if block_length >= _BOOK_BLOCK_SIZE and pos <= end:
        values = _BOOK_BLOCK(buf, 8)
    else:
        values = read_block(buf, BOOK, block_length)
    (ts, seq, pkg, bb, bbs, ba, bas, spread, bba, bbas, baa, baas) = values
    bids, pos = _flat_levels(buf, pos, end, what)
    asks, pos = _flat_levels(buf, pos, end, what)
    if pos < end and pos + 1 + buf[pos] <= end:
        try:
            market = str(buf[pos + 1 : pos + 1 + buf[pos]], "utf-8")
        except UnicodeDecodeError:
            market, _ = _market(buf, pos, what)  # raises the DecodeError with its reason
    else:
        market, _ = _market(buf, pos, what)
    if pkg == PKG_DELTA:
        update_type, inserts = "d", []
        bid_updates, bid_deletes = _split("BUY", bids)
        ask_updates, ask_deletes = _split("SELL", asks)
        updates = bid_updates + ask_updates
        deletes = bid_deletes + ask_deletes if bid_deletes or ask_deletes else []
    elif pkg == PKG_SNAPSHOT:
        update_type, updates, deletes = "s", [], []
        inserts = _levels("BUY", bids) + _levels("SELL", asks)
    else:
        raise DecodeError(what, f"unknown pkgType {pkg}", field="pkgType")
    return BookUpdate(
        seq_no=seq, market=market, last_updated_at=ts // 1000, update_type=update_type,
        inserts=inserts, updates=updates, deletes=deletes,
        best_bid_api=None if bba == NULL else _best("BUY", bba, bbas),
        best_ask_api=None if baa == NULL else _best("SELL", baa, baas),
        best_bid_interactive=None if bb == NULL else _best("BUY", bb, bbs),
        best_ask_interactive=None if ba == NULL else _best("SELL", ba, bas),
        relative_spread=None if spread == NULL else dec8(spread),
    )


_BOOK_BLOCK = BOOK.block.unpack_from
_BOOK_BLOCK_SIZE = BOOK.block.size
_GROUP = GROUP_HEADER.unpack_from
_HEADER = HEADER.unpack_from


def decode_market_summary(buf: Buffer, block_length: int) -> MarketSummary:
    """MarketSummaryEvent body."""
    what = MARKET_SUMMARY.name
    (ts, _seq, mark, index, last, volume, oi, rate8, bid, ask, total, change, mark_iv, bid_iv, ask_iv,
     last_iv, delta, gamma, vega, theta, rho, volga, vanna, future_rate, fair, bid_size, ask_size,
     forward, risk_free, rate12) = read_block(buf, MARKET_SUMMARY, block_length)
    market, _ = _market(buf, 8 + block_length, what)
    o, t = opt_dec8, text8
    greeks = None
    if NULL not in (delta, gamma, vega):
        greeks = Greeks(delta=dec8(delta), gamma=dec8(gamma), vega=dec8(vega), rho=o(rho), theta=o(theta),
                        vanna=o(vanna), volga=o(volga))
    return MarketSummary(
        symbol=market, mark_price=t(mark), last_traded_price=t(last), bid=t(bid), bid_size=t(bid_size),
        ask=t(ask), ask_size=t(ask_size), volume_24h=_required(volume, what, "volumeUsd24h"),
        total_volume=_required(total, what, "totalVolume"),
        created_at=ts // 1000, underlying_price=t(index),
        open_interest=_required(oi, what, "openInterest"),
        funding_rate=_required(rate8, what, "fundingRate") if rate12 == NULL else dec12(rate12),
        price_change_rate_24h=_required(change, what, "priceChangeRate24h"),
        future_funding_rate=o(future_rate), external_fair_price=o(fair), mark_iv=o(mark_iv),
        bid_iv=o(bid_iv), ask_iv=o(ask_iv), last_iv=o(last_iv), delta=o(delta), greeks=greeks,
        forward_rate=o(forward), risk_free_rate=o(risk_free),
    )


def decode_funding_data(buf: Buffer, block_length: int) -> FundingData:
    """FundingDataEvent body."""
    what = FUNDING_DATA.name
    (_ts, _seq, rate, index, created_at, premium, rate_8h, hours, impact) = read_block(
        buf, FUNDING_DATA, block_length
    )
    market, _ = _market(buf, 8 + block_length, what)
    return FundingData(
        market=market, funding_index=_required(index, what, "fundingIndex"),
        funding_premium=_required(premium, what, "fundingPremium"),
        funding_rate=_required(rate, what, "fundingRate"),
        funding_rate_8h=_required(rate_8h, what, "fundingRate8h"),
        funding_period_hours=hours, created_at=created_at // 1000, impact_premium_rate=opt_dec8(impact),
    )


def decode_heartbeat(buf: Buffer, block_length: int) -> Heartbeat:
    """HeartbeatEvent body."""
    ts, seq = read_block(buf, HEARTBEAT, block_length)
    return Heartbeat(ts_us=ts, seq=seq)


_DECODERS: dict[int, tuple[Template, Callable[[Buffer, int], Decoded]]] = {
    TRADE.template_id: (TRADE, decode_trade),
    BBO.template_id: (BBO, decode_bbo),
    BOOK.template_id: (BOOK, decode_book),
    MARKET_SUMMARY.template_id: (MARKET_SUMMARY, decode_market_summary),
    FUNDING_DATA.template_id: (FUNDING_DATA, decode_funding_data),
    HEARTBEAT.template_id: (HEARTBEAT, decode_heartbeat),
}


def decode(frame: Buffer) -> Decoded:
    """Decode one binary WebSocket frame.

    Returns the model for a public template, :class:`Heartbeat`, or :class:`Skipped` for a
    well-formed header naming a template we do not decode. Raises :class:`DecodeError`
    (``what`` = template name) for anything truncated or malformed; nothing else escapes.
    """
    if len(frame) < 8:
        raise DecodeError("sbe frame", f"{len(frame)} bytes, shorter than the 8-byte header")
    block_length, template_id, schema_id, version = _HEADER(frame, 0)
    if schema_id != SCHEMA_ID:
        raise DecodeError("sbe frame", f"schema id {schema_id}, expected {SCHEMA_ID}")
    entry = _DECODERS.get(template_id)
    if entry is None:
        return Skipped(template_id=template_id, version=version, length=len(frame))
    return entry[1](frame, block_length)
