"""More public market endpoints: klines (OHLCV), funding data history, impact price, and the
``/interactive`` book and BBO (the simulator has no RPI orders: same as the API views)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from starlette.responses import Response

from shared.errors import VenueError

from ..engine import Side, convert
from ..paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, paginate
from . import public
from .common import Call, json_response, page_response

RESOLUTIONS_MIN = (1, 3, 5, 15, 30, 60)
PRICE_KINDS = ("last", "mark", "underlying")
MAX_CANDLES = 5000


def _required_int(call: Call, name: str) -> int:
    value = call.query_int(name)
    if value is None:
        raise VenueError(400, "VALIDATION_ERROR", f"query parameter {name} is required")
    return value


def klines(call: Call) -> Response:
    """``GET /markets/klines?symbol&resolution&start_at&end_at[&price_kind]``:
    ``{"results": [[start_ms, open, high, low, close, volume], ...]}`` oldest first, numbers as
    ccxt and paradex-py read them. Candles are built from the trades the engine keeps (the last
    1000 per market); buckets without trades are left out. Deviation: the simulator keeps no
    mark or index price history, so ``price_kind`` mark/underlying are built from trades too."""
    symbol = call.query("symbol")
    if symbol is None:
        raise VenueError(400, "VALIDATION_ERROR", "query parameter symbol is required")
    call.venue.exchange.market(symbol)
    raw = call.query("resolution")
    if raw is None or not raw.isdigit() or int(raw) not in RESOLUTIONS_MIN:
        raise VenueError(400, "INVALID_REQUEST_PARAMETER",
                         f"resolution must be one of {', '.join(map(str, RESOLUTIONS_MIN))} (minutes)")
    kind = call.query("price_kind") or "last"
    if kind not in PRICE_KINDS:
        wanted = ", ".join(PRICE_KINDS)
        raise VenueError(400, "INVALID_REQUEST_PARAMETER", f"price_kind must be one of {wanted}")
    start_at, end_at = _required_int(call, "start_at"), _required_int(call, "end_at")
    if start_at > end_at:
        raise VenueError(400, "INVALID_REQUEST_PARAMETER", "start_at is after end_at")
    width = int(raw) * 60_000
    candles: dict[int, list[Decimal]] = {}
    for trade in reversed(call.venue.exchange.recent_trades(symbol, limit=10**9)):
        if not start_at <= trade.created_at <= end_at:
            continue
        bucket = trade.created_at // width * width
        c = candles.get(bucket)
        if c is None:
            candles[bucket] = [trade.price, trade.price, trade.price, trade.price, trade.size]
        else:
            c[1], c[2], c[3] = max(c[1], trade.price), min(c[2], trade.price), trade.price
            c[4] += trade.size
    rows = [[t, *(float(x) for x in c)] for t, c in sorted(candles.items())][-MAX_CANDLES:]
    return json_response({"results": rows})


def funding_data(call: Call) -> Response:
    """``GET /funding/data?market``: the funding records published, newest first, paginated."""
    market = call.query("market")
    if market is None:
        raise VenueError(400, "VALIDATION_ERROR", "query parameter market is required")
    call.venue.exchange.market(market)
    size = call.query_int("page_size", DEFAULT_PAGE_SIZE, lo=1, hi=MAX_PAGE_SIZE)
    assert size is not None
    records = call.venue.history.funding_data(market, call.query_int("start_at"), call.query_int("end_at"))
    page, nxt, prv = paginate(records, lambda r: r.key, call.query("cursor"), size)
    return page_response([convert.funding_data(r.event) for r in page], nxt, prv)


def impact_price(call: Call) -> Response:
    """``GET /orderbook/{market}/impact-price?size[&side]``: the average price at which ``size``
    would fill against the book now (BUY walks the asks, SELL the bids; BUY by default)."""
    market = call.param("market")
    ex = call.venue.exchange
    cfg = ex.market(market)
    raw_size, side_raw = call.query("size"), (call.query("side") or "BUY").upper()
    try:
        size = Decimal(raw_size or "")
    except ArithmeticError:
        raise VenueError(400, "VALIDATION_ERROR", "query parameter size (a number) is required") from None
    if not size.is_finite() or size <= 0:
        raise VenueError(400, "VALIDATION_ERROR", "size must be a positive number")
    if side_raw not in ("BUY", "SELL"):
        raise VenueError(400, "INVALID_REQUEST_PARAMETER", "side must be BUY or SELL")
    side = Side(side_raw)
    levels = ex.books[market].levels(side.opposite)
    left, notional = size, Decimal(0)
    for level in levels:
        take = min(left, level.size)
        notional += take * level.price
        left -= take
        if left == 0:
            break
    if left > 0:
        raise VenueError(400, "VALIDATION_ERROR", f"not enough liquidity on the book for size {size}")
    price = convert.q8(notional / size).quantize(cfg.price_tick_size)
    body: dict[str, Any] = {"market": market, "side": side_raw, "size": str(convert.dec(size)),
                            "impact_price": str(convert.dec(price))}
    return json_response(body)


def orderbook_interactive(call: Call) -> Response:
    return public.orderbook(call)


def bbo_interactive(call: Call) -> Response:
    return public.bbo(call)
