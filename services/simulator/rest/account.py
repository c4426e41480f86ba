"""Private read endpoints: open orders, one order, order history, fills, positions, account, balance."""

from __future__ import annotations

from starlette.responses import Response

from shared.errors import VenueError
from shared.paradex.models.rest import Results

from ..engine import Side, Status, convert
from ..paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, paginate
from .common import Call, json_response, page_response


def _page_size(call: Call) -> int:
    size = call.query_int("page_size", DEFAULT_PAGE_SIZE, lo=1, hi=MAX_PAGE_SIZE)
    assert size is not None
    return size


def _enum(call: Call, name: str, kind: type[Side] | type[Status]) -> Side | Status | None:
    raw = call.query(name)
    if raw is None:
        return None
    try:
        return kind(raw)
    except ValueError:
        raise VenueError(400, "INVALID_REQUEST_PARAMETER", f"{name}: unsupported value {raw!r}") from None


def open_orders(call: Call) -> Response:
    market = call.query("market")
    if market is not None:
        call.venue.exchange.market(market)
    views = call.venue.exchange.open_orders(call.account, market)
    return json_response(Results(results=[call.venue.rest_order(v) for v in views]))


def get_order(call: Call) -> Response:
    view = call.venue.exchange.get_order(call.account, call.param("order_id"))
    return json_response(call.venue.rest_order(view))


def get_order_by_client_id(call: Call) -> Response:
    exchange = call.venue.exchange
    view = exchange.get_order_by_client_id(call.account, call.param("client_id"), call.query("market"))
    return json_response(call.venue.rest_order(view))


def orders_history(call: Call) -> Response:
    status = _enum(call, "status", Status)
    side = _enum(call, "side", Side)
    otype = call.query("type")
    views = call.venue.exchange.orders_history(
        call.account, market=call.query("market"), status=status if isinstance(status, Status) else None,
        client_id=call.query("client_id"), side=side if isinstance(side, Side) else None,
        start_at=call.query_int("start_at"), end_at=call.query_int("end_at"),
    )
    if otype is not None:
        views = [v for v in views if v.type == otype]
    page, nxt, prv = paginate(views, lambda v: int(v.id), call.query("cursor"), _page_size(call))
    return page_response([call.venue.rest_order(v) for v in page], nxt, prv)


def fills(call: Call) -> Response:
    views = call.venue.exchange.list_fills(
        call.account, market=call.query("market"), start_at=call.query_int("start_at"),
        end_at=call.query_int("end_at"),
    )
    page, nxt, prv = paginate(views, lambda f: int(f.id), call.query("cursor"), _page_size(call))
    return page_response([convert.fill(f) for f in page], nxt, prv)


def positions(call: Call) -> Response:
    views = call.venue.exchange.positions(call.account)
    return json_response(Results(results=[convert.position(p) for p in views]))


def account(call: Call) -> Response:
    return json_response(convert.account(call.venue.exchange.account_summary(call.account)))


def balance(call: Call) -> Response:
    views = call.venue.exchange.balances(call.account)
    return json_response(Results(results=[convert.balance(b) for b in views]))
