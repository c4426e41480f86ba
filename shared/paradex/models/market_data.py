"""Public market-data payloads: order book, BBO, trades, market summary, funding data.

Field names and required fields follow the AsyncAPI payload schemas (``ResponsesPriceBookUpdate``,
``ResponsesBBOResp``, ``ResponsesTradeResult``, ``ResponsesMarketSummaryResp``,
``ResponsesFundingDataResult``); the same shapes are returned by the REST endpoints
(``/bbo``, ``/trades``, ``/markets/summary``, ``/funding/data``). The SBE codec builds these
same models from binary frames.

Book-dependent prices (``Bbo`` bid/ask and sizes; ``MarketSummary`` bid/ask/sizes,
``mark_price``, ``last_traded_price``, ``underlying_price``) are kept as the venue's string
(:data:`~shared.paradex.models.common.DecimalText`): an empty book side comes as ``""`` (JSON) or
null (SBE) and must read as "no price" (``*_value`` is ``None``), never as a price of 0.
"""

from __future__ import annotations

from decimal import Decimal

from shared.paradex.models.common import DecimalText, Model, opt_decimal


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


class Bbo(Model, frozen=True, kw_only=True, omit_defaults=False):
    """``bbo.*`` push and ``GET /bbo/{market}``: best bid/ask with the book ``seq_no`` (ms time).

    ``bid``/``bid_size``/``ask``/``ask_size`` are ``""`` for an empty side (also when the venue
    leaves them out); read them through the ``*_value`` properties. Deviation: those four have a
    ``""`` default for decoding, but every field is always encoded (``omit_defaults=False``).
    """

    market: str
    seq_no: int
    bid: DecimalText = ""
    bid_size: DecimalText = ""
    ask: DecimalText = ""
    ask_size: DecimalText = ""
    last_updated_at: int

    @property
    def bid_value(self) -> Decimal | None:
        """Best bid price, ``None`` for an empty bid side."""
        return opt_decimal(self.bid)

    @property
    def bid_size_value(self) -> Decimal | None:
        """Size at the best bid, ``None`` for an empty bid side."""
        return opt_decimal(self.bid_size)

    @property
    def ask_value(self) -> Decimal | None:
        """Best ask price, ``None`` for an empty ask side."""
        return opt_decimal(self.ask)

    @property
    def ask_size_value(self) -> Decimal | None:
        """Size at the best ask, ``None`` for an empty ask side."""
        return opt_decimal(self.ask_size)


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
    ``mark_price``, ``last_traded_price``, ``bid``, ``bid_size``, ``ask``, ``ask_size`` and
    ``underlying_price`` may be ``""`` (no book side, no trade yet, no index): read them through
    the ``*_value`` properties. They stay required (unlike :class:`Bbo`, this model has optional
    fields that must be left out, not written as null, so it keeps ``omit_defaults``).
    """

    symbol: str
    mark_price: DecimalText
    last_traded_price: DecimalText
    bid: DecimalText
    bid_size: DecimalText
    ask: DecimalText
    ask_size: DecimalText
    volume_24h: Decimal
    total_volume: Decimal
    created_at: int
    underlying_price: DecimalText
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

    @property
    def mark_price_value(self) -> Decimal | None:
        """``mark_price`` as a Decimal, ``None`` when empty."""
        return opt_decimal(self.mark_price)

    @property
    def last_traded_price_value(self) -> Decimal | None:
        """``last_traded_price`` as a Decimal, ``None`` when empty (no trade yet)."""
        return opt_decimal(self.last_traded_price)

    @property
    def bid_value(self) -> Decimal | None:
        """Best bid price, ``None`` for an empty bid side."""
        return opt_decimal(self.bid)

    @property
    def bid_size_value(self) -> Decimal | None:
        """Size at the best bid, ``None`` for an empty bid side."""
        return opt_decimal(self.bid_size)

    @property
    def ask_value(self) -> Decimal | None:
        """Best ask price, ``None`` for an empty ask side."""
        return opt_decimal(self.ask)

    @property
    def ask_size_value(self) -> Decimal | None:
        """Size at the best ask, ``None`` for an empty ask side."""
        return opt_decimal(self.ask_size)

    @property
    def underlying_price_value(self) -> Decimal | None:
        """``underlying_price`` (spot/index) as a Decimal, ``None`` when empty."""
        return opt_decimal(self.underlying_price)


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
