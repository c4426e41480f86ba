"""Order commands: create (one, batch), modify, cancel (one, by client id, all, batch).

Every order, batch item and modify carries a STARK signature over its typed data (PROTOCOL.md
4.2), checked against the account's registered key unless verification is switched off. Commands
are queued in the engine; the venue runs them shortly after (:meth:`Venue.schedule_process`).
"""

from __future__ import annotations

from starlette.responses import Response

from shared.errors import SigningError, VenueError
from shared.paradex.models.requests import CancelBatchRequest, ModifyOrderRequest, OrderRequest
from shared.paradex.models.rest import ApiError, BatchOrderResponse, CancelBatchResponse, CancelOrderResult
from shared.paradex.signer import modify_order_hash, order_hash, verify_signature

from ..engine import EngineError
from ..engine import OrderRequest as EngineOrder
from .common import Call, empty, json_response


def _check_signature(call: Call, msg_hash: int, signature: str) -> None:
    key = call.venue.public_key(call.account)
    if key is None or not verify_signature(key, msg_hash, signature):
        raise VenueError(400, "INVALID_ORDER_SIGNATURE", "order signature verification failed")


def _check_recv_window(call: Call, timestamp: int, window: int | None) -> None:
    if window is not None and call.now_ms > timestamp + window:
        raise VenueError(400, "VALIDATION_ERROR", "signature_timestamp is outside recv_window")


def _verify_order(call: Call, req: OrderRequest) -> None:
    _check_recv_window(call, req.signature_timestamp, req.recv_window)
    if not call.venue.verify_signatures:
        return
    try:
        msg = order_hash(call.venue.chain_id, call.account, req.market, req.side, req.type, req.size,
                         req.price, req.signature_timestamp)
    except SigningError as exc:
        raise VenueError(400, "INVALID_ORDER_SIGNATURE", str(exc)) from exc
    _check_signature(call, msg, req.signature)


def _engine_order(req: OrderRequest) -> EngineOrder:
    return EngineOrder(
        market=req.market, side=req.side, type=req.type, size=req.size, price=req.price,
        instruction=req.instruction, client_id=req.client_id or "", flags=tuple(req.flags),
        stp=req.stp or "", signature_timestamp=req.signature_timestamp, trigger_price=req.trigger_price,
    )


def create_order(call: Call) -> Response:
    req = call.body_as(OrderRequest)
    venue = call.venue
    venue.exchange.market(req.market)
    venue.check_can_place(req.instruction)
    _verify_order(call, req)
    view = venue.exchange.submit_order(call.account, _engine_order(req), call.now_ms)
    venue.schedule_process()
    return json_response(venue.rest_order(view), status=201)


def create_batch(call: Call) -> Response:
    reqs = call.body_as(list[OrderRequest])
    venue = call.venue
    if not 1 <= len(reqs) <= venue.settings.batch_max:
        limit = venue.settings.batch_max
        raise VenueError(400, "BATCH_SIZE_OUT_OF_RANGE", f"a batch holds 1 to {limit} orders")
    for req in reqs:  # basic validation of every order first: one failure rejects the batch
        venue.check_can_place(req.instruction)
        _verify_order(call, req)
    orders, errors = [], []
    for req in reqs:
        try:
            view = venue.exchange.submit_order(call.account, _engine_order(req), call.now_ms)
        except EngineError as exc:
            errors.append(ApiError(error=exc.code, message=exc.venue_message))
        else:
            orders.append(venue.rest_order(view))
    venue.schedule_process()
    return json_response(BatchOrderResponse(orders=orders, errors=errors), status=201)


def modify_order(call: Call) -> Response:
    req = call.body_as(ModifyOrderRequest)
    order_id = call.param("order_id")
    if req.id != order_id:
        raise VenueError(400, "VALIDATION_ERROR", "body id differs from the path's order id")
    venue = call.venue
    venue.exchange.market(req.market)
    if venue.system_status == "cancel_only":
        venue.check_can_place("")
    if venue.verify_signatures:
        try:
            msg = modify_order_hash(venue.chain_id, call.account, order_id, req.market, req.side, req.type,
                                    req.size, req.price, req.signature_timestamp)
        except SigningError as exc:
            raise VenueError(400, "INVALID_ORDER_SIGNATURE", str(exc)) from exc
        _check_signature(call, msg, req.signature)
    view = venue.exchange.modify(call.account, order_id, side=req.side, type=req.type, size=req.size,
                                 price=req.price, now_ms=call.now_ms, market=req.market,
                                 trigger_price=req.trigger_price)
    venue.schedule_process()
    return json_response(venue.rest_order(view))


def cancel_order(call: Call) -> Response:
    call.venue.exchange.cancel(call.account, call.param("order_id"), now_ms=call.now_ms)
    call.venue.schedule_process()
    return empty(204)


def cancel_by_client_id(call: Call) -> Response:
    call.venue.exchange.cancel(call.account, client_id=call.param("client_id"), market=call.query("market"),
                               now_ms=call.now_ms)
    call.venue.schedule_process()
    return empty(204)


def cancel_all(call: Call) -> Response:
    call.venue.exchange.cancel_all(call.account, call.query("market"), now_ms=call.now_ms)
    call.venue.schedule_process()
    return empty(200)


def cancel_batch(call: Call) -> Response:
    req = call.body_as(CancelBatchRequest)
    total = len(req.order_ids) + len(req.client_order_ids)
    if not 1 <= total <= 100:
        raise VenueError(400, "BATCH_SIZE_OUT_OF_RANGE", "a cancel batch holds 1 to 100 ids")
    results = call.venue.exchange.cancel_batch(call.account, req.order_ids, req.client_order_ids,
                                               now_ms=call.now_ms)
    call.venue.schedule_process()
    return json_response(CancelBatchResponse(results=[
        CancelOrderResult(status=str(r.status), id=r.id, client_id=r.client_id, account=r.account,
                          market=r.market) for r in results
    ]))
