"""Private account payloads: orders, fills, positions, account summary, balances, busts.

Required fields follow the AsyncAPI payload schemas of the private channels (``orders.*``,
``fills.*``, ``positions``, ``account``, ``balance_events``, ``tradebusts``); REST returns the same
shapes (OpenAPI ``responses.OrderResp``, ``FillResult``, ``PositionResp``,
``AccountSummaryResponse``, ``BalanceResp``, ``TradebustResult``). Deviations from a spec
``required`` list are listed on the class and checked by ``tests/paradex/test_models_spec.py``.
Fields the venue may send as ``""`` instead of a number are kept as ``str`` with a ``*_value``
property (see :mod:`shared.paradex.models.common`).
"""

from __future__ import annotations

from decimal import Decimal

from shared.paradex.models.common import DecimalText, Model, opt_decimal


class RequestInfo(Model, frozen=True, kw_only=True):
    """Tracks a modify request on an order: ``request_type`` ``"MODIFY_ORDER"``, its status/message."""

    id: str
    status: str
    message: str
    request_type: str


class Order(Model, frozen=True, kw_only=True):
    """OrderResp: ``orders.*`` push, REST order endpoints, ``order.create`` result ``order``.

    ``avg_fill_price`` and ``trigger_price`` may be ``""`` (no fill / no trigger): read them as
    numbers through :attr:`avg_fill_price_value` / :attr:`trigger_price_value`. ``seq_no`` is
    per source (WS and REST number their events independently). Deviation: ``stp`` defaults to
    ``""`` because the OpenRPC order results omit it. Sample::

        {"id":"123456","client_id":"x1234","account":"0x4638...","market":"BTC-USD-PERP",
         "side":"BUY","type":"LIMIT","size":"0.05","remaining_size":"0.05","price":"26000",
         "avg_fill_price":"","trigger_price":"0","status":"OPEN","cancel_reason":"",
         "instruction":"GTC","flags":[],"stp":"EXPIRE_TAKER","created_at":1681493746016,
         "last_updated_at":1681493746020,"received_at":1681493746010,
         "published_at":1681493746021,"timestamp":1681493746000,"seq_no":1681493746020000000}
    """

    id: str
    account: str
    market: str
    side: str
    type: str
    size: Decimal
    remaining_size: Decimal
    price: Decimal
    status: str
    created_at: int
    last_updated_at: int
    timestamp: int
    cancel_reason: str
    client_id: str
    seq_no: int
    instruction: str
    avg_fill_price: str
    received_at: int
    published_at: int
    flags: list[str]
    trigger_price: str
    stp: str = ""
    request_info: RequestInfo | None = None

    @property
    def avg_fill_price_value(self) -> Decimal | None:
        """``avg_fill_price`` as a Decimal, ``None`` when the venue sent ``""``."""
        return opt_decimal(self.avg_fill_price)

    @property
    def trigger_price_value(self) -> Decimal | None:
        """``trigger_price`` as a Decimal, ``None`` when the venue sent ``""``."""
        return opt_decimal(self.trigger_price)


class Fill(Model, frozen=True, kw_only=True):
    """FillResult: ``fills.*`` push and ``GET /fills`` item. Dedup by ``id`` (fills have no seq_no).

    ``orderbook_seq_no`` is the book sequence after the execution (0 for transfers).
    ``underlying_price`` may be ``""`` (no index price): use :attr:`underlying_price_value`.
    """

    id: str
    side: str
    liquidity: str
    market: str
    order_id: str
    price: Decimal
    size: Decimal
    fee: Decimal
    fee_currency: str
    created_at: int
    remaining_size: Decimal
    client_id: str
    fill_type: str
    realized_pnl: Decimal
    realized_funding: Decimal
    account: str
    underlying_price: DecimalText
    flags: list[str]
    orderbook_seq_no: int | None = None

    @property
    def underlying_price_value(self) -> Decimal | None:
        """``underlying_price`` as a Decimal, ``None`` when the venue sent ``""``."""
        return opt_decimal(self.underlying_price)


class Position(Model, frozen=True, kw_only=True):
    """PositionResp: ``positions`` push and ``GET /positions`` item (one per market).

    ``size`` is signed in the docs (negative for SHORT); normalise by ``side``.
    ``liquidation_price`` and ``leverage`` may be ``""``: use the ``*_value`` properties.
    """

    id: str
    account: str
    market: str
    status: str
    side: str
    size: Decimal
    average_entry_price: Decimal
    average_entry_price_usd: Decimal
    average_exit_price: Decimal
    unrealized_pnl: Decimal
    unrealized_funding_pnl: Decimal
    cost: Decimal
    cost_usd: Decimal
    cached_funding_index: Decimal
    last_fill_id: str
    seq_no: int
    liquidation_price: str
    leverage: str
    realized_positional_pnl: Decimal
    realized_positional_funding_pnl: Decimal
    created_at: int | None = None
    last_updated_at: int | None = None
    closed_at: int | None = None

    @property
    def liquidation_price_value(self) -> Decimal | None:
        """``liquidation_price`` as a Decimal, ``None`` when the venue sent ``""``."""
        return opt_decimal(self.liquidation_price)

    @property
    def leverage_value(self) -> Decimal | None:
        """``leverage`` as a Decimal, ``None`` when the venue sent ``""``."""
        return opt_decimal(self.leverage)


class Account(Model, frozen=True, kw_only=True, omit_defaults=False):
    """AccountSummaryResponse: ``account`` push and ``GET /account`` (the margin snapshot).

    Deviation: ``last_seen_notification`` (a UI notification marker, recently added) defaults
    to 0 so its absence never stops the account feed; it is still always encoded
    (``omit_defaults=False``), because the spec lists it as required.
    """

    account: str
    initial_margin_requirement: Decimal
    maintenance_margin_requirement: Decimal
    account_value: Decimal
    total_collateral: Decimal
    free_collateral: Decimal
    margin_cushion: Decimal
    settlement_asset: str
    updated_at: int
    status: str
    seq_no: int
    last_seen_notification: int = 0


class Balance(Model, frozen=True, kw_only=True):
    """One item of ``GET /balance`` ``results`` (spec lists no required fields; token and size are)."""

    token: str
    size: Decimal
    last_updated_at: int | None = None
    cost: Decimal | None = None
    cost_usd: Decimal | None = None
    average_entry_price: Decimal | None = None
    average_entry_price_usd: Decimal | None = None


class BalanceEvent(Model, frozen=True, kw_only=True, omit_defaults=False):
    """``balance_events`` push: a settlement-asset balance change (per fill, or e.g. a funding
    payment).

    Deviation: the fields documented "(for fill events)" (``fill_id``, ``market``,
    ``funding_index``, ``realized_pnl``, ``fees``, ``realized_funding``) have defaults, so a
    non-fill event that leaves them out still decodes; they are still always encoded
    (``omit_defaults=False``: ``fill_id`` ``""`` for a non-fill event), as the spec requires.
    """

    type: str
    status: str
    settlement_asset_name: str
    settlement_asset_address: str
    settlement_asset_balance_before: Decimal
    settlement_asset_balance_after: Decimal
    settlement_asset_price: Decimal
    created_at: int
    fill_id: str = ""
    market: str = ""
    funding_index: Decimal | None = None
    realized_pnl: Decimal | None = None
    fees: Decimal | None = None
    realized_funding: Decimal | None = None


class Tradebust(Model, frozen=True, kw_only=True):
    """``tradebusts`` push / ``GET /tradebusts`` item: a fill reverted after failing to settle."""

    account: str
    busted_fill_id: str
    created_at: int
