"""Mutable engine state: orders, positions, accounts. Only the engine mutates these."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from .events import FundingPaymentView, LiquidationView
from .types import ZERO, CancelReason, Flag, Instruction, OrderType, Side, Status, Stp


class Order:
    """One order as the engine holds it (venue field names)."""

    __slots__ = (
        "account",
        "algo_id",
        "cancel_queued",
        "cancel_reason",
        "client_id",
        "created_at",
        "filled_notional",
        "flags",
        "id",
        "instruction",
        "internal",
        "kind",
        "last_updated_at",
        "market",
        "position_sized",
        "price",
        "published_at",
        "received_at",
        "remaining_size",
        "resting",
        "seq_no",
        "side",
        "size",
        "status",
        "stp",
        "timestamp",
        "trigger_above",
        "trigger_price",
        "trigger_seq",
        "type",
    )

    def __init__(
        self,
        *,
        id: str,
        account: str,
        market: str,
        side: Side,
        type: OrderType,
        size: Decimal,
        price: Decimal,
        instruction: Instruction,
        flags: tuple[Flag, ...],
        stp: Stp,
        client_id: str,
        now_ms: int,
        timestamp: int,
        internal: bool = False,
        trigger_price: Decimal = ZERO,
        trigger_above: bool = False,
        position_sized: bool = False,
        algo_id: str = "",
    ) -> None:
        self.id = id
        self.account = account
        self.market = market
        self.side = side
        self.type = type
        self.size = size
        self.remaining_size = size
        self.price = price
        self.instruction = instruction
        self.flags = flags
        self.stp = stp
        self.client_id = client_id
        self.status = Status.NEW
        self.cancel_reason = CancelReason.NONE
        self.filled_notional = ZERO
        self.created_at = now_ms
        self.received_at = now_ms
        self.last_updated_at = now_ms
        self.published_at = now_ms
        self.timestamp = timestamp
        self.seq_no = 0
        self.cancel_queued = False
        self.internal = internal
        self.resting = False
        #: What the order trades as: its own type, or the child type of a stop/take-profit.
        self.kind = type.child
        #: Stop/take-profit: trigger when mark >= trigger_price (above) or <= (below).
        self.trigger_price = trigger_price
        self.trigger_above = trigger_above
        #: Key of the order in its market's trigger queue (0: not queued).
        self.trigger_seq = 0
        #: A TP/SL with size 0: sized to the position when it triggers.
        self.position_sized = position_sized
        #: The TWAP algo that placed this child order ("" for an ordinary order).
        self.algo_id = algo_id

    @property
    def filled_size(self) -> Decimal:
        return self.size - self.remaining_size

    @property
    def reduce_only(self) -> bool:
        return Flag.REDUCE_ONLY in self.flags

    @property
    def is_live(self) -> bool:
        """NEW, UNTRIGGERED or OPEN: may still trade or be cancelled."""
        return self.status is not Status.CLOSED

    @property
    def avg_fill_price(self) -> Decimal | None:
        filled = self.filled_size
        return self.filled_notional / filled if filled else None


@dataclass(slots=True)
class Position:
    """One market position of one account. ``cost`` is the signed entry notional of ``size``."""

    account: str
    market: str
    size: Decimal = ZERO
    cost: Decimal = ZERO
    realized_positional_pnl: Decimal = ZERO
    exit_notional: Decimal = ZERO
    exit_size: Decimal = ZERO
    #: Funding index the position last settled at, and funding realized since it opened.
    cached_funding_index: Decimal = ZERO
    realized_funding: Decimal = ZERO
    last_fill_id: str = ""
    created_at: int = 0
    last_updated_at: int = 0
    closed_at: int = 0
    seq_no: int = 0

    @property
    def average_entry_price(self) -> Decimal:
        return abs(self.cost / self.size) if self.size else ZERO


@dataclass(slots=True)
class AccountState:
    """Balance (USDC), positions, orders and fills of one account."""

    account: str
    balance: Decimal
    internal: bool = False
    balance_updated_at: int = 0
    positions: dict[str, Position] = field(default_factory=dict)
    #: Every order of the account (closed ones too, except for internal accounts), by id.
    orders: dict[str, Order] = field(default_factory=dict)
    #: client_id -> id of the newest order that used it.
    client_ids: dict[str, str] = field(default_factory=dict)
    #: Live (NEW/OPEN) order count per market.
    live_counts: dict[str, int] = field(default_factory=dict)
    #: Resting remaining size per (market, side): the open-order exposure used by margin.
    resting: dict[tuple[str, Side], Decimal] = field(default_factory=dict)
    fill_ids: list[str] = field(default_factory=list)
    #: Funding payments (oldest first), liquidation records, TWAP algo ids (oldest first).
    funding_payments: list[FundingPaymentView] = field(default_factory=list)
    liquidations: list[LiquidationView] = field(default_factory=list)
    algo_ids: list[str] = field(default_factory=list)
    #: ACTIVE, or LIQUIDATION from a liquidation until the next health check.
    status: str = "ACTIVE"
    seq_no: int = 0
    updated_at: int = 0

    def position(self, market: str) -> Position:
        """The account's position in ``market`` (created flat on first use)."""
        pos = self.positions.get(market)
        if pos is None:
            pos = self.positions[market] = Position(self.account, market)
        return pos


@dataclass(slots=True, kw_only=True)
class AlgoState:
    """One TWAP algo order: ``children_total`` MARKET children, one every ``frequency_ms``.

    ``remaining_size`` is what is not filled yet; each child takes an equal share of it over
    the children left (so a child's unfilled part is spread over the later ones).
    """

    id: str
    account: str
    market: str
    side: Side
    size: Decimal
    created_at: int
    end_at: int
    duration_s: int
    frequency_s: int
    children_total: int
    timestamp: int
    algo_type: str = "TWAP"
    remaining_size: Decimal = ZERO
    filled_notional: Decimal = ZERO
    status: Status = Status.NEW
    cancel_reason: CancelReason = CancelReason.NONE
    last_updated_at: int = 0
    children_sent: int = 0
    next_child_at: int = 0
    cancel_queued: bool = False
    child_ids: list[str] = field(default_factory=list)

    @property
    def filled_size(self) -> Decimal:
        return self.size - self.remaining_size
