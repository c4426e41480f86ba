"""Order commands shared by REST (``rest/orders.py``) and the WebSocket ``order.*`` methods
(``ws/orders.py``): the same validation, signature checks and engine calls, so both transports
answer alike. Each function takes the venue, the authenticated account and the request time and
returns wire models, or raises :class:`VenueError` (the REST layer turns it into a 4xx body, the
WS layer into a JSON-RPC error). Commands are queued in the engine; the venue runs them shortly
after (:meth:`Venue.schedule_process`).

Every order, batch item and modify carries a STARK signature over its typed data (PROTOCOL.md
4.2), checked against the account's registered key unless verification is switched off.
"""

from __future__ import annotations

import msgspec

from shared.errors import SigningError, VenueError
from shared.paradex.models.account import Order, RequestInfo
from shared.paradex.models.requests import ModifyOrderRequest, OrderRequest
from shared.paradex.models.rest import ApiError, CancelOrderResult
from shared.paradex.signer import modify_order_hash, verify_signature

from .engine import EngineError, OrderView
from .engine import OrderRequest as EngineOrder
from .venue import Venue
from .verifyproc import VERDICTS, key, verdict


def _check_signature(venue: Venue, account: str, msg_hash: int, signature: str) -> None:
    key = venue.public_key(account)
    if key is None or not verify_signature(key, msg_hash, signature):
        raise VenueError(400, "INVALID_ORDER_SIGNATURE", "order signature verification failed")


def _check_recv_window(now_ms: int, timestamp: int, window: int | None) -> None:
    if window is not None and now_ms > timestamp + window:
        raise VenueError(400, "VALIDATION_ERROR", "signature_timestamp is outside recv_window")


def verify_order(venue: Venue, account: str, now_ms: int, req: OrderRequest) -> None:
    """Receive window and signature of one order (raises VenueError); the signature's verdict
    is the signature-checker process's when the route asked it first (:mod:`.verifyproc`)."""
    _check_recv_window(now_ms, req.signature_timestamp, req.recv_window)
    if not venue.verify_signatures:
        return
    known = VERDICTS.get()
    why = known.get(key(account, req)) if known is not None else None
    if why is None:
        why = verdict(venue.chain_id, account, venue.public_key(account), req.market, req.side, req.type,
                      req.size, req.price, req.signature_timestamp, req.signature)
    if why:
        raise VenueError(400, "INVALID_ORDER_SIGNATURE", why)


def _engine_order(req: OrderRequest) -> EngineOrder:
    return EngineOrder(
        market=req.market, side=req.side, type=req.type, size=req.size, price=req.price,
        instruction=req.instruction, client_id=req.client_id or "", flags=tuple(req.flags),
        stp=req.stp or "", signature_timestamp=req.signature_timestamp, trigger_price=req.trigger_price,
    )


def place(venue: Venue, account: str, now_ms: int, req: OrderRequest) -> Order:
    """Validate, verify and queue one order; the order as NEW."""
    venue.exchange.market(req.market)
    venue.check_can_place(req.instruction)
    verify_order(venue, account, now_ms, req)
    view = venue.exchange.submit_order(account, _engine_order(req), now_ms)
    venue.schedule_process()
    return venue.rest_order(view)


def place_batch(venue: Venue, account: str, now_ms: int, reqs: list[OrderRequest]) -> list[Order | ApiError]:
    """A batch: basic validation (system state, signatures) of every order first, one failure
    rejects the batch; then each order is accepted or refused on its own (in request order)."""
    if not 1 <= len(reqs) <= venue.settings.batch_max:
        limit = venue.settings.batch_max
        raise VenueError(400, "BATCH_SIZE_OUT_OF_RANGE", f"a batch holds 1 to {limit} orders")
    for req in reqs:
        venue.check_can_place(req.instruction)
        verify_order(venue, account, now_ms, req)
    out: list[Order | ApiError] = []
    for req in reqs:
        try:
            view = venue.exchange.submit_order(account, _engine_order(req), now_ms)
        except EngineError as exc:
            out.append(ApiError(error=exc.code, message=exc.venue_message))
        else:
            out.append(venue.rest_order(view))
    venue.schedule_process()
    return out


def modify(venue: Venue, account: str, now_ms: int, order_id: str, req: ModifyOrderRequest) -> Order:
    """Verify and queue a modify of an open order (same id kept). The answer shows the requested
    size and price with ``request_info`` (MODIFY_ORDER, PENDING): the engine applies it shortly
    after, and the orders channel pushes the result."""
    if req.id != order_id:
        raise VenueError(400, "VALIDATION_ERROR", "body id differs from the path's order id")
    venue.exchange.market(req.market)
    if venue.system_status == "cancel_only":
        venue.check_can_place("")
    if venue.verify_signatures:
        try:
            msg = modify_order_hash(venue.chain_id, account, order_id, req.market, req.side, req.type,
                                    req.size, req.price, req.signature_timestamp)
        except SigningError as exc:
            raise VenueError(400, "INVALID_ORDER_SIGNATURE", str(exc)) from exc
        _check_signature(venue, account, msg, req.signature)
    view = venue.exchange.modify(account, order_id, side=req.side, type=req.type, size=req.size,
                                 price=req.price, now_ms=now_ms, market=req.market,
                                 trigger_price=req.trigger_price)
    venue.schedule_process()
    order = venue.rest_order(view)
    filled = view.size - view.remaining_size
    info = RequestInfo(id=str(venue.next_rest_seq()), request_type="MODIFY_ORDER", status="PENDING",
                       message="")
    trigger = order.trigger_price if req.trigger_price is None else str(req.trigger_price)
    return msgspec.structs.replace(order, size=req.size, price=req.price, remaining_size=req.size - filled,
                                   trigger_price=trigger, request_info=info)


def cancel(venue: Venue, account: str, now_ms: int, order_id: str | None = None, *,
           client_id: str | None = None, market: str | None = None) -> OrderView:
    """Queue a cancel by id or by client id (+ market)."""
    view = venue.exchange.cancel(account, order_id, client_id=client_id, market=market, now_ms=now_ms)
    venue.schedule_process()
    return view


def cancel_all(venue: Venue, account: str, now_ms: int, market: str | None = None) -> int:
    """Queue cancels of every open order (optionally one market); how many."""
    count = venue.exchange.cancel_all(account, market, now_ms=now_ms)
    venue.schedule_process()
    return count


def cancel_batch(venue: Venue, account: str, now_ms: int, order_ids: list[str],
                 client_ids: list[str]) -> list[CancelOrderResult]:
    """Per-item QUEUED_FOR_CANCELLATION / ALREADY_CLOSED / NOT_FOUND (1 to 100 ids)."""
    if not 1 <= len(order_ids) + len(client_ids) <= 100:
        raise VenueError(400, "BATCH_SIZE_OUT_OF_RANGE", "a cancel batch holds 1 to 100 ids")
    results = venue.exchange.cancel_batch(account, order_ids, client_ids, now_ms=now_ms)
    venue.schedule_process()
    return [CancelOrderResult(status=str(r.status), id=r.id, client_id=r.client_id, account=r.account,
                              market=r.market) for r in results]
