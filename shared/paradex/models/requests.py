"""Request bodies the hub sends (and the simulator validates): strict ``Literal`` enumerations.

OpenAPI ``requests.OrderRequest`` / ``requests.ModifyOrderRequest`` /
``requests.CancelOrderBatchRequest``; the same bodies are the params of the WS ``order.create``,
``order.modify`` and ``order.cancel_batch`` methods. Decoding a body with a value outside the
known enumerations raises DecodeError naming the field (the simulator answers VALIDATION_ERROR).
Optional fields are omitted when encoding (``omit_defaults``), never sent as ``null``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

import msgspec

from shared.paradex.models.common import Model

SideLiteral = Literal["BUY", "SELL"]
OrderTypeLiteral = Literal[
    "MARKET",
    "LIMIT",
    "STOP_LIMIT",
    "STOP_MARKET",
    "TAKE_PROFIT_LIMIT",
    "TAKE_PROFIT_MARKET",
    "STOP_LOSS_MARKET",
    "STOP_LOSS_LIMIT",
]
InstructionLiteral = Literal["GTC", "POST_ONLY", "IOC", "RPI"]
StpLiteral = Literal["EXPIRE_MAKER", "EXPIRE_TAKER", "EXPIRE_BOTH"]
OrderFlagLiteral = Literal[
    "REDUCE_ONLY",
    "STOP_CONDITION_BELOW_TRIGGER",
    "STOP_CONDITION_ABOVE_TRIGGER",
    "INTERACTIVE",
    "TARGET_STRATEGY_VWAP",
]
ClientId = Annotated[str, msgspec.Meta(max_length=64)]
RecvWindow = Annotated[int, msgspec.Meta(ge=10)]


class OrderRequest(Model, frozen=True, kw_only=True):
    """``POST /orders`` body and ``order.create`` params.

    ``price`` is required by the OpenAPI spec, but the official SDK omits it for non-limit types
    and the venue accepts that, so it is optional here: ``None`` (omitted when encoding) means
    "no price"; it signs as 0 and the venue layer rejects a LIMIT order without one.
    ``signature`` is the string ``'["r","s"]'``; ``signature_timestamp`` is in ms. Example::

        {"market":"BTC-USD-PERP","side":"BUY","type":"LIMIT","size":"0.01","price":"30000.5",
         "instruction":"POST_ONLY","client_id":"mm-1","signature_timestamp":1700000000000,
         "signature":"[\\"3098...913\\",\\"3506...983\\"]"}
    """

    market: str
    side: SideLiteral
    type: OrderTypeLiteral
    size: Decimal
    instruction: InstructionLiteral
    signature: str
    signature_timestamp: int
    price: Decimal | None = None
    client_id: ClientId | None = None
    flags: list[OrderFlagLiteral] = []
    stp: StpLiteral | None = None
    trigger_price: Decimal | None = None
    recv_window: RecvWindow | None = None
    on_behalf_of_account: str | None = None
    vwap_price: Decimal | None = None
    dime_discount: bool | None = None


class ModifyOrderRequest(Model, frozen=True, kw_only=True):
    """``PUT /orders/{order_id}`` body and ``order.modify`` params (side/type must match the order)."""

    id: str
    market: str
    side: SideLiteral
    type: OrderTypeLiteral
    size: Decimal
    price: Decimal
    signature: str
    signature_timestamp: int
    trigger_price: Decimal | None = None
    on_behalf_of_account: str | None = None


class CancelBatchRequest(Model, frozen=True, kw_only=True):
    """``DELETE /orders/batch`` body (``order.cancel_batch`` uses ``order_ids`` only)."""

    order_ids: list[str] = []
    client_order_ids: list[str] = []
