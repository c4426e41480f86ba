"""Pure matching engine of the Paradex simulator (no I/O; time and randomness are passed in).

Entry points: :class:`Exchange` (orders, cancels, modifies, queries, tradebusts, balances) and
:class:`SyntheticMarket` (random-walk mid, market-maker ladder, taker flow). Events are the
dataclasses in :mod:`.events`; ``VenueEvent`` is their union.
"""

from .events import (
    AccountUpdate,
    AccountView,
    BalanceEvent,
    BalanceUpdate,
    BalanceView,
    BboUpdate,
    BookDelta,
    BookLevel,
    BookSnapshot,
    FillEvent,
    FillView,
    FundingUpdate,
    MarketSummaryUpdate,
    OrderUpdate,
    OrderView,
    PositionUpdate,
    PositionView,
    Tradebust,
    TradeEvent,
    VenueEvent,
)
from .exchange import CancelResult, Exchange, OrderRequest
from .market import MarketConfig, default_markets
from .types import (
    CancelReason,
    CancelStatus,
    EngineError,
    ErrorCode,
    Flag,
    Instruction,
    Liquidity,
    OrderType,
    Side,
    Status,
    Stp,
)

__all__ = [
    "AccountUpdate",
    "AccountView",
    "BalanceEvent",
    "BalanceUpdate",
    "BalanceView",
    "BboUpdate",
    "BookDelta",
    "BookLevel",
    "BookSnapshot",
    "CancelReason",
    "CancelResult",
    "CancelStatus",
    "EngineError",
    "ErrorCode",
    "Exchange",
    "FillEvent",
    "FillView",
    "Flag",
    "FundingUpdate",
    "Instruction",
    "Liquidity",
    "MarketConfig",
    "MarketSummaryUpdate",
    "OrderRequest",
    "OrderType",
    "OrderUpdate",
    "OrderView",
    "PositionUpdate",
    "PositionView",
    "Side",
    "Status",
    "Stp",
    "TradeEvent",
    "Tradebust",
    "VenueEvent",
    "default_markets",
]
