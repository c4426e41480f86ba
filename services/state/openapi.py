"""The state API's OpenAPI declarations (every answer of every route, typed), and its error shape
for the framework's own refusals.

Bodies are the core's records (:mod:`services.state.core.model` and friends) inside the
``{"seq", "value"}`` envelope; the envelopes below exist for the document only (the handlers
assemble the same bytes from pre-encoded records, and the OpenAPI test checks real bodies against
these schemas). :func:`document` renders them with :func:`shared.openapi_doc.install`; routes need
the bearer scheme exactly where :class:`~services.state.auth.ReadTokens` asks for a token (so
none when ``STATE_READ_TOKENS`` is empty). A new route is documented by adding its
:class:`~shared.openapi_doc.Operation` to :func:`operations` under the route's name.

:func:`install_errors` answers a malformed parameter (``limit=x``, ``depth=0``) 422
``{"seq", "error": "bad_parameter", "rule": <parameter>, "reason"}`` and an unknown path 404
``{"seq", "error": "not_found", "reason"}``, the shape of every other refusal here, instead of
FastAPI's ``{"detail": ...}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.state.auth import OPEN_PATHS, OPEN_PREFIXES
from services.state.core import STATUS_RANK
from services.state.core.algos import AlgoState
from services.state.core.model import (
    AccountState,
    BalanceState,
    BookTop,
    FillState,
    OrderState,
    PositionState,
)
from services.state.core.queries import BookView, Health
from services.state.encode import encode
from services.state.views import ShellHealth
from shared.bus.events import MarketSpec
from shared.openapi_doc import ApiDoc, Operation, Param, Reply, install

if TYPE_CHECKING:
    from services.state.service import StateService

JSON = "application/json"


def _envelope(name: str, value: Any, page: bool = False) -> type[msgspec.Struct]:
    fields: list[Any] = [("seq", int), ("value", value)]
    if page:
        fields.append(("next_cursor", str | None))
    return msgspec.defstruct(name, fields, kw_only=True, module=__name__)


OrderBody = _envelope("OrderBody", OrderState)
OrdersPage = _envelope("OrdersPage", list[OrderState], page=True)
FillsPage = _envelope("FillsPage", list[FillState], page=True)
PositionsBody = _envelope("PositionsBody", list[PositionState])
AccountBody = _envelope("AccountBody", AccountState)
BalancesBody = _envelope("BalancesBody", list[BalanceState])
MarketsBody = _envelope("MarketsBody", list[MarketSpec])
MarketBody = _envelope("MarketBody", MarketSpec)
BookBody = _envelope("BookBody", BookView)
BboBody = _envelope("BboBody", BookTop)
HealthBody = _envelope("HealthBody", ShellHealth)
AlgosBody = _envelope("AlgosBody", list[AlgoState])
AlgoBody = _envelope("AlgoBody", AlgoState)


class Lag(msgspec.Struct, kw_only=True):
    """The ACCOUNT stream consumer lag."""

    lag: int
    stream_last_seq: int
    applied_seq: int


LagBody = _envelope("LagBody", Lag)


class Ready(msgspec.Struct, kw_only=True):
    """``/healthz``: whether the service consumes (the orchestrator's probe)."""

    seq: int
    ok: bool


class UiConfig(msgspec.Struct, kw_only=True):
    """What the dashboard shows about this deployment."""

    account: str
    markets: list[str]
    commands_url: str


class StateError(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A refusal: ``error`` code (not_found, bad_status, bad_cursor, bad_parameter...), ``rule`` the
    parameter at fault (bad_parameter), a human ``reason``; ``seq`` the sequence the answer reflects."""

    seq: int
    error: str
    reason: str
    rule: str = ""


class SeqNotReached(msgspec.Struct, kw_only=True):
    """503: the ACCOUNT stream sequence ``min_seq`` was not applied in time (``seq``: the applied one)."""

    seq: int
    error: str
    min_seq: int
    reason: str


class Unauthorized(msgspec.Struct, kw_only=True):
    """401 (``STATE_READ_TOKENS`` set): no valid read token."""

    error: str
    rule: str
    reason: str


class Refused(msgspec.Struct, kw_only=True):
    """An error of the dashboard's helpers (``/v1/lag``, the kill-switch forward)."""

    error: str
    reason: str
    seq: int | None = None


SEQ = "X-Stream-Seq"
HEADERS = {
    SEQ: {"description": "The stream sequence the answer reflects (ACCOUNT; MARKET for book and bbo)",
          "schema": {"type": "integer", "minimum": 0}},
    "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer", "minimum": 1}},
    "WWW-Authenticate": {"description": "`Bearer realm=...`", "schema": {"type": "string"}},
}
NOT_REACHED = Reply(503, "SEQ_NOT_REACHED: `min_seq` was not applied within `min_seq_timeout_ms`",
                    SeqNotReached, (SEQ, "Retry-After"))
BAD_PARAMETER = Reply(422, "bad_parameter (`rule`: the parameter), bad_status or bad_cursor", StateError,
                      (SEQ,))
NOT_FOUND = Reply(404, "not_found", StateError, (SEQ,))


def _read(body: type, what: str, *more: Reply, params: tuple[Param, ...] = ()) -> Operation:
    return Operation((Reply(200, what, body, (SEQ,)), BAD_PARAMETER, NOT_REACHED, *more), params)


STATUS = Param("status", description=f"Displayed status, any of {', '.join(sorted(STATUS_RANK))}; repeat "
                                     "the parameter or give a comma list")


def operations() -> dict[str, Operation]:
    """The declaration of every route, by route name."""
    return {
        "list_orders": _read(OrdersPage, "A page of orders in key order; `next_cursor` null on the last",
                             params=(STATUS,)),
        "order_by_client_id": _read(OrderBody, "The order", NOT_FOUND),
        "order_by_id": _read(OrderBody, "The order", NOT_FOUND),
        "positions": _read(PositionsBody, "Positions by market (flat ones included)"),
        "account": _read(AccountBody, "The account summary", NOT_FOUND),
        "balances": _read(BalancesBody, "Balances by token"),
        "fills": _read(FillsPage, "A page of fills (the most recent page first, oldest first inside)"),
        "algo_orders": _read(AlgosBody, "TWAP algo orders (`status` NEW, OPEN or CLOSED; `market`), each "
                             "with its linked child order ids and their filled size"),
        "algo_order": _read(AlgoBody, "One TWAP algo order with its linked child order ids", NOT_FOUND),
        "markets": _read(MarketsBody, "Market specs by symbol"),
        "market": _read(MarketBody, "The market's spec", NOT_FOUND),
        "book": Operation((Reply(200, "The book (`valid` false: do not trust the levels)", BookBody, (SEQ,)),
                           BAD_PARAMETER, NOT_FOUND)),
        "bbo": Operation((Reply(200, "Best bid and offer, with the book's validity", BboBody, (SEQ,)),
                          BAD_PARAMETER, NOT_FOUND)),
        "health": Operation((
            Reply(200, "Healthy (`ok` true)", HealthBody, (SEQ,)),
            BAD_PARAMETER,
            Reply(503, "Unhealthy (`ok` false), or SEQ_NOT_REACHED", (HealthBody, SeqNotReached),
                  (SEQ, "Retry-After")),
        )),
        "events": Operation((
            Reply(200, "The event stream (`text/event-stream`: `id`, `event: <kind>`, `data: {\"stream\","
                       "\"kind\",\"key\",\"seq\",\"value\"}`; control events `reset` and `overflow`)", str,
                  (SEQ,), media_type="text/event-stream"),
            Reply(422, "bad_kinds, bad_last_event_id or bad_parameter", StateError, (SEQ,)),
            NOT_REACHED,
        )),
        "healthz": Operation((Reply(200, "Consuming", Ready, (SEQ,)),
                              Reply(503, "Not consuming", Ready, (SEQ,)))),
        "metrics": Operation((Reply(200, "Prometheus text exposition", str, (SEQ,),
                                    media_type="text/plain"),)),
        "config": Operation((Reply(200, "The deployment as the dashboard shows it", UiConfig),)),
        "lag": Operation((Reply(200, "Messages not yet applied", LagBody),
                          Reply(503, "LAG_UNAVAILABLE: NATS did not answer", Refused))),
        "kill": _forward("POST /v1/kill"),
        "resume": _forward("POST /v1/resume"),
    }


FORWARD = ("Sends the caller's `Authorization` (the commands service's admin or strategy token) and "
           'body (`{"reason", "strategy"}`) to the commands service, which checks it.')


def _forward(target: str) -> Operation:
    passed = [Reply(s, f"The commands service's {s} to {target}, passed back as it is (its own API "
                       "document has the body)", dict) for s in (200, 401, 403, 422, 503)]
    return Operation((
        *passed,
        Reply(413, "BODY_TOO_LARGE", Refused),
        Reply(502, "COMMANDS_UNREACHABLE: the commands service did not answer (STATE_COMMANDS_URL)", Refused),
    ), body=dict, secured=True, description=FORWARD)


def _open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def document(app: FastAPI, tokens: bool) -> ApiDoc:
    """Install the declared document on ``app``; ``tokens``: whether read tokens are required."""
    doc = ApiDoc(
        operations(),
        scheme=("bearer", {"type": "http", "scheme": "bearer",
                           "description": "A read token (STATE_READ_TOKENS); /ui/kill and /ui/resume: "
                                          "the commands service's admin or strategy token"}),
        unauthorized=Reply(401, "unauthorized (`read_token`): no valid read token", Unauthorized,
                           ("WWW-Authenticate",)),
        headers=HEADERS,
        fields={(ShellHealth, "core"): Health},
        secured=lambda path: tokens and not _open(path),
    )
    install(app, doc)
    return doc


def install_errors(app: FastAPI, svc: StateService) -> None:
    """The framework's refusals in the state API's error shape."""

    def answer(status: int, error: str, reason: str, rule: str = "") -> Response:
        seq = svc.core.account_seq
        body = StateError(seq=seq, error=error, reason=reason, rule=rule)
        return Response(encode(body), status_code=status, media_type=JSON, headers={SEQ: str(seq)})

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("query", "path", "header", "body")]
        rule = loc[0] if loc else "request"
        return answer(422, "bad_parameter", f"{rule}: {first.get('msg', 'invalid')}", rule)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        error = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return answer(exc.status_code, error, f"{request.method} {request.url.path}: {exc.detail}")
