"""TWAP algo orders: ``POST/GET /algo/orders``, ``GET /algo/orders-history``,
``GET/DELETE /algo/orders/{algo_id}`` (OpenAPI tag Algos; engine behaviour in
:mod:`..engine.algo`).

The parent is signed like an order (``Order`` typed data of type MARKET, price 0) and checked
against the account's key unless verification is off, with the same ``recv_window`` rule.
``GET /algo/orders/{id}`` answers any status (the spec says it returns OPEN/NEW algos only; as for
orders, a closed one is still served so a client can confirm a cancel). The history's
``client_id`` filter matches nothing (algo orders carry no client id) and ``type`` only MARKET.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import Response

from shared.errors import SigningError, VenueError
from shared.paradex.models.algo import AlgoOrderRequest
from shared.paradex.models.rest import Results
from shared.paradex.signer import order_hash

from ..commands import _check_recv_window, _check_signature
from ..engine import AlgoRequest, Side, Status, convert
from ..paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, paginate
from .common import Call, empty, json_response, page_response


def create_algo(call: Call) -> Response:
    req = call.body_as(AlgoOrderRequest)
    venue = call.venue
    venue.exchange.market(req.market)
    venue.check_can_place("")
    _check_recv_window(call.now_ms, req.signature_timestamp, req.recv_window)
    if venue.verify_signatures:
        try:
            msg = order_hash(venue.chain_id, call.account, req.market, req.side, req.type, req.size, None,
                             req.signature_timestamp)
        except SigningError as exc:
            raise VenueError(400, "INVALID_ORDER_SIGNATURE", str(exc)) from exc
        _check_signature(venue, call.account, msg, req.signature)
    view = venue.exchange.submit_algo(call.account, AlgoRequest(
        market=req.market, side=req.side, type=req.type, size=req.size, algo_type=req.algo_type,
        duration_seconds=req.duration_seconds, frequency=req.frequency,
        signature_timestamp=req.signature_timestamp,
    ), call.now_ms)
    venue.schedule_process()
    return json_response(convert.algo(view), status=201)


def open_algos(call: Call) -> Response:
    market = call.query("market")
    if market is not None:
        call.venue.exchange.market(market)
    views = call.venue.exchange.open_algos(call.account, market)
    return json_response(Results(results=[convert.algo(v) for v in views]))


def _enum(call: Call, name: str, kind: type[Side] | type[Status]) -> Side | Status | None:
    raw = call.query(name)
    if raw is None:
        return None
    try:
        return kind(raw)
    except ValueError:
        raise VenueError(400, "INVALID_REQUEST_PARAMETER", f"{name}: unsupported value {raw!r}") from None


def algo_history(call: Call) -> Response:
    side, status = _enum(call, "side", Side), _enum(call, "status", Status)
    views = call.venue.exchange.algo_history(
        call.account, market=call.query("market"), side=side if isinstance(side, Side) else None,
        status=status if isinstance(status, Status) else None, start_at=call.query_int("start_at"),
        end_at=call.query_int("end_at"),
    )
    if call.query("client_id") is not None or call.query("type") not in (None, "MARKET"):
        views = []
    size = call.query_int("page_size", DEFAULT_PAGE_SIZE, lo=1, hi=MAX_PAGE_SIZE) or DEFAULT_PAGE_SIZE
    page, nxt, prv = paginate(views, lambda v: int(v.id), call.query("cursor"), size)
    return page_response([convert.algo(v) for v in page], nxt, prv)


def get_algo(call: Call) -> Response:
    return json_response(convert.algo(call.venue.exchange.get_algo(call.account, call.param("algo_id"))))


def cancel_algo(call: Call) -> Response:
    call.venue.exchange.cancel_algo(call.account, call.param("algo_id"), call.now_ms)
    call.venue.schedule_process()
    return empty(204)


ROUTES: list[tuple[str, str, Callable[[Call], Response], str]] = [
    ("POST", "/algo/orders", create_algo, "orders"),
    ("GET", "/algo/orders", open_algos, "private_get"),
    ("GET", "/algo/orders-history", algo_history, "private_get"),
    ("GET", "/algo/orders/{algo_id}", get_algo, "private_get"),
    ("DELETE", "/algo/orders/{algo_id}", cancel_algo, "orders"),
]
"""(method, path, handler, rate-limit scope), added to the app's table."""
