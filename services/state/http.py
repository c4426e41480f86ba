"""The state service's HTTP API (FastAPI; bodies encoded with msgspec, not pydantic).

Every body is ``{"seq": S, "value": V}`` (errors: ``{"seq": S, "error", "reason"}``) and every
response carries ``X-Stream-Seq: S``: account answers reflect the ACCOUNT stream sequence, book
and bbo answers the local MARKET sequence. ``/v1/orders`` and ``/v1/fills`` are paginated
(``limit`` + ``cursor``, bodies add ``next_cursor``; see :mod:`services.state.pages`). With
``STATE_READ_TOKENS`` set, the routes need a bearer token (:mod:`services.state.auth`).

Read-your-writes: the account endpoints take ``?min_seq=N`` (the ``seq`` a commands reply carried):
the answer waits until the ACCOUNT stream sequence N is applied, up to ``min_seq_timeout_ms``
(default 1000, max 10000), else 503 ``{"error": "SEQ_NOT_REACHED", "seq", "min_seq"}`` with
``Retry-After``. Book and bbo (MARKET sequence) ignore it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import FastAPI, Query
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from services.state.auth import ReadTokens
from services.state.core import STATUS_RANK
from services.state.encode import body, body_of, encode
from services.state.metrics import StateMetrics
from services.state.openapi import document, install_errors
from services.state.page import add_page_routes
from services.state.pages import DEFAULT_LIMIT, MAX_LIMIT, BadCursor, parse_statuses
from services.state.sse import add_events_route
from services.state.views import health_value

if TYPE_CHECKING:
    from services.state.service import StateService

JSON = "application/json"
MARKET_STATUSES = frozenset({"open", "pre_open", "expired", "rfq_only"})
MIN_SEQ_TIMEOUT_MS_MAX = 10_000
MinSeq = Annotated[int | None, Query(ge=0, description=(
    "Read-your-writes: answer only once the ACCOUNT stream sequence `min_seq` is applied (pass the "
    "`seq` of a commands reply); waits up to `min_seq_timeout_ms`, then 503 SEQ_NOT_REACHED."))]
MinSeqTimeoutMs = Annotated[int, Query(ge=0, le=MIN_SEQ_TIMEOUT_MS_MAX, description=(
    "How long a `min_seq` read may wait, in ms (default 1000)."))]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=(
    f"Page size (default {DEFAULT_LIMIT}, at most {MAX_LIMIT})."))]
Cursor = Annotated[str | None, Query(max_length=512, description=(
    "The `next_cursor` of the previous page (absent: the first page)."))]
DESCRIPTION = (
    'Account and market state folded from the bus. Every body is {"seq": <stream sequence>, '
    '"value": ...}; header X-Stream-Seq too. Account endpoints accept `min_seq` (read-your-writes: '
    "pass the `seq` of a commands reply and the answer reflects that command, waiting up to "
    "`min_seq_timeout_ms`, default 1000, max 10000; on timeout 503 "
    '{"error": "SEQ_NOT_REACHED", "seq": <applied>, "min_seq": N} with Retry-After). '
    "Market-data endpoints (book, bbo) ignore it: they follow the local MARKET sequence."
)


def _resp(seq: int, content: bytes, status: int = 200) -> Response:
    return Response(content=content, status_code=status, media_type=JSON, headers={"X-Stream-Seq": str(seq)})


def _error(seq: int, status: int, error: str, reason: str) -> Response:
    return _resp(seq, encode({"seq": seq, "error": error, "reason": reason}), status)


def create_app(svc: StateService) -> FastAPI:
    """The FastAPI app serving ``svc``'s state."""
    app = FastAPI(title="paradex-hub state", version="1", description=DESCRIPTION)
    pages = svc.pages
    prom = StateMetrics(svc)
    gate = svc.seq_gate

    async def not_reached(min_seq: int, timeout_ms: int) -> Response | None:
        """None once ``min_seq`` is applied (waiting up to ``timeout_ms``); else the 503."""
        if svc.core.account_seq >= min_seq or await gate.wait(min_seq, timeout_ms / 1000):
            return None
        seq = svc.core.account_seq
        content = encode({"seq": seq, "error": "SEQ_NOT_REACHED", "min_seq": min_seq,
                          "reason": f"ACCOUNT stream sequence {min_seq} not applied within {timeout_ms} ms"})
        return Response(content=content, status_code=503, media_type=JSON,
                        headers={"X-Stream-Seq": str(seq), "Retry-After": "1"})

    @app.get("/v1/orders", summary="Orders in key order, one page at a time (limit + cursor), filtered by "
                                   "status (repeatable or comma list), market, client_id")
    async def list_orders(status: Annotated[list[str] | None, Query()] = None, market: str | None = None,
                          client_id: str | None = None, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None,
                          min_seq: MinSeq = None, min_seq_timeout_ms: MinSeqTimeoutMs = 1000) -> Response:
        if min_seq is not None and (late := await not_reached(min_seq, min_seq_timeout_ms)):
            return late
        core = svc.core
        statuses = parse_statuses(status)
        if statuses is not None and (bad := sorted(statuses - STATUS_RANK.keys())):
            return _error(core.account_seq, 422, "bad_status",
                          f"unknown status {bad}; known: {sorted(STATUS_RANK)}")
        try:
            content = pages.orders(core, statuses, market, client_id, limit, cursor)
        except BadCursor as exc:
            return _error(core.account_seq, 422, "bad_cursor", str(exc))
        return _resp(core.account_seq, content)

    @app.get("/v1/orders/by_client_id/{client_id}", summary="One order by client id")
    async def order_by_client_id(client_id: str, min_seq: MinSeq = None,
                                 min_seq_timeout_ms: MinSeqTimeoutMs = 1000) -> Response:
        if min_seq is not None and (late := await not_reached(min_seq, min_seq_timeout_ms)):
            return late
        ans = svc.core.get_order(client_id=client_id)
        if ans.value is None:
            return _error(ans.seq, 404, "not_found", f"no order with client_id {client_id!r}")
        return _resp(ans.seq, body(ans.seq, pages.records.get("order", ans.value.key, ans.value)))

    @app.get("/v1/orders/{order_id}", summary="One order by exchange id (or its client:<id> key)")
    async def order_by_id(order_id: str, min_seq: MinSeq = None,
                          min_seq_timeout_ms: MinSeqTimeoutMs = 1000) -> Response:
        if min_seq is not None and (late := await not_reached(min_seq, min_seq_timeout_ms)):
            return late
        ans = svc.core.get_order(order_id=order_id)
        if ans.value is None:
            return _error(ans.seq, 404, "not_found", f"no order with id {order_id!r}")
        return _resp(ans.seq, body(ans.seq, pages.records.get("order", ans.value.key, ans.value)))

    @app.get("/v1/positions", summary="Positions by market")
    async def positions(min_seq: MinSeq = None, min_seq_timeout_ms: MinSeqTimeoutMs = 1000) -> Response:
        if min_seq is not None and (late := await not_reached(min_seq, min_seq_timeout_ms)):
            return late
        ans = svc.core.list_positions()
        return _resp(ans.seq, body_of(ans.seq, ans.value))

    @app.get("/v1/account", summary="Account summary")
    async def account(min_seq: MinSeq = None, min_seq_timeout_ms: MinSeqTimeoutMs = 1000) -> Response:
        if min_seq is not None and (late := await not_reached(min_seq, min_seq_timeout_ms)):
            return late
        ans = svc.core.get_account()
        if ans.value is None:
            return _error(ans.seq, 404, "not_found", "no account summary received yet")
        return _resp(ans.seq, body_of(ans.seq, ans.value))

    @app.get("/v1/balances", summary="Balances by token")
    async def balances(min_seq: MinSeq = None, min_seq_timeout_ms: MinSeqTimeoutMs = 1000) -> Response:
        if min_seq is not None and (late := await not_reached(min_seq, min_seq_timeout_ms)):
            return late
        ans = svc.core.list_balances()
        return _resp(ans.seq, body_of(ans.seq, ans.value))

    @app.get("/v1/fills", summary="Fills, the most recent first by pages (limit + cursor), each page oldest "
                                  "first; filtered by market, order_id")
    async def fills(market: str | None = None, order_id: str | None = None, limit: Limit = DEFAULT_LIMIT,
                    cursor: Cursor = None, min_seq: MinSeq = None,
                    min_seq_timeout_ms: MinSeqTimeoutMs = 1000) -> Response:
        if min_seq is not None and (late := await not_reached(min_seq, min_seq_timeout_ms)):
            return late
        core = svc.core
        try:
            content = pages.fills(core, market, order_id, limit, cursor)
        except BadCursor as exc:
            return _error(core.account_seq, 422, "bad_cursor", str(exc))
        return _resp(core.account_seq, content)

    @app.get("/v1/markets", summary="The venue's market specs (tick size, size increment, min notional, "
                                    "max size, status), from the reconciler's GET /markets")
    async def markets(status: str | None = None, min_seq: MinSeq = None,
                      min_seq_timeout_ms: MinSeqTimeoutMs = 1000) -> Response:
        if min_seq is not None and (late := await not_reached(min_seq, min_seq_timeout_ms)):
            return late
        if status is not None and status not in MARKET_STATUSES:
            return _error(svc.core.account_seq, 422, "bad_status",
                          f"unknown market status {status!r}; known: {sorted(MARKET_STATUSES)}")
        ans = svc.core.list_market_specs(status)
        return _resp(ans.seq, body_of(ans.seq, ans.value))

    @app.get("/v1/markets/{symbol}", summary="One market's spec")
    async def market(symbol: str, min_seq: MinSeq = None,
                     min_seq_timeout_ms: MinSeqTimeoutMs = 1000) -> Response:
        if min_seq is not None and (late := await not_reached(min_seq, min_seq_timeout_ms)):
            return late
        ans = svc.core.get_market_spec(symbol)
        if ans.value is None:
            known = len(svc.core.market_specs.specs)
            why = (f"the venue lists no market {symbol!r}" if known else
                   "no market specs received yet (the reconciler publishes them at its start)")
            return _error(ans.seq, 404, "not_found", why)
        return _resp(ans.seq, body_of(ans.seq, ans.value))

    @app.get("/v1/algo/orders", summary="TWAP algo orders (status NEW|OPEN|CLOSED, market), each with "
                                        "its linked child order ids and their filled size")
    async def algo_orders(status: str | None = None, market: str | None = None, min_seq: MinSeq = None,
                          min_seq_timeout_ms: MinSeqTimeoutMs = 1000) -> Response:
        if min_seq is not None and (late := await not_reached(min_seq, min_seq_timeout_ms)):
            return late
        if status is not None and status not in ("NEW", "OPEN", "CLOSED"):
            return _error(svc.core.account_seq, 422, "bad_status",
                          f"unknown algo status {status!r}; known: ['CLOSED', 'NEW', 'OPEN']")
        ans = svc.core.list_algos(status, market)
        return _resp(ans.seq, body_of(ans.seq, ans.value))

    @app.get("/v1/algo/orders/{algo_id}", summary="One TWAP algo order with its linked child order ids")
    async def algo_order(algo_id: str, min_seq: MinSeq = None,
                         min_seq_timeout_ms: MinSeqTimeoutMs = 1000) -> Response:
        if min_seq is not None and (late := await not_reached(min_seq, min_seq_timeout_ms)):
            return late
        ans = svc.core.get_algo(algo_id)
        if ans.value is None:
            return _error(ans.seq, 404, "not_found", f"no algo order with id {algo_id!r}")
        return _resp(ans.seq, body_of(ans.seq, ans.value))

    @app.get("/v1/book/{market}", summary="Order book (valid=false: do not trust the levels); no min_seq")
    async def book(market: str, depth: Annotated[int, Query(ge=1, le=1000)] = 15) -> Response:
        ans = svc.core.get_book(market, depth)
        if ans.value is None:
            return _error(ans.seq, 404, "not_found", f"no book for market {market!r}")
        return _resp(ans.seq, body_of(ans.seq, ans.value))

    @app.get("/v1/bbo/{market}", summary="Best bid/offer from the maintained book, with its validity; "
                                          "no min_seq")
    async def bbo(market: str) -> Response:
        ans = svc.core.get_bbo(market)
        if ans.value is None:
            return _error(ans.seq, 404, "not_found", f"no book for market {market!r}")
        return _resp(ans.seq, body_of(ans.seq, ans.value))

    @app.get("/v1/health", summary="Per-stream health: event ages, feed, books, reconciliation, counters")
    async def health(min_seq: MinSeq = None, min_seq_timeout_ms: MinSeqTimeoutMs = 1000) -> Response:
        if min_seq is not None and (late := await not_reached(min_seq, min_seq_timeout_ms)):
            return late
        seq, value = health_value(svc)
        return _resp(seq, body_of(seq, value), 200 if value.ok else 503)

    add_events_route(app, svc, not_reached)
    add_page_routes(app, svc)

    @app.get("/healthz", summary="Liveness/readiness: 200 when consuming, 503 otherwise")
    async def healthz() -> Response:
        seq, value = health_value(svc)
        return _resp(seq, encode({"seq": seq, "ok": value.ok}), 200 if value.ok else 503)

    @app.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
    async def metrics() -> Response:
        return Response(content=await prom.exposition(), media_type=CONTENT_TYPE_LATEST,
                        headers={"X-Stream-Seq": str(svc.core.account_seq)})

    settings = getattr(svc, "settings", None)  # (a stand-in service in tests may have none)
    tokens = settings.tokens if settings is not None else ()
    if tokens:
        app.add_middleware(ReadTokens, tokens=tokens)
    install_errors(app, svc)
    document(app, bool(tokens))  # typed answers of every route (services/state/openapi.py)
    return app
