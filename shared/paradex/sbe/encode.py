"""Models → SBE frames (what the simulator sends on a binary feed), schema 1:2 by default.

The inverse of :mod:`shared.paradex.sbe.decode`. Prices, sizes and USD values must fit the wire
exactly (at most 8 decimals, int64 range) or :class:`SbeEncodeError` is raised; rates, IVs and
greeks are truncated toward zero to the wire's precision, as the venue does (schema: "Rate8
truncates them"), and ``total_volume`` saturates at int64 max (schema field note). SBE carries
fields the JSON models lack (``ts`` publish time, ``seq`` on trades/summaries/funding): pass them
as ``seq=``/``ts_us=``; by default ``ts`` is the model's own millisecond time * 1000 and ``seq`` 0.

``version`` selects the negotiated schema version (``sbeSchemaVersion``): fields and var data added
after it are left out, as the venue does.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from shared.errors import HubError
from shared.paradex.models import Bbo, BookLevel, BookUpdate, FundingData, MarketSummary, Trade
from shared.paradex.sbe.decode import Heartbeat
from shared.paradex.sbe.layout import (
    BBO,
    BOOK,
    FUNDING_DATA,
    HEARTBEAT,
    MARKET_SUMMARY,
    NULL,
    PKG_DELTA,
    PKG_SNAPSHOT,
    SCHEMA_VERSION,
    SIDE_CODES,
    TRADE,
    TRADE_TYPE_CODES,
)
from shared.paradex.sbe.mantissa import MantissaError, mantissa, opt_mantissa, text_mantissa
from shared.paradex.sbe.wire import write_frame

_NON_REPRESENTABLE = 254


class SbeEncodeError(HubError):
    """A model cannot be written as an SBE frame (value out of range, too precise, string too long)."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"cannot encode {what} as SBE: {reason}")
        self.what = what
        self.reason = reason


def _px(value: Decimal) -> int:
    return mantissa(value)


def _rate(value: Decimal) -> int:
    return mantissa(value, truncate=True)


def _opt_rate(value: Decimal | None) -> int:
    return opt_mantissa(value, truncate=True)


def trade_id_int64(trade_id: str) -> int:
    """The deprecated ``tradeId`` int64: the id's low 64 bits as signed (0 if it is not digits)."""
    if not trade_id.isdigit():
        return 0
    low = int(trade_id) & 0xFFFF_FFFF_FFFF_FFFF
    return low - (1 << 64) if low >= 1 << 63 else low


def _encode_trade(
    t: Trade, *, seq: int = 0, ts_us: int | None = None, version: int = SCHEMA_VERSION
) -> bytes:
    """TradeEvent frame; ``seq`` is the book sequence after the trade (0 when it has none)."""
    created = t.created_at * 1000
    values = (
        created if ts_us is None else ts_us, seq, trade_id_int64(t.id),
        SIDE_CODES.get(t.side, _NON_REPRESENTABLE), _px(t.price), _px(t.size), created,
        TRADE_TYPE_CODES.get(t.trade_type, _NON_REPRESENTABLE),
    )
    return write_frame(TRADE, values, version=version, data=(t.market, t.id))


def _encode_bbo(b: Bbo, *, ts_us: int | None = None, version: int = SCHEMA_VERSION) -> bytes:
    """BboEvent frame (an empty ``""`` price or size is written as null)."""
    t = text_mantissa
    values = (
        b.last_updated_at * 1000 if ts_us is None else ts_us, b.seq_no,
        t(b.bid), t(b.bid_size), t(b.ask), t(b.ask_size),
    )
    return write_frame(BBO, values, version=version, data=(b.market,))


def _best(level: BookLevel | None) -> tuple[int, int]:
    return (NULL, NULL) if level is None else (_px(level.price), _px(level.size))


def _side_groups(levels: list[BookLevel]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    bids: list[tuple[int, int]] = []
    asks: list[tuple[int, int]] = []
    for lv in levels:
        if lv.side == "BUY":
            bids.append((_px(lv.price), _px(lv.size)))
        elif lv.side == "SELL":
            asks.append((_px(lv.price), _px(lv.size)))
        else:
            raise MantissaError(f"book level side {lv.side!r} is neither BUY nor SELL")
    return bids, asks


def _encode_book(u: BookUpdate, *, ts_us: int | None = None, version: int = SCHEMA_VERSION) -> bytes:
    """BookEvent frame.

    Snapshot: ``inserts`` and ``updates`` become the levels (``deletes`` mean nothing in a
    snapshot and are dropped). Delta: ``inserts`` and ``updates`` are written with their size,
    ``deletes`` with size 0 (the SBE remove marker).
    """
    if u.update_type == "s":
        pkg, levels = PKG_SNAPSHOT, u.inserts + u.updates
    elif u.update_type == "d":
        pkg = PKG_DELTA
        removed = [BookLevel(side=d.side, price=d.price, size=Decimal(0)) for d in u.deletes]
        levels = u.inserts + u.updates + removed
    else:
        raise MantissaError(f"update_type {u.update_type!r} is neither 's' nor 'd'")
    bids, asks = _side_groups(levels)
    bb, bbs = _best(u.best_bid_interactive)
    ba, bas = _best(u.best_ask_interactive)
    bba, bbas = _best(u.best_bid_api)
    baa, baas = _best(u.best_ask_api)
    values = (
        u.last_updated_at * 1000 if ts_us is None else ts_us, u.seq_no, pkg,
        bb, bbs, ba, bas, _opt_rate(u.relative_spread), bba, bbas, baa, baas,
    )
    return write_frame(BOOK, values, version=version, groups=(bids, asks), data=(u.market,))


def _encode_market_summary(
    m: MarketSummary, *, seq: int = 0, ts_us: int | None = None, version: int = SCHEMA_VERSION
) -> bytes:
    """MarketSummaryEvent frame (``fundingRate`` truncated to 8 dp, ``fundingRatePrecise`` to 12;
    an empty ``""`` price or size is written as null)."""
    g = m.greeks
    r, t = _opt_rate, text_mantissa
    delta, gamma, vega, theta, rho, volga, vanna = (
        (m.delta, None, None, None, None, None, None) if g is None
        else (g.delta, g.gamma, g.vega, g.theta, g.rho, g.volga, g.vanna)
    )
    values = (
        m.created_at * 1000 if ts_us is None else ts_us, seq, t(m.mark_price), t(m.underlying_price),
        t(m.last_traded_price), _px(m.volume_24h), _px(m.open_interest), _rate(m.funding_rate),
        t(m.bid), t(m.ask), mantissa(m.total_volume, saturate=True),
        _rate(m.price_change_rate_24h), r(m.mark_iv), r(m.bid_iv), r(m.ask_iv), r(m.last_iv), r(delta),
        r(gamma), r(vega), r(theta), r(rho), r(volga), r(vanna),
        r(m.future_funding_rate), opt_mantissa(m.external_fair_price), t(m.bid_size), t(m.ask_size),
        r(m.forward_rate), r(m.risk_free_rate), mantissa(m.funding_rate, -12, truncate=True),
    )
    return write_frame(MARKET_SUMMARY, values, version=version, data=(m.symbol,))


def _encode_funding_data(
    f: FundingData, *, seq: int = 0, ts_us: int | None = None, version: int = SCHEMA_VERSION
) -> bytes:
    """FundingDataEvent frame (rates truncated to 8 dp; ``funding_period_hours`` must be whole)."""
    hours = f.funding_period_hours
    if hours != int(hours):
        raise MantissaError(f"funding_period_hours {hours} is not a whole number of hours")
    created = f.created_at * 1000
    values = (
        created if ts_us is None else ts_us, seq, _rate(f.funding_rate), _px(f.funding_index), created,
        _rate(f.funding_premium), _rate(f.funding_rate_8h), int(hours), _opt_rate(f.impact_premium_rate),
    )
    return write_frame(FUNDING_DATA, values, version=version, data=(f.market,))


def _encode_heartbeat(h: Heartbeat, *, version: int = SCHEMA_VERSION) -> bytes:
    """HeartbeatEvent frame."""
    return write_frame(HEARTBEAT, (h.ts_us, h.seq), version=version)


def encode(obj: Any, *, seq: int = 0, ts_us: int | None = None, version: int = SCHEMA_VERSION) -> bytes:
    """Encode any supported model (or :class:`Heartbeat`) as an SBE frame.

    ``seq`` is used only where the model has no sequence of its own (Trade, MarketSummary,
    FundingData). Raises :class:`SbeEncodeError` when a value cannot be carried.
    """
    try:
        if isinstance(obj, BookUpdate):
            return _encode_book(obj, ts_us=ts_us, version=version)
        if isinstance(obj, Trade):
            return _encode_trade(obj, seq=seq, ts_us=ts_us, version=version)
        if isinstance(obj, Bbo):
            return _encode_bbo(obj, ts_us=ts_us, version=version)
        if isinstance(obj, MarketSummary):
            return _encode_market_summary(obj, seq=seq, ts_us=ts_us, version=version)
        if isinstance(obj, FundingData):
            return _encode_funding_data(obj, seq=seq, ts_us=ts_us, version=version)
        if isinstance(obj, Heartbeat):
            return _encode_heartbeat(obj, version=version)
    except ValueError as exc:  # MantissaError, struct range errors, over-long strings
        raise SbeEncodeError(type(obj).__name__, str(exc)) from exc
    raise SbeEncodeError(type(obj).__name__, "no SBE template for this type")
