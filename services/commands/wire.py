"""HTTP request bodies of the commands API (msgspec: decoded once, typed, strict enums)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

from shared.paradex.models.requests import InstructionLiteral, OrderFlagLiteral, OrderTypeLiteral, SideLiteral

Wait = Literal["none", "ack", "ws"]


class PlaceOrder(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /v1/orders`` (and one item of a batch). ``timeout_s`` bounds ``wait=ws``."""

    market: str
    side: SideLiteral
    type: OrderTypeLiteral = "LIMIT"
    size: Decimal
    price: Decimal | None = None
    instruction: InstructionLiteral = "GTC"
    flags: tuple[OrderFlagLiteral, ...] = ()
    client_id: str | None = None
    trigger_price: Decimal | None = None
    wait: Wait = "ack"
    timeout_s: float | None = None


class PlaceBatch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /v1/orders/batch``: up to 10 orders per venue batch (split above)."""

    orders: list[PlaceOrder]
    wait: Literal["none", "ack"] = "ack"


class ModifyOrder(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``PUT /v1/orders/{order_id}``: side and type must equal the order's."""

    market: str
    side: SideLiteral
    type: OrderTypeLiteral = "LIMIT"
    size: Decimal
    price: Decimal | None = None
    trigger_price: Decimal | None = None


class CancelBatch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``DELETE /v1/orders/batch``."""

    order_ids: list[str] = []
    client_ids: list[str] = []


class Reply(msgspec.Struct, frozen=True):
    """An HTTP reply: status, JSON body bytes, extra headers."""

    status: int
    body: bytes
    headers: dict[str, str] = {}


_enc = msgspec.json.Encoder()


def reply(status: int, body: object, headers: dict[str, str] | None = None) -> Reply:
    """A :class:`Reply` with ``body`` encoded (Decimals as strings)."""
    return Reply(status, _enc.encode(body), headers or {})


SEQ_HEADER = "X-Stream-Seq"


def with_seq(r: Reply, seq: int | None) -> Reply:
    """``r`` carrying ``seq`` (the ACCOUNT stream sequence of the command event it published) as
    the body's first field ``"seq"`` and as header ``X-Stream-Seq``; unchanged when ``seq`` is
    None/0 or the body is not a non-empty JSON object. A state read with ``min_seq=seq`` then
    reflects the event (read-your-writes)."""
    if not seq or not r.body.startswith(b"{") or r.body.startswith(b"{}"):
        return r
    return Reply(r.status, b'{"seq":%d,' % seq + r.body[1:], {**r.headers, SEQ_HEADER: str(seq)})


def seq_of(r: Reply) -> int:
    """The ``X-Stream-Seq`` of a reply (0 when it published nothing)."""
    return int(r.headers.get(SEQ_HEADER, 0))
