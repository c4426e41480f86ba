"""Public market-data payloads: order book, BBO, trades, market summary, funding data.

Field names and required fields follow the AsyncAPI payload schemas (``ResponsesPriceBookUpdate``,
``ResponsesBBOResp``, ``ResponsesTradeResult``, ``ResponsesMarketSummaryResp``,
``ResponsesFundingDataResult``); the same shapes are returned by the REST endpoints
(``/bbo``, ``/trades``, ``/markets/summary``, ``/funding/data``). The SBE codec builds these
same models from binary frames.
"""

from __future__ import annotations

from decimal import Decimal

from shared.paradex.models.common import Model


class BookLevel(Model, frozen=True, kw_only=True):
    """One price level: ``{"side":"BUY","price":"67629.7","size":"0.992"}`` (BUY = bid, SELL = ask)."""

    side: str
    price: Decimal
    size: Decimal


class BookUpdate(Model, frozen=True, kw_only=True):
    """``order_book.*`` push (PriceBookUpdate).

    ``update_type`` is ``"s"`` (snapshot: replace the book with ``inserts``) or ``"d"`` (delta:
    inserts/updates set price→size, deletes remove the price). ``seq_no`` is the per-market book
    sequence: on the deltas feed every frame is previous + 1. Sample::

        {"seq_no":14127815,"market":"BTC-USD-PERP","last_updated_at":1718267837265,
         "update_type":"d","inserts":[],"updates":[{"side":"BUY","price":"67629.7","size":"0.5"}],
         "deletes":[]}
    """

    seq_no: int
    market: str
    last_updated_at: int
    update_type: str
    inserts: list[BookLevel]
    updates: list[BookLevel]
    deletes: list[BookLevel]
    best_bid_api: BookLevel | None = None
    best_ask_api: BookLevel | None = None
    best_bid_interactive: BookLevel | None = None
    best_ask_interactive: BookLevel | None = None
    relative_spread: Decimal | None = None  # interactive feed only

    @property
    def is_snapshot(self) -> bool:
        """True for a full-book frame (``update_type == "s"``)."""
        return self.update_type == "s"


class Bbo(Model, frozen=True, kw_only=True):
    """``bbo.*`` push and ``GET /bbo/{market}``: best bid/ask with the book ``seq_no`` (ms time)."""

    market: str
    seq_no: int
    bid: Decimal
    bid_size: Decimal
    ask: Decimal
    ask_size: Decimal
    last_updated_at: int


class Trade(Model, frozen=True, kw_only=True):
    """``trades.*`` push and ``GET /trades`` item; ``side`` is the taker side, ``id`` a digit string."""

    id: str
    market: str
    side: str
    size: Decimal
    price: Decimal
    created_at: int
    trade_type: str


class Greeks(Model, frozen=True, kw_only=True):
    """Option greeks of a market summary (partial for perpetuals: delta, gamma, vega required)."""

    delta: Decimal
    gamma: Decimal
    vega: Decimal
    rho: Decimal | None = None
    theta: Decimal | None = None
    vanna: Decimal | None = None
    volga: Decimal | None = None


class RollingDetails(Model, frozen=True, kw_only=True):
    """Rolling-futures details of a market summary (only for rolling futures markets)."""

    current_active_contract_symbol: str = ""
    current_active_contract_weight: Decimal | None = None
    next_active_contract_symbol: str = ""
    period_start: int | None = None
    period_end: int | None = None


class MarketSummary(Model, frozen=True, kw_only=True):
    """``markets_summary*`` push and ``GET /markets/summary`` item (ticker-like, ms ``created_at``).

    ``funding_rate`` is the raw rate for the market's own funding period, not an 8 h rate.
    """

    symbol: str
    mark_price: Decimal
    last_traded_price: Decimal
    bid: Decimal
    bid_size: Decimal
    ask: Decimal
    ask_size: Decimal
    volume_24h: Decimal
    total_volume: Decimal
    created_at: int
    underlying_price: Decimal
    open_interest: Decimal
    funding_rate: Decimal
    price_change_rate_24h: Decimal
    future_funding_rate: Decimal | None = None
    external_fair_price: Decimal | None = None
    mark_iv: Decimal | None = None
    bid_iv: Decimal | None = None
    ask_iv: Decimal | None = None
    last_iv: Decimal | None = None
    delta: Decimal | None = None  # deprecated by the venue: use greeks.delta
    greeks: Greeks | None = None
    forward_rate: Decimal | None = None
    risk_free_rate: Decimal | None = None
    rolling_details: RollingDetails | None = None


class FundingData(Model, frozen=True, kw_only=True):
    """``funding_data.*`` push and ``GET /funding/data`` item.

    ``funding_period_hours`` is a JSON number in the spec (not a decimal string), kept as a number.
    """

    market: str
    funding_index: Decimal
    funding_premium: Decimal
    funding_rate: Decimal
    funding_rate_8h: Decimal
    funding_period_hours: int | float
    created_at: int
    impact_premium_rate: Decimal | None = None


class OrderBook(Model, frozen=True, kw_only=True):
    """``GET /orderbook/{market}`` (AskBidArray): ``bids``/``asks`` as ``[price, size]`` pairs.

    The spec types ``best_*`` as arrays of strings (example ``["10.5"]``); they are kept as lists
    of decimals, ``[price, size]`` in practice.
    """

    market: str
    seq_no: int
    last_updated_at: int
    bids: list[tuple[Decimal, Decimal]]
    asks: list[tuple[Decimal, Decimal]]
    best_bid_api: list[Decimal] | None = None
    best_ask_api: list[Decimal] | None = None
    best_bid_interactive: list[Decimal] | None = None
    best_ask_interactive: list[Decimal] | None = None
