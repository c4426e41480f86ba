"""Algo (TWAP) orders: ``POST /algo/orders`` body and the AlgoOrderResp every algo route returns.

OpenAPI ``requests.AlgoOrderRequest`` / ``responses.AlgoOrderResp``. The venue documents TWAP
only: the parent is split into MARKET child orders placed every ``frequency`` seconds (default
30) over ``duration_seconds`` (30..86 400, a multiple of 30). Child orders are ordinary orders:
they arrive on ``orders.*`` / ``fills.*`` like any other; the AsyncAPI defines no algo channel,
so an algo's own state is read over REST (``GET /algo/orders``, ``/algo/orders-history``,
``/algo/orders/{algo_id}``).

The parent is signed like an order (``Order`` typed data, type ``MARKET``, price 0) with the
order's ``signature``/``signature_timestamp``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

import msgspec

from shared.paradex.models.common import DecimalText, Model, opt_decimal
from shared.paradex.models.requests import OrderTypeLiteral, RecvWindow, SideLiteral


class AlgoType:
    """Known ``algo_type`` values (responses accept any string)."""

    TWAP = "TWAP"


class AlgoOrder(Model, frozen=True, kw_only=True, omit_defaults=False):
    """AlgoOrderResp: ``POST /algo/orders`` (201), ``GET /algo/orders[...]`` items.

    ``status`` NEW → OPEN → CLOSED (the OrderStatus enum); ``remaining_size`` is the part not
    filled yet; ``avg_fill_price`` is ``""`` before the first child fill (read it through
    :attr:`avg_fill_price_value`); ``cancel_reason`` is ``""`` unless the algo was stopped
    (e.g. ``USER_CANCELED``, ``NOT_ENOUGH_MARGIN`` when a child failed the risk check);
    ``algo_params`` holds type-specific parameters as strings. The spec lists no required
    fields: the identity fields below are required, the rest default, and every field is always
    encoded (``omit_defaults=False``). Sample::

        {"id":"1700000000000000000000000001","account":"0x4638...","market":"BTC-USD-PERP",
         "side":"BUY","size":"0.05","remaining_size":"0.05","avg_fill_price":"","status":"OPEN",
         "algo_type":"TWAP","cancel_reason":"","created_at":1681493746016,
         "last_updated_at":1681493746016,"end_at":1681497346016,
         "algo_params":{"duration_seconds":"3600","frequency":"30"}}
    """

    id: str
    market: str
    side: str
    size: Decimal
    status: str
    remaining_size: Decimal
    account: str = ""
    avg_fill_price: DecimalText = ""
    algo_type: str = ""
    cancel_reason: str = ""
    created_at: int = 0
    last_updated_at: int = 0
    end_at: int = 0
    algo_params: dict[str, str] = {}

    @property
    def avg_fill_price_value(self) -> Decimal | None:
        """``avg_fill_price`` as a Decimal, ``None`` when the venue sent ``""``."""
        return opt_decimal(self.avg_fill_price)


AlgoTypeLiteral = Literal["TWAP"]
Seconds = Annotated[int, msgspec.Meta(ge=1)]


class AlgoOrderRequest(Model, frozen=True, kw_only=True):
    """``POST /algo/orders`` body (strict: unknown enum values fail to decode, naming the field).

    ``type`` must be ``MARKET`` for TWAP (checked by the venue with an explicit message, so the
    decoder accepts any order type); ``frequency`` defaults to 30 s on the venue. Example::

        {"algo_type":"TWAP","market":"BTC-USD-PERP","side":"BUY","type":"MARKET","size":"1.2",
         "duration_seconds":3600,"frequency":30,"signature_timestamp":1700000000000,
         "signature":"[\\"3098...913\\",\\"3506...983\\"]"}
    """

    algo_type: AlgoTypeLiteral
    duration_seconds: Seconds
    market: str
    side: SideLiteral
    size: Decimal
    type: OrderTypeLiteral
    signature: str
    signature_timestamp: int
    frequency: Seconds | None = None
    recv_window: RecvWindow | None = None
    on_behalf_of_account: str | None = None
    dime_discount: bool | None = None
