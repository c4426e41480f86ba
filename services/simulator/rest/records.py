"""Private account records of the venue's risk system: ``GET /funding/payments`` (paginated,
``market`` required as in the spec) and ``GET /liquidations`` (``from``/``to`` in ms, unpaginated)."""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import Response

from shared.errors import VenueError
from shared.paradex.models.rest import Results

from ..engine import convert
from ..paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, paginate
from .common import Call, json_response, page_response


def funding_payments(call: Call) -> Response:
    market = call.query("market")
    if market is None:
        raise VenueError(400, "VALIDATION_ERROR", "market is required")
    exchange = call.venue.exchange
    exchange.market(market)
    views = exchange.funding_payments(
        call.account, market=market, start_at=call.query_int("start_at"), end_at=call.query_int("end_at")
    )
    size = call.query_int("page_size", DEFAULT_PAGE_SIZE, lo=1, hi=MAX_PAGE_SIZE) or DEFAULT_PAGE_SIZE
    page, nxt, prv = paginate(views, lambda p: int(p.id), call.query("cursor"), size)
    return page_response([convert.funding_payment(p) for p in page], nxt, prv)


def liquidations(call: Call) -> Response:
    views = call.venue.exchange.liquidations(
        call.account, start_at=call.query_int("from"), end_at=call.query_int("to")
    )
    return json_response(Results(results=[convert.liquidation(v) for v in views]))


ROUTES: list[tuple[str, str, Callable[[Call], Response], str]] = [
    ("GET", "/funding/payments", funding_payments, "private_get"),
    ("GET", "/liquidations", liquidations, "private_get"),
]
"""(method, path, handler, rate-limit scope), added to the app's table."""
