"""Every HTTP body of the commands API, requests and replies (msgspec Structs, pure).

Requests are decoded once at the edge (typed, strict enums, unknown fields refused). Replies are
typed Structs too, encoded ONCE at the HTTP edge (or once when stored as an idempotency record,
whose bytes are then replayed as they are): nothing edits a reply as bytes.

Reply bodies omit fields left at their defaults (``seq`` 0 = nothing was published, empty
strings, ``None``), so each kind of answer carries only its own fields.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

from shared.paradex.models.account import Order
from shared.paradex.models.requests import (
    InstructionLiteral,
    OrderFlagLiteral,
    OrderTypeLiteral,
    SideLiteral,
    StpLiteral,
)

Wait = Literal["none", "ack", "ws"]

# ------------------------------------------------------------------------------------ requests


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
    stp: StpLiteral | None = None
    wait: Wait = "ack"
    timeout_s: float | None = None


class PlaceBatch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /v1/orders/batch``: up to 50 orders, 10 per venue batch request."""

    orders: list[PlaceOrder]
    wait: Literal["none", "ack"] = "ack"


class ModifyOrder(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``PUT /v1/orders/{order_id}``: market, side and type must equal the order's."""

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


class KillRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /v1/kill`` / ``POST /v1/resume``: ``reason`` is recorded on the KillSwitch event;
    ``strategy`` lets the admin token act on one strategy (empty: the whole account)."""

    reason: str = ""
    strategy: str = ""


# ------------------------------------------------------------------------------------ replies


class CancelResult(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One item of a batch cancel: the venue's per-order status, or FORBIDDEN (ours)."""

    id: str = ""
    client_id: str = ""
    status: str


class CommandReply(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The answer to a place, cancel or modify.

    ``status``: ``accepted`` / ``rejected`` / ``unknown`` / ``not_sent`` / ``submitted``
    (``wait=none``) / the venue status in lower case (``open``, ``closed``... after ``wait=ws``) /
    ``pending`` (``wait=ws`` timed out) / ``cancel_requested`` / ``modify_requested``. ``seq`` is the
    ACCOUNT stream sequence of the command's intent event (read-your-writes)."""

    seq: int = 0
    status: str = ""
    client_id: str = ""
    order_id: str = ""
    order: Order | None = None
    scope: str = ""
    market: str = ""
    error: str = ""
    message: str = ""
    http_status: int = 0
    resolved_by: str = ""
    results: list[CancelResult] | None = None


class ErrorReply(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A request refused before the venue: ``error`` code, the ``rule`` broken, a human message."""

    error: str
    rule: str
    message: str
    retry_after_s: float | None = None


class BatchItem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One item of a batch place: its HTTP status and its reply (the reply a single place would
    get; a replayed item's stored bytes as they are, with ``replayed`` true)."""

    http_status: int
    reply: msgspec.Raw
    replayed: bool = False


class BatchReply(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """``POST /v1/orders/batch``: one result per item in order; ``seq`` the max of theirs."""

    seq: int = 0
    results: list[BatchItem]


class RecordReply(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /v1/commands/{client_id}``: the stored outcome of a place (``state`` pending|done)."""

    client_id: str
    state: str
    http_status: int
    reply: msgspec.Raw


class KillReply(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The kill switch after ``POST /v1/kill`` or ``/v1/resume``."""

    seq: int = 0
    active: bool
    scope: str
    strategy: str = ""
    cancel: CommandReply | None = None


Body = CommandReply | ErrorReply | BatchReply | RecordReply | KillReply | msgspec.Raw


class Answer(msgspec.Struct, frozen=True):
    """An HTTP answer before encoding: status, typed body (or stored bytes), extra headers, and the
    stream sequence the edge sends as ``X-Stream-Seq`` (0: none)."""

    status: int
    body: Body
    headers: dict[str, str] = {}
    seq: int = 0


_enc = msgspec.json.Encoder(decimal_format="string")


def encode_body(body: Body) -> bytes:
    """The JSON bytes of a body (stored bytes are returned as they are)."""
    if isinstance(body, msgspec.Raw):
        return bytes(body)
    return _enc.encode(body)
