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
from .market import MarketConfig, check_price, check_size
from .types import Side, Status

MM_ACCOUNT = "0xsynthetic-market-maker"
TAKER_ACCOUNT = "0xsynthetic-taker"
_PRICE_CACHE_MAX = 4096


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
    __slots__ = ("asks", "bids", "fair_ticks", "last_funding_ms", "last_summary_ms", "prices", "sizes",
                 "wanted_asks", "wanted_bids")

    def __init__(self, fair_ticks: int) -> None:
        self.fair_ticks = fair_ticks
        self.bids: dict[int, str] = {}
        self.asks: dict[int, str] = {}
        self.last_summary_ms = -(10**15)
        self.last_funding_ms = -(10**15)
        #: Quote prices by ticks and sizes by lots, checked for the market once (see _step_market).
        self.prices: dict[int, Decimal] = {}
        self.sizes: dict[int, Decimal] = {}
        #: The last ladder of each side: (first level's ticks, the set of level ticks).
        self.wanted_bids: tuple[int, frozenset[int]] = (0, frozenset())
        self.wanted_asks: tuple[int, frozenset[int]] = (0, frozenset())


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

    def _ladder(self, first: int, last: tuple[int, frozenset[int]], step: int) -> tuple[int, frozenset[int]]:
        """The level ticks of one side from its first level (``step`` < 0 for bids); the last
        ladder is reused while the first level stays (most steps move less than a grid step)."""
        if last[0] == first and last[1]:
            return last
        return first, frozenset(first + i * step for i in range(self.config.levels))

    @staticmethod
    def _price(st: _Quotes, cfg: MarketConfig, ticks: int) -> Decimal:
        price = st.prices.get(ticks)
        if price is None:
            if len(st.prices) >= _PRICE_CACHE_MAX:
                st.prices.clear()
            price = st.prices[ticks] = check_price(cfg, ticks * cfg.price_tick_size)
        return price

    @staticmethod
    def _size(st: _Quotes, cfg: MarketConfig, lots: int) -> Decimal:
        size = st.sizes.get(lots)
        if size is None:  # at most max_lots - min_lots + 1 entries
            size = st.sizes[lots] = check_size(cfg, lots * cfg.order_size_increment)
        return size

    def _step_market(self, market: str, st: _Quotes, now_ms: int) -> list[VenueEvent]:
        """One step of one market. The hot path of the benchmarks' book deltas: quotes go through
        :meth:`Exchange.quote_now` with prices and sizes checked once and cached, and the ladder
        sets are reused between steps; the random draws and the events are those of the plain
        version (``run_now`` with an ``OrderRequest`` per quote)."""
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
        st.wanted_bids = self._ladder(first_bid, st.wanted_bids, -conf.level_spacing_ticks)
        st.wanted_asks = self._ladder(first_ask, st.wanted_asks, conf.level_spacing_ticks)
        wanted_bids, wanted_asks = st.wanted_bids[1], st.wanted_asks[1]
        orders = ex.orders
        for wanted, quotes in ((wanted_bids, st.bids), (wanted_asks, st.asks)):
            for ticks, order_id in list(quotes.items()):
                order = orders.get(order_id)
                if order is None or order.status is Status.CLOSED:
                    del quotes[ticks]
                elif ticks not in wanted:
                    del quotes[ticks]
                    out.extend(ex.cancel_now(order_id, now_ms))
        if quotes_total := len(st.bids) + len(st.asks):
            if rng.random() < conf.resize_probability:
                pick = rng.randrange(quotes_total)
                quotes = st.bids if pick < len(st.bids) else st.asks
                ticks = rng.choice(list(quotes))
                out.extend(ex.cancel_now(quotes.pop(ticks), now_ms))
        book = ex.books[market]
        sizes, min_lots, max_lots = st.sizes, conf.min_lots, conf.max_lots
        price_of = st.prices.get
        for side, wanted, quotes in ((Side.BUY, wanted_bids, st.bids), (Side.SELL, wanted_asks, st.asks)):
            missing = wanted - quotes.keys()
            if not missing:
                continue
            for ticks in sorted(missing):
                price = price_of(ticks) or self._price(st, cfg, ticks)
                if book.crosses(side, price):
                    continue  # post-only: never cross resting (user) orders
                lots = rng.randint(min_lots, max_lots)
                size = sizes.get(lots) or self._size(st, cfg, lots)
                order_id, events = ex.quote_now(MM_ACCOUNT, market, side, price, size, now_ms)
                out.extend(events)
                quotes[ticks] = order_id
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
