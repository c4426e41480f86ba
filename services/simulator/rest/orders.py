"""Order commands over REST: create (one, batch), modify, cancel (one, by client id, all, batch).

Thin wrappers of :mod:`..commands` (shared with the WebSocket ``order.*`` methods): decode the
body, call the command, shape the venue's REST answer (201 NEW order, 204 queued cancel...).
"""

from __future__ import annotations

from starlette.responses import Response

from shared.paradex.models.requests import CancelBatchRequest, ModifyOrderRequest, OrderRequest
from shared.paradex.models.rest import ApiError, BatchOrderResponse, CancelBatchResponse

from .. import commands
from .common import Call, empty, json_response


def create_order(call: Call) -> Response:
    order = commands.place(call.venue, call.account, call.now_ms, call.body_as(OrderRequest))
    return json_response(order, status=201)


def create_batch(call: Call) -> Response:
    results = commands.place_batch(call.venue, call.account, call.now_ms, call.body_as(list[OrderRequest]))
    orders = [r for r in results if not isinstance(r, ApiError)]
    errors = [r for r in results if isinstance(r, ApiError)]
    return json_response(BatchOrderResponse(orders=orders, errors=errors), status=201)


def modify_order(call: Call) -> Response:
    req = call.body_as(ModifyOrderRequest)
    return json_response(commands.modify(call.venue, call.account, call.now_ms, call.param("order_id"), req))


def cancel_order(call: Call) -> Response:
    commands.cancel(call.venue, call.account, call.now_ms, call.param("order_id"))
    return empty(204)


def cancel_by_client_id(call: Call) -> Response:
    commands.cancel(call.venue, call.account, call.now_ms, client_id=call.param("client_id"),
                    market=call.query("market"))
    return empty(204)


def cancel_all(call: Call) -> Response:
    commands.cancel_all(call.venue, call.account, call.now_ms, call.query("market"))
    return empty(200)


def cancel_batch(call: Call) -> Response:
    req = call.body_as(CancelBatchRequest)
    results = commands.cancel_batch(call.venue, call.account, call.now_ms, req.order_ids,
                                    req.client_order_ids)
    return json_response(CancelBatchResponse(results=results))
