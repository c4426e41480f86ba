"""Synthetic market: a random-walk fair price, a market-maker ladder around it, random taker flow.

Pure: the caller passes ``now_ms`` and a seeded ``random.Random``. The fair price moves in whole
ticks (an int), so the walk is exact and cheap. The market maker and the taker are *internal*
accounts: no risk checks and no private events, but their orders trade with users' orders and
every book change is a public delta. One :meth:`SyntheticMarket.step` per timer tick.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

from .events import VenueEvent
from .exchange import Exchange, OrderRequest
from .types import Side

MM_ACCOUNT = "0xsynthetic-market-maker"
TAKER_ACCOUNT = "0xsynthetic-taker"


@dataclass(frozen=True, slots=True, kw_only=True)
class SyntheticConfig:
    """Knobs of the synthetic flow (per market and per step)."""

    levels: int = 10
    half_spread_ticks: int = 2
    level_spacing_ticks: int = 2
    #: Standard deviation of the fair-price move per step, in ticks.
    volatility_ticks: float = 1.0
    #: Quote sizes are uniform in [min_lots, max_lots] size increments.
    min_lots: int = 100
    max_lots: int = 2000
    #: Probability per step that one resting quote is replaced with a new size (book churn).
    resize_probability: float = 0.5
    taker_probability: float = 0.1
    taker_max_lots: int = 1500
    summary_interval_ms: int = 1000
    funding_interval_ms: int = 5000


class _Quotes:
    __slots__ = ("asks", "bids", "fair_ticks", "last_funding_ms", "last_summary_ms")

    def __init__(self, fair_ticks: int) -> None:
        self.fair_ticks = fair_ticks
        self.bids: dict[int, str] = {}
        self.asks: dict[int, str] = {}
        self.last_summary_ms = -(10**15)
        self.last_funding_ms = -(10**15)


class SyntheticMarket:
    """Drives every market of ``exchange`` (or those named) with synthetic liquidity and flow."""

    def __init__(
        self,
        exchange: Exchange,
        rng: random.Random,
        config: SyntheticConfig | None = None,
        markets: list[str] | None = None,
    ) -> None:
        self.exchange = exchange
        self.rng = rng
        self.config = config or SyntheticConfig()
        names = markets if markets is not None else list(exchange.markets)
        self._state: dict[str, _Quotes] = {}
        for name in names:
            cfg = exchange.market(name)
            self._state[name] = _Quotes(int(cfg.initial_price / cfg.price_tick_size))
            exchange.account_state(MM_ACCOUNT, internal=True)
            exchange.account_state(TAKER_ACCOUNT, internal=True)

    def fair_price(self, market: str) -> Decimal:
        return self._state[market].fair_ticks * self.exchange.markets[market].price_tick_size

    def step(self, now_ms: int) -> list[VenueEvent]:
        """Advance every market by one step; return the events in venue order."""
        out: list[VenueEvent] = []
        for market, st in self._state.items():
            out.extend(self._step_market(market, st, now_ms))
        return out

    def _step_market(self, market: str, st: _Quotes, now_ms: int) -> list[VenueEvent]:
        cfg, rng, ex, conf = self.exchange.markets[market], self.rng, self.exchange, self.config
        tick = cfg.price_tick_size
        out: list[VenueEvent] = []
        st.fair_ticks = max(
            conf.levels * conf.level_spacing_ticks + conf.half_spread_ticks + 1,
            st.fair_ticks + round(rng.gauss(0.0, conf.volatility_ticks)),
        )
        ex.set_index_price(market, st.fair_ticks * tick)
        # Ladder prices sit on a grid of level_spacing ticks, so a small move only shifts the
        # outermost levels instead of re-quoting the whole ladder.
        grid = conf.level_spacing_ticks
        first_bid = (st.fair_ticks - conf.half_spread_ticks) // grid * grid
        first_ask = -((-(st.fair_ticks + conf.half_spread_ticks)) // grid) * grid
        wanted = {
            Side.BUY: {first_bid - i * conf.level_spacing_ticks for i in range(conf.levels)},
            Side.SELL: {first_ask + i * conf.level_spacing_ticks for i in range(conf.levels)},
        }
        for side, quotes in ((Side.BUY, st.bids), (Side.SELL, st.asks)):
            for ticks, order_id in list(quotes.items()):
                order = ex.orders.get(order_id)
                if order is None or not order.is_live:
                    del quotes[ticks]
                elif ticks not in wanted[side]:
                    del quotes[ticks]
                    out.extend(ex.cancel_now(order_id, now_ms))
        if quotes_total := len(st.bids) + len(st.asks):
            if rng.random() < conf.resize_probability:
                pick = rng.randrange(quotes_total)
                side, quotes = (Side.BUY, st.bids) if pick < len(st.bids) else (Side.SELL, st.asks)
                ticks = rng.choice(list(quotes))
                out.extend(ex.cancel_now(quotes.pop(ticks), now_ms))
        book = ex.books[market]
        for side, quotes in ((Side.BUY, st.bids), (Side.SELL, st.asks)):
            for ticks in sorted(wanted[side] - quotes.keys()):
                price = ticks * tick
                if book.crosses(side, price):
                    continue  # post-only: never cross resting (user) orders
                size = rng.randint(conf.min_lots, conf.max_lots) * cfg.order_size_increment
                req = OrderRequest(
                    market=market, side=side, type="LIMIT", size=size, price=price, instruction="POST_ONLY"
                )
                view, events = ex.run_now(MM_ACCOUNT, req, now_ms)
                out.extend(events)
                quotes[ticks] = view.id
        if rng.random() < conf.taker_probability:
            size = rng.randint(1, conf.taker_max_lots) * cfg.order_size_increment
            side = Side.BUY if rng.random() < 0.5 else Side.SELL
            taker = OrderRequest(market=market, side=side, type="MARKET", size=size)
            out.extend(ex.run_now(TAKER_ACCOUNT, taker, now_ms)[1])
        if now_ms - st.last_summary_ms >= conf.summary_interval_ms:
            st.last_summary_ms = now_ms
            out.append(ex.market_summary(market))
        if now_ms - st.last_funding_ms >= conf.funding_interval_ms:  # the index accrues on advance()
            st.last_funding_ms = now_ms
            out.append(ex.funding_data(market))
        return out
