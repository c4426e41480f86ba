"""Immutable views of engine state and the venue events the engine emits.

Views (``OrderView``, ``FillView``, ...) are frozen snapshots with venue field names and Decimal
values; queries return them and entity events wrap them. ``VenueEvent`` is the tagged union the
server fans out to channels; each event's ``kind`` names its channel family.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

from .types import ZERO, CancelReason, Flag, Instruction, Liquidity, OrderType, Side, Status, Stp


@dataclass(frozen=True, slots=True)
class BookLevel:
    side: Side
    price: Decimal
    size: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderView:
    id: str
    client_id: str
    account: str
    market: str
    side: Side
    type: OrderType
    size: Decimal
    remaining_size: Decimal
    price: Decimal
    avg_fill_price: Decimal | None
    status: Status
    cancel_reason: CancelReason
    instruction: Instruction
    flags: tuple[Flag, ...]
    stp: Stp
    created_at: int
    last_updated_at: int
    received_at: int
    published_at: int
    timestamp: int
    trigger_price: Decimal
    seq_no: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FillView:
    id: str
    order_id: str
    client_id: str
    account: str
    market: str
    side: Side
    liquidity: Liquidity
    price: Decimal
    size: Decimal
    remaining_size: Decimal
    fee: Decimal
    realized_pnl: Decimal
    created_at: int
    orderbook_seq_no: int
    fee_currency: str = "USDC"
    realized_funding: Decimal = ZERO
    fill_type: str = "FILL"
    flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionView:
    id: str
    account: str
    market: str
    status: str
    side: str
    size: Decimal
    average_entry_price: Decimal
    average_exit_price: Decimal
    cost: Decimal
    unrealized_pnl: Decimal
    realized_positional_pnl: Decimal
    last_fill_id: str
    leverage: Decimal
    created_at: int
    last_updated_at: int
    closed_at: int
    seq_no: int
    unrealized_funding_pnl: Decimal = ZERO
    realized_positional_funding_pnl: Decimal = ZERO
    cached_funding_index: Decimal = ZERO
    liquidation_price: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountView:
    account: str
    account_value: Decimal
    total_collateral: Decimal
    free_collateral: Decimal
    initial_margin_requirement: Decimal
    maintenance_margin_requirement: Decimal
    margin_cushion: Decimal
    updated_at: int
    seq_no: int
    settlement_asset: str = "USDC"
    status: str = "ACTIVE"


@dataclass(frozen=True, slots=True, kw_only=True)
class BalanceView:
    token: str
    size: Decimal
    last_updated_at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FundingPaymentView:
    """One funding payment: ``payment`` signed from the account's side (positive = received)."""

    id: str
    account: str
    market: str
    payment: Decimal
    index: Decimal
    fill_id: str
    created_at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LiquidationView:
    """One liquidation of an account: its (simulated) transaction hash and time."""

    id: str
    account: str
    created_at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AlgoView:
    """A TWAP algo order (AlgoOrderResp figures)."""

    id: str
    account: str
    market: str
    side: Side
    size: Decimal
    remaining_size: Decimal
    avg_fill_price: Decimal | None
    status: Status
    cancel_reason: CancelReason
    algo_type: str
    created_at: int
    last_updated_at: int
    end_at: int
    duration_s: int
    frequency_s: int


# ---------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    kind: ClassVar[str] = "order"
    order: OrderView


@dataclass(frozen=True, slots=True)
class FillEvent:
    kind: ClassVar[str] = "fill"
    fill: FillView


@dataclass(frozen=True, slots=True)
class PositionUpdate:
    kind: ClassVar[str] = "position"
    position: PositionView


@dataclass(frozen=True, slots=True)
class AccountUpdate:
    kind: ClassVar[str] = "account"
    summary: AccountView


@dataclass(frozen=True, slots=True)
class BalanceUpdate:
    """The account's token balance record changed (GET /balance view)."""

    kind: ClassVar[str] = "balance"
    account: str
    balance: BalanceView


@dataclass(frozen=True, slots=True, kw_only=True)
class BalanceEvent:
    """``balance_events`` channel: one settlement-asset change per fill (or tradebust)."""

    kind: ClassVar[str] = "balance_event"
    account: str
    type: str
    fill_id: str
    market: str
    settlement_asset_balance_before: Decimal
    settlement_asset_balance_after: Decimal
    realized_pnl: Decimal
    fees: Decimal
    created_at: int
    status: str = "ON_BLOCKCHAIN"
    settlement_asset_name: str = "USDC"
    settlement_asset_price: Decimal = Decimal(1)
    funding_index: Decimal = ZERO
    realized_funding: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class FundingPaymentEvent:
    """``funding_payments.{market}`` push."""

    kind: ClassVar[str] = "funding_payment"
    payment: FundingPaymentView


@dataclass(frozen=True, slots=True)
class AlgoUpdate:
    """A new state of a TWAP algo order (no venue channel carries it: REST shows algo state)."""

    kind: ClassVar[str] = "algo"
    algo: AlgoView


@dataclass(frozen=True, slots=True, kw_only=True)
class BookDelta:
    """``order_book`` frame: ``update_type`` "d" (delta, seq = previous + 1) or "s" (snapshot).

    ``best_bid``/``best_ask``: the top level of each side once the frame is applied (None for an
    empty side), what the venue pushes as ``best_*_api`` / ``best_*_interactive``.
    """

    kind: ClassVar[str] = "book"
    market: str
    seq_no: int
    last_updated_at: int
    update_type: str
    inserts: tuple[BookLevel, ...]
    updates: tuple[BookLevel, ...]
    deletes: tuple[BookLevel, ...]
    best_bid: BookLevel | None = None
    best_ask: BookLevel | None = None


#: A snapshot frame is a BookDelta with update_type "s"; the alias documents intent.
BookSnapshot = BookDelta


@dataclass(frozen=True, slots=True, kw_only=True)
class BboUpdate:
    kind: ClassVar[str] = "bbo"
    market: str
    seq_no: int
    bid: Decimal | None
    bid_size: Decimal
    ask: Decimal | None
    ask_size: Decimal
    last_updated_at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TradeEvent:
    kind: ClassVar[str] = "trade"
    id: str
    market: str
    side: Side
    size: Decimal
    price: Decimal
    created_at: int
    trade_type: str = "FILL"
    #: Book sequence after the execution (the SBE trade ``seq``); 0 when it has none.
    seq_no: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Tradebust:
    kind: ClassVar[str] = "tradebust"
    account: str
    busted_fill_id: str
    created_at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketSummaryUpdate:
    kind: ClassVar[str] = "markets_summary"
    symbol: str
    mark_price: Decimal
    last_traded_price: Decimal
    bid: Decimal | None
    bid_size: Decimal
    ask: Decimal | None
    ask_size: Decimal
    volume_24h: Decimal
    total_volume: Decimal
    open_interest: Decimal
    funding_rate: Decimal
    future_funding_rate: Decimal
    underlying_price: Decimal
    price_change_rate_24h: Decimal
    created_at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FundingUpdate:
    kind: ClassVar[str] = "funding_data"
    market: str
    funding_index: Decimal
    funding_premium: Decimal
    funding_rate: Decimal
    funding_rate_8h: Decimal
    funding_period_hours: int
    created_at: int


VenueEvent = (
    OrderUpdate
    | FillEvent
    | PositionUpdate
    | AccountUpdate
    | BalanceUpdate
    | BalanceEvent
    | BookDelta
    | BboUpdate
    | TradeEvent
    | Tradebust
    | MarketSummaryUpdate
    | FundingUpdate
    | FundingPaymentEvent
    | AlgoUpdate
)
