"""Signed order bodies from plain arguments (pure: the signing time is passed in).

Callers never hand-sign: :func:`build_order` and :func:`build_modify` sign the six (seven) fields the
venue checks (PROTOCOL.md 4.2) with ``signature_timestamp = now_ms`` and return the wire model. Sizes
and prices are Decimals or decimal strings, never floats. MARKET-type orders sign and send price 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from shared.errors import SigningError
from shared.paradex.models.requests import (
    InstructionLiteral,
    ModifyOrderRequest,
    OrderFlagLiteral,
    OrderRequest,
    OrderTypeLiteral,
    SideLiteral,
    StpLiteral,
)
from shared.paradex.signer import OrderSigner

_MARKET_TYPES = frozenset({"MARKET", "STOP_MARKET", "TAKE_PROFIT_MARKET", "STOP_LOSS_MARKET"})


def _decimal(value: Decimal | str | int, what: str) -> Decimal:
    if isinstance(value, bool | float):
        raise SigningError(f"{what} must be a Decimal, str or int, not {type(value).__name__}")
    try:
        return value if isinstance(value, Decimal) else Decimal(value)
    except ArithmeticError as exc:
        raise SigningError(f"{what} is not a decimal number: {value!r}") from exc


def _price(order_type: str, price: Decimal | str | int | None) -> Decimal:
    if order_type in _MARKET_TYPES:
        return Decimal(0)
    if price is None:
        raise SigningError(f"a {order_type} order needs a price")
    return _decimal(price, "price")


def build_order(signer: OrderSigner, *, market: str, side: SideLiteral, type: OrderTypeLiteral,
                size: Decimal | str | int, price: Decimal | str | int | None, now_ms: int,
                instruction: InstructionLiteral = "GTC", client_id: str | None = None,
                flags: Sequence[OrderFlagLiteral] = (), stp: StpLiteral | None = None,
                trigger_price: Decimal | str | None = None, recv_window: int | None = None) -> OrderRequest:
    """A signed ``POST /orders`` body (``price`` is ignored and sent as 0 for MARKET types)."""
    size_d = _decimal(size, "size")
    price_d = _price(type, price)
    signature = signer.sign_order(market, side, type, size_d, price_d, now_ms)
    return OrderRequest(
        market=market, side=side, type=type, size=size_d, price=price_d, instruction=instruction,
        signature=signature, signature_timestamp=now_ms, client_id=client_id or None, flags=list(flags),
        stp=stp, trigger_price=None if trigger_price is None else _decimal(trigger_price, "trigger_price"),
        recv_window=recv_window)


def build_modify(signer: OrderSigner, *, order_id: str, market: str, side: SideLiteral,
                 type: OrderTypeLiteral, size: Decimal | str | int, price: Decimal | str | int | None,
                 now_ms: int, trigger_price: Decimal | str | None = None) -> ModifyOrderRequest:
    """A signed ``PUT /orders/{order_id}`` body (side and type must equal the existing order's)."""
    size_d = _decimal(size, "size")
    price_d = _price(type, price)
    signature = signer.sign_modify(order_id, market, side, type, size_d, price_d, now_ms)
    return ModifyOrderRequest(
        id=order_id, market=market, side=side, type=type, size=size_d, price=price_d, signature=signature,
        signature_timestamp=now_ms,
        trigger_price=None if trigger_price is None else _decimal(trigger_price, "trigger_price"))

