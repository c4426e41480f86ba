"""The canonical form of a model: what it becomes after an SBE round trip.

``decode(encode(m, version=v)) == canonical(m, version=v)`` for every model ``m`` the encoder
accepts, and ``canonical`` is idempotent. A JSON payload already in canonical form decodes to the
very model its SBE encoding decodes to. What canonicalisation changes:

- BookUpdate snapshot: ``inserts + updates`` (bids first, then asks, each in order) in
  ``inserts``; ``deletes`` dropped.
- BookUpdate delta: per side (bids first) the levels ``inserts + updates + deletes`` in that
  order, deletes with size 0; those with size 0 go to ``deletes``, the rest to ``updates``;
  ``inserts`` empty. ``best_*`` levels get side BUY (bids) / SELL (asks).
- Trade: unknown side/trade_type → ``"NON_REPRESENTABLE"``; below 1:2 the id becomes the
  deprecated int64 ``tradeId`` as a string.
- Bbo: prices/sizes as decimal text without trailing zeros (``"67629.70"`` → ``"67629.7"``);
  ``""`` (empty side) stays ``""``.
- MarketSummary: the text prices/sizes as for Bbo; rates/IVs/greeks truncated to 8 dp
  (``funding_rate`` to 12 dp from 1:1, 8 dp at 1:0), ``total_volume`` saturated at int64 max *
  1e-8, ``delta`` = ``greeks.delta`` when greeks are present, ``rolling_details`` dropped; below
  1:1 ``forward_rate``/``risk_free_rate`` are None.
- FundingData: the four rates truncated to 8 dp, ``funding_period_hours`` an int; below 1:1
  ``impact_premium_rate`` is None.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TypeVar

import msgspec

from shared.paradex.models import Bbo, BookLevel, BookUpdate, FundingData, Greeks, MarketSummary, Trade
from shared.paradex.sbe.encode import trade_id_int64
from shared.paradex.sbe.layout import SCHEMA_VERSION, SIDES, TRADE_TYPES
from shared.paradex.sbe.mantissa import quantize, text8, text_mantissa

M = TypeVar("M")
_ZERO = Decimal(0)


def _q(value: Decimal) -> Decimal:
    return quantize(value)


def _oq(value: Decimal | None) -> Decimal | None:
    return None if value is None else quantize(value)


def _text(value: str) -> str:
    return text8(text_mantissa(value))


def _bbo(b: Bbo) -> Bbo:
    return msgspec.structs.replace(
        b, bid=_text(b.bid), bid_size=_text(b.bid_size), ask=_text(b.ask), ask_size=_text(b.ask_size)
    )


def _book(u: BookUpdate) -> BookUpdate:
    def side(levels: list[BookLevel], name: str) -> list[BookLevel]:
        return [lv for lv in levels if lv.side == name]

    if u.update_type == "s":
        levels = u.inserts + u.updates
        inserts, updates, deletes = side(levels, "BUY") + side(levels, "SELL"), [], []
    else:
        removed = [BookLevel(side=d.side, price=d.price, size=_ZERO) for d in u.deletes]
        levels = u.inserts + u.updates + removed
        ordered = side(levels, "BUY") + side(levels, "SELL")
        inserts = []
        updates = [lv for lv in ordered if lv.size]
        deletes = [lv for lv in ordered if not lv.size]

    def best(level: BookLevel | None, name: str) -> BookLevel | None:
        return None if level is None else msgspec.structs.replace(level, side=name)

    return msgspec.structs.replace(
        u, inserts=inserts, updates=updates, deletes=deletes,
        best_bid_api=best(u.best_bid_api, "BUY"), best_ask_api=best(u.best_ask_api, "SELL"),
        best_bid_interactive=best(u.best_bid_interactive, "BUY"),
        best_ask_interactive=best(u.best_ask_interactive, "SELL"),
        relative_spread=_oq(u.relative_spread),
    )


def _trade(t: Trade, version: int) -> Trade:
    return msgspec.structs.replace(
        t,
        id=t.id if version >= 2 else str(trade_id_int64(t.id)),
        side=t.side if t.side in SIDES.values() else "NON_REPRESENTABLE",
        trade_type=t.trade_type if t.trade_type in TRADE_TYPES.values() else "NON_REPRESENTABLE",
    )


def _summary(m: MarketSummary, version: int) -> MarketSummary:
    g = m.greeks
    greeks = None if g is None else Greeks(
        delta=_q(g.delta), gamma=_q(g.gamma), vega=_q(g.vega), rho=_oq(g.rho), theta=_oq(g.theta),
        vanna=_oq(g.vanna), volga=_oq(g.volga),
    )
    return msgspec.structs.replace(
        m,
        mark_price=_text(m.mark_price), last_traded_price=_text(m.last_traded_price), bid=_text(m.bid),
        bid_size=_text(m.bid_size), ask=_text(m.ask), ask_size=_text(m.ask_size),
        underlying_price=_text(m.underlying_price),
        funding_rate=quantize(m.funding_rate, -12 if version >= 1 else -8),
        price_change_rate_24h=_q(m.price_change_rate_24h),
        total_volume=quantize(m.total_volume, saturate=True),
        future_funding_rate=_oq(m.future_funding_rate), mark_iv=_oq(m.mark_iv), bid_iv=_oq(m.bid_iv),
        ask_iv=_oq(m.ask_iv), last_iv=_oq(m.last_iv),
        delta=_oq(m.delta) if greeks is None else greeks.delta, greeks=greeks,
        forward_rate=_oq(m.forward_rate) if version >= 1 else None,
        risk_free_rate=_oq(m.risk_free_rate) if version >= 1 else None,
        rolling_details=None,
    )


def _funding(f: FundingData, version: int) -> FundingData:
    return msgspec.structs.replace(
        f, funding_rate=_q(f.funding_rate), funding_premium=_q(f.funding_premium),
        funding_rate_8h=_q(f.funding_rate_8h), funding_period_hours=int(f.funding_period_hours),
        impact_premium_rate=_oq(f.impact_premium_rate) if version >= 1 else None,
    )


def canonical(model: M, *, version: int = SCHEMA_VERSION) -> M:
    """``model`` as an SBE round trip at ``version`` returns it (see the module docstring)."""
    result: object = model
    if isinstance(model, BookUpdate):
        result = _book(model)
    elif isinstance(model, Trade):
        result = _trade(model, version)
    elif isinstance(model, MarketSummary):
        result = _summary(model, version)
    elif isinstance(model, FundingData):
        result = _funding(model, version)
    elif isinstance(model, Bbo):
        result = _bbo(model)
    return result  # type: ignore[return-value]
