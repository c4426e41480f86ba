"""Venue vocabulary of the engine: enums, codes and the one engine error.

Every enum is a ``StrEnum`` whose values are the venue's strings, so converting to the wire is
``str(value)``. Cancel reasons the docs do not enumerate (post-only cross, IOC remainder,
self-trade, reduce-only) are our choice and live here only, so they are easy to change once a
live capture settles them (PROTOCOL.md §6).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from shared.errors import VenueError

ZERO = Decimal(0)
ONE = Decimal(1)
#: Money (balances, fees, PnL) is kept in the chain's unit, 1e-8 (paraclear_decimals = 8).
MONEY_QUANTUM = Decimal("0.00000001")


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        """+1 for BUY, -1 for SELL: the sign a fill of this side adds to a position."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(StrEnum):
    """Order types. The six stop/take-profit types wait (UNTRIGGERED) for the mark price to
    reach ``trigger_price``, then behave as their :attr:`child` (LIMIT or MARKET)."""

    LIMIT = "LIMIT"
    MARKET = "MARKET"
    STOP_LIMIT = "STOP_LIMIT"
    STOP_MARKET = "STOP_MARKET"
    TAKE_PROFIT_LIMIT = "TAKE_PROFIT_LIMIT"
    TAKE_PROFIT_MARKET = "TAKE_PROFIT_MARKET"
    STOP_LOSS_LIMIT = "STOP_LOSS_LIMIT"
    STOP_LOSS_MARKET = "STOP_LOSS_MARKET"

    @property
    def child(self) -> OrderType:
        """The order type this one behaves as once triggered (itself for LIMIT/MARKET)."""
        return OrderType.MARKET if self.endswith("MARKET") else OrderType.LIMIT

    @property
    def is_trigger(self) -> bool:
        """A stop or take-profit type (has a trigger price)."""
        return self not in (OrderType.LIMIT, OrderType.MARKET)

    @property
    def is_take_profit(self) -> bool:
        return self.startswith("TAKE_PROFIT")

    @property
    def is_tpsl(self) -> bool:
        """TAKE_PROFIT_* / STOP_LOSS_*: the position-protecting types (may be position-sized)."""
        return self.startswith(("TAKE_PROFIT", "STOP_LOSS"))


class Instruction(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    POST_ONLY = "POST_ONLY"


class Stp(StrEnum):
    EXPIRE_TAKER = "EXPIRE_TAKER"
    EXPIRE_MAKER = "EXPIRE_MAKER"
    EXPIRE_BOTH = "EXPIRE_BOTH"


class Status(StrEnum):
    NEW = "NEW"
    UNTRIGGERED = "UNTRIGGERED"
    OPEN = "OPEN"
    CLOSED = "CLOSED"


class Liquidity(StrEnum):
    MAKER = "MAKER"
    TAKER = "TAKER"


class Flag(StrEnum):
    REDUCE_ONLY = "REDUCE_ONLY"
    STOP_CONDITION_BELOW_TRIGGER = "STOP_CONDITION_BELOW_TRIGGER"
    STOP_CONDITION_ABOVE_TRIGGER = "STOP_CONDITION_ABOVE_TRIGGER"


class CancelReason(StrEnum):
    """``cancel_reason`` of a CLOSED order. ``NONE`` ("") = fully filled."""

    NONE = ""
    USER_CANCELED = "USER_CANCELED"
    NOT_ENOUGH_MARGIN = "NOT_ENOUGH_MARGIN"
    ORDER_EXCEEDS_POSITION_LIMIT = "ORDER_EXCEEDS_POSITION_LIMIT"
    # Our choices (unconfirmed venue strings):
    POST_ONLY_WOULD_CROSS = "POST_ONLY_WOULD_CROSS"
    SELF_TRADE = "SELF_TRADE"  # seen in third-party logs of Paradex
    REDUCE_ONLY_WOULD_INCREASE = "REDUCE_ONLY_WOULD_INCREASE"
    NO_LIQUIDITY = "NO_LIQUIDITY"  # IOC / MARKET remainder, or nothing within max_slippage
    MAX_OPEN_ORDERS_EXCEEDED = "MAX_OPEN_ORDERS_EXCEEDED"
    LIQUIDATION = "LIQUIDATION"  # open orders of an account being liquidated


class CancelStatus(StrEnum):
    """Per-item status of a batch cancel."""

    QUEUED_FOR_CANCELLATION = "QUEUED_FOR_CANCELLATION"
    ALREADY_CLOSED = "ALREADY_CLOSED"
    NOT_FOUND = "NOT_FOUND"


class ErrorCode(StrEnum):
    """Venue error codes (``error`` field of a 4xx body) the engine raises synchronously."""

    VALIDATION_ERROR = "VALIDATION_ERROR"
    INVALID_REQUEST_PARAMETER = "INVALID_REQUEST_PARAMETER"
    MARKET_NOT_FOUND = "MARKET_NOT_FOUND"
    INVALID_ORDER_SIZE = "INVALID_ORDER_SIZE"
    INVALID_PRICE_PRECISION = "INVALID_PRICE_PRECISION"
    DUPLICATED_CLIENT_ID = "DUPLICATED_CLIENT_ID"
    ORDER_ID_NOT_FOUND = "ORDER_ID_NOT_FOUND"
    CLIENT_ORDER_ID_NOT_FOUND = "CLIENT_ORDER_ID_NOT_FOUND"
    ORDER_IS_CLOSED = "ORDER_IS_CLOSED"
    ORDER_IS_NOT_OPEN = "ORDER_IS_NOT_OPEN"
    FILL_NOT_FOUND = "NOT_FOUND"


class EngineError(VenueError):
    """A request the engine refuses synchronously; the REST layer answers ``status`` + ``code``.

    ``status`` is 400 except for not-found codes (404).
    """

    def __init__(self, code: ErrorCode, message: str = "", *, status: int | None = None) -> None:
        if status is None:
            status = 404 if code.endswith("NOT_FOUND") else 400
        super().__init__(status, str(code), message)
        self.error_code = code
