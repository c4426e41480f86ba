"""WebSocket JSON-RPC 2.0 envelopes and the typed results of the OpenRPC methods.

Envelopes always encode ``jsonrpc`` (``omit_defaults=False``), unlike the payload models.
Requests: ``{"jsonrpc":"2.0","method":M,"params":{...},"id":N}``. Responses echo ``id`` and carry
``result`` or ``error`` plus the opaque server timing fields ``usIn``/``usOut``/``usDiff`` (unit
unconfirmed; treat as opaque). Pushes: ``{"jsonrpc":"2.0","method":"subscription",
"params":{"channel":C,"data":{...}}}`` — decode those with :func:`shared.paradex.models.decode_push`.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec

from shared.paradex.models.account import Order
from shared.paradex.models.common import Model

R = TypeVar("R")
D = TypeVar("D")

RpcId = int | str


class JsonRpcRequest(Model, frozen=True, kw_only=True, omit_defaults=False):
    """A client request; ``params`` is an object (``order.create_batch`` may send a list)."""

    method: str
    id: RpcId
    params: Any = msgspec.UNSET  # left out of the JSON when not given
    jsonrpc: str = "2.0"


class RpcError(Model, frozen=True, kw_only=True):
    """``error`` member: ``code`` (-326xx JSON-RPC, 100 method error, 401xx auth...), text, detail."""

    code: int
    message: str = ""
    data: Any = None


class JsonRpcResponse(Model, Generic[R], frozen=True, kw_only=True, omit_defaults=False):
    """A success response; parametrise with the result type, e.g. ``JsonRpcResponse[AuthResult]``."""

    id: RpcId | None
    result: R
    jsonrpc: str = "2.0"
    usIn: int | None = None
    usOut: int | None = None
    usDiff: int | None = None


class JsonRpcErrorResponse(Model, frozen=True, kw_only=True, omit_defaults=False):
    """An error response (``id`` may be null when the request could not be parsed)."""

    id: RpcId | None
    error: RpcError
    jsonrpc: str = "2.0"
    usIn: int | None = None
    usOut: int | None = None
    usDiff: int | None = None


class SubscriptionParams(Model, Generic[D], frozen=True, kw_only=True):
    """``params`` of a push: the exact subscribed ``channel`` and one ``data`` object."""

    channel: str
    data: D


class SubscriptionPush(Model, Generic[D], frozen=True, kw_only=True, omit_defaults=False):
    """A whole push frame (``method`` is ``"subscription"``); used to *encode* pushes (simulator)."""

    params: SubscriptionParams[D]
    method: str = "subscription"
    jsonrpc: str = "2.0"


# --- results of the OpenRPC methods ------------------------------------------------------------


class AuthResult(Model, frozen=True, kw_only=True):
    """``auth`` result: the opaque server node id."""

    node_id: str = ""


class SubscribeResult(Model, frozen=True, kw_only=True):
    """``subscribe`` / ``unsubscribe`` result (``modify_subscription`` adds ``add``/``remove``)."""

    channel: str
    add: list[str] | None = None
    remove: list[str] | None = None


class OrderCreateResult(Model, frozen=True, kw_only=True):
    """``order.create`` result: the order, engine time (ms) and receipt time (ns)."""

    order: Order
    created_at: int | None = None
    received_at: int | None = None


class OrderBatchItem(Model, frozen=True, kw_only=True):
    """One ``order.create_batch`` outcome: ``order`` on success, ``error`` text on failure."""

    order: Order | None = None
    error: str = ""
    created_at: int | None = None
    received_at: int | None = None


class OrderBatchResult(Model, frozen=True, kw_only=True):
    """``order.create_batch`` result, in request order."""

    results: list[OrderBatchItem]


class OrderCancelResult(Model, frozen=True, kw_only=True):
    """``order.cancel`` result: ``{"order_id", "status": "QUEUED_FOR_CANCELLATION"}``."""

    status: str
    order_id: str = ""


class CancelAllResult(Model, frozen=True, kw_only=True):
    """``order.cancel_all`` result (``status`` is always ``"ok"``)."""

    status: str


class CancelOnDisconnectResult(Model, frozen=True, kw_only=True):
    """``order.cancel_on_disconnect`` result: the new state for this connection."""

    enabled: bool
