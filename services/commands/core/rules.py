"""Order validation against the venue's market specs and system state (pure).

Every check returns a :class:`Violation` naming the rule broken, or None. The HTTP layer turns a
violation into ``{"error": CODE, "rule": RULE, "message": ...}`` with its ``status``.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from shared.paradex.models.reference import Market

MARKET_TYPES = frozenset({"MARKET", "STOP_MARKET", "TAKE_PROFIT_MARKET", "STOP_LOSS_MARKET"})
ZERO = Decimal(0)


class Violation(msgspec.Struct, frozen=True, kw_only=True):
    """A broken rule: ``error`` code, ``rule`` name, human ``message`` and the HTTP ``status``."""

    error: str
    rule: str
    message: str
    status: int = 422

    def body(self) -> dict[str, str]:
        """The JSON body sent to the strategy."""
        return {"error": self.error, "rule": self.rule, "message": self.message}


class Intent(msgspec.Struct, frozen=True, kw_only=True):
    """An order a strategy wants placed (or a modify's new values), already typed."""

    market: str
    side: str
    type: str
    size: Decimal
    price: Decimal | None = None
    instruction: str = "GTC"
    flags: tuple[str, ...] = ()
    client_id: str = ""
    trigger_price: Decimal | None = None

    @property
    def priced(self) -> bool:
        """Whether the order carries a limit price (not a MARKET type)."""
        return self.type not in MARKET_TYPES

    def notional(self, reference: Decimal | None = None) -> Decimal | None:
        """size * price (or * ``reference`` for MARKET types); None when no price is known."""
        price = self.price if self.priced else reference
        return None if price is None else self.size * price


MAX_ADJUSTED_EXPONENT = 14
"""Numbers must stay below 1e15 in absolute value (far above any venue size or price)."""
MAX_DECIMALS = 18
"""At most 18 significant decimal places (trailing zeros do not count)."""


def check_number(name: str, value: Decimal) -> Violation | None:
    """``value`` is finite, below 1e15 and has at most 18 significant decimals (checked before any
    arithmetic: NaN, sNaN, Infinity, 1e400 or a 32-digit number would otherwise raise)."""
    if not value.is_finite():
        return Violation(
            error="NUMBER_NOT_FINITE",
            rule="finite_number",
            message=f"{name} must be a finite number, not {value}",
        )
    if not value:
        return None
    if value.adjusted() > MAX_ADJUSTED_EXPONENT:
        return Violation(
            error="NUMBER_OUT_OF_RANGE",
            rule="number_range",
            message=f"{name} must be below 1e{MAX_ADJUSTED_EXPONENT + 1} in absolute value",
        )
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite
    trailing = 0
    while trailing < len(digits) - 1 and digits[-1 - trailing] == 0:
        trailing += 1
    if exponent + trailing < -MAX_DECIMALS:
        return Violation(
            error="NUMBER_TOO_PRECISE",
            rule="number_precision",
            message=f"{name} has more than {MAX_DECIMALS} decimal places",
        )
    return None


def check_numbers(intent: Intent) -> Violation | None:
    """:func:`check_number` for the size, the price and the trigger price of ``intent``."""
    v = check_number("size", intent.size)
    if v is None and intent.price is not None:
        v = check_number("price", intent.price)
    if v is None and intent.trigger_price is not None:
        v = check_number("trigger_price", intent.trigger_price)
    return v


def on_grid(value: Decimal, step: Decimal) -> bool:
    """Whether ``value`` is an exact multiple of ``step``."""
    return step <= ZERO or value % step == ZERO


def check_system(status: str, intent: Intent | None) -> Violation | None:
    """System state: ``cancel_only``/``maintenance`` refuse new orders and modifies; ``post_only``
    accepts only POST_ONLY limit orders. ``intent`` None = a cancel (always allowed)."""
    if intent is None or status in ("ok", ""):
        return None
    if status in ("cancel_only", "maintenance"):
        return Violation(
            error="SYSTEM_STATUS_CANCEL_ONLY",
            rule="system_state",
            message=f"the venue is in {status}: only cancels are accepted",
        )
    if status == "post_only" and intent.instruction != "POST_ONLY":
        return Violation(
            error="SYSTEM_STATUS_POST_ONLY",
            rule="system_state",
            message="the venue is in post_only: only POST_ONLY orders are accepted",
        )
    return None


def check_market_open(market: Market, now_ms: int) -> Violation | None:
    """The market is listed, has opened and has not expired."""
    if market.open_at and market.open_at > now_ms:
        return Violation(
            error="MARKET_NOT_OPEN",
            rule="market_open",
            message=f"{market.symbol} opens at {market.open_at} (ms)",
        )
    if market.expiry_at and market.expiry_at <= now_ms:
        return Violation(
            error="MARKET_NOT_OPEN",
            rule="market_open",
            message=f"{market.symbol} expired at {market.expiry_at} (ms)",
        )
    return None


def check_order(
    intent: Intent, market: Market | None, now_ms: int, reference: Decimal | None = None
) -> Violation | None:
    """Every market-spec rule, in a fixed order (the first broken one is reported)."""
    if market is None:
        return Violation(error="MARKET_NOT_FOUND", rule="market", message=f"unknown market {intent.market!r}")
    if (v := check_market_open(market, now_ms)) is not None:
        return v
    if intent.priced:
        if intent.price is None:
            return Violation(
                error="PRICE_REQUIRED", rule="price", message=f"a {intent.type} order needs a price"
            )
        if intent.price <= ZERO:
            return Violation(
                error="PRICE_NOT_POSITIVE", rule="price", message=f"price {intent.price} must be > 0"
            )
        tick = market.price_tick_size
        if tick is not None and not on_grid(intent.price, tick):
            return Violation(
                error="PRICE_NOT_ON_TICK",
                rule="tick_size",
                message=f"price {intent.price} is not a multiple of the tick size {tick} of {market.symbol}",
            )
    if intent.size <= ZERO:
        return Violation(error="SIZE_NOT_POSITIVE", rule="size", message=f"size {intent.size} must be > 0")
    step = market.order_size_increment
    if step is not None and not on_grid(intent.size, step):
        return Violation(
            error="SIZE_NOT_ON_INCREMENT",
            rule="size_increment",
            message=f"size {intent.size} is not a multiple of the size increment {step} of {market.symbol}",
        )
    if market.max_order_size is not None and intent.size > market.max_order_size:
        return Violation(
            error="SIZE_ABOVE_MAX",
            rule="max_order_size",
            message=f"size {intent.size} exceeds the max order size {market.max_order_size} "
            f"of {market.symbol}",
        )
    notional = intent.notional(reference)
    if market.min_notional is not None and notional is not None and notional < market.min_notional:
        return Violation(
            error="NOTIONAL_BELOW_MIN",
            rule="min_notional",
            message=f"notional {notional} is below the min notional {market.min_notional} of {market.symbol}",
        )
    return check_trigger(intent, market)


TRIGGER_TYPES = frozenset(
    {
        "STOP_LIMIT",
        "STOP_MARKET",
        "TAKE_PROFIT_LIMIT",
        "TAKE_PROFIT_MARKET",
        "STOP_LOSS_LIMIT",
        "STOP_LOSS_MARKET",
    }
)
STOP_CONDITIONS = frozenset({"STOP_CONDITION_BELOW_TRIGGER", "STOP_CONDITION_ABOVE_TRIGGER"})


def check_trigger(intent: Intent, market: Market) -> Violation | None:
    """Stop and take-profit orders: a positive ``trigger_price`` on the tick grid, at most one
    STOP_CONDITION flag; neither a trigger price nor a STOP_CONDITION flag on other types."""
    triggered = intent.type in TRIGGER_TYPES
    conditions = STOP_CONDITIONS.intersection(intent.flags)
    if not triggered:
        if intent.trigger_price is not None and intent.trigger_price != ZERO:
            return Violation(
                error="TRIGGER_PRICE_NOT_ALLOWED",
                rule="trigger_price",
                message=f"a {intent.type} order takes no trigger_price (stop and take-profit types only)",
            )
        if conditions:
            return Violation(
                error="STOP_CONDITION_NOT_ALLOWED",
                rule="stop_condition",
                message=f"{sorted(conditions)[0]} applies to stop and take-profit types only",
            )
        return None
    if intent.trigger_price is None:
        return Violation(
            error="TRIGGER_PRICE_REQUIRED",
            rule="trigger_price",
            message=f"a {intent.type} order needs a trigger_price",
        )
    if intent.trigger_price <= ZERO:
        return Violation(
            error="TRIGGER_PRICE_NOT_POSITIVE",
            rule="trigger_price",
            message=f"trigger_price {intent.trigger_price} must be > 0",
        )
    tick = market.price_tick_size
    if tick is not None and not on_grid(intent.trigger_price, tick):
        return Violation(
            error="TRIGGER_PRICE_NOT_ON_TICK",
            rule="tick_size",
            message=f"trigger_price {intent.trigger_price} is not a multiple of the tick size {tick} "
            f"of {intent.market}",
        )
    if len(conditions) > 1:
        return Violation(
            error="STOP_CONDITION_CONFLICT",
            rule="stop_condition",
            message="STOP_CONDITION_BELOW_TRIGGER and STOP_CONDITION_ABOVE_TRIGGER exclude each other",
        )
    return None


_CID_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:")


def check_client_id(client_id: str) -> Violation | None:
    """A client id is 1-64 characters of ``[A-Za-z0-9_.:-]`` (safe in URLs and Redis keys)."""
    if not client_id or len(client_id) > 64 or not set(client_id) <= _CID_OK:
        return Violation(
            error="INVALID_CLIENT_ID",
            rule="client_id",
            message="client_id must be 1-64 characters of [A-Za-z0-9_.:-]",
        )
    return None


_DIGITS = frozenset("0123456789")


def check_order_id(order_id: str) -> Violation | None:
    """An exchange order id is 1-64 digits (PROTOCOL 1: ids are strings of digits)."""
    if not order_id or len(order_id) > 64 or not set(order_id) <= _DIGITS:
        return Violation(
            error="INVALID_ORDER_ID",
            rule="order_id",
            message="an order id is 1-64 digits (the venue's exchange id)",
        )
    return None


def check_modify(market: str, side: str, type_: str, intent: Intent) -> Violation | None:
    """A modify keeps the order's market, side and type (the venue changes only size and price);
    ``market``/``side``/``type_`` are the order's own, "" where unknown (not checked)."""
    for field, current, wanted in (
        ("market", market, intent.market),
        ("side", side, intent.side),
        ("type", type_, intent.type),
    ):
        if current and current != wanted:
            return Violation(
                error=f"MODIFY_{field.upper()}_MISMATCH",
                rule="modify_unchanged_fields",
                message=f"a modify cannot change the order's {field} ({current} -> {wanted})",
            )
    return None
