"""The HTTP edge for strategies (FastAPI; OpenAPI docs at ``/docs``).

The edge only authenticates, reads and decodes the body (msgspec: typed, strict enums, unknown
fields refused; larger than ``max_body_bytes``: 413), calls one command and encodes its typed
:class:`~services.commands.core.messages.Answer` ONCE. Every error is JSON
``{"error", "rule", "message"}``: 401 without a valid bearer token, 403 outside the strategy's
limits, 413 body too large, 422 for a broken rule or a malformed body, 429 with ``Retry-After``
above a rate, 503 with ``Retry-After`` when the bus or Redis is unavailable. An unexpected error is
logged with its traceback and answered 500 ``INTERNAL`` (never a crash, never a framework page).

Read-your-writes: every answer of a command that published its intent event (CmdSubmitted,
CmdCancelRequested, CmdModifyRequested) carries ``"seq"``, the ACCOUNT stream sequence of that
event, in the body and as header ``X-Stream-Seq`` (a batch: per item, the max at top level; an
idempotent replay: the stored one). A state read with ``?min_seq=<seq>`` reflects the command.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol, TypeVar

import msgspec
from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.commands import openapi as openapi_doc
from services.commands.algo import PlaceAlgo
from services.commands.core import answers
from services.commands.core.messages import (
    Answer,
    CancelBatch,
    KillRequest,
    ModifyOrder,
    PlaceBatch,
    PlaceOrder,
    encode_body,
)
from services.commands.core.place import API_BATCH_MAX
from services.commands.core.strategies import Strategies, Strategy
from services.commands.metrics import Metrics
from services.commands.store import StoreUnavailable
from services.commands.timing import TIMING, Timing
from shared.apidocs import install_docs
from shared.openapi_doc import install as install_openapi

log = logging.getLogger("commands.api")
T = TypeVar("T")


Endpoint = Callable[[Request], Awaitable[Response]]


class ArrivalStamp:
    """Pure ASGI middleware: stamps each request's arrival for the added-latency measure
    (:mod:`services.commands.timing`; the order routes answer it as ``Server-Timing``), and
    hands the order placing routes (``fast``: method and path -> endpoint) straight to their
    endpoint: FastAPI's middleware, routing and dependency layers cost about 0.3 ms a request
    and these endpoints use none of them (they authenticate, read, decode, answer and catch
    every error themselves; an error escaping one anyway is answered 500 ``INTERNAL``)."""

    def __init__(self, app: Any, fast: dict[tuple[str, str], Endpoint] | None = None) -> None:
        self.app = app
        self.fast = fast or {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            timing = Timing(time.perf_counter())
            TIMING.set(timing)
            endpoint = self.fast.get((scope["method"], scope["path"]))
            if endpoint is not None:
                try:
                    response = await endpoint(Request(scope, receive))
                except Exception:
                    log.exception("%s %s failed", scope["method"], scope["path"])
                    response = respond(INTERNAL)
                server_timing = timing.header()
                if server_timing is not None:
                    response.headers["Server-Timing"] = server_timing
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class Commands(Protocol):
    """What the edge calls (``services.commands.service`` wires it)."""

    metrics: Metrics

    async def place(self, s: Strategy, req: PlaceOrder) -> Answer: ...
    async def place_batch(self, s: Strategy, req: PlaceBatch) -> Answer: ...
    async def record(self, s: Strategy, client_id: str) -> Answer: ...
    async def cancel(self, s: Strategy, order_id: str) -> Answer: ...
    async def cancel_by_client_id(self, s: Strategy, client_id: str, market: str | None) -> Answer: ...
    async def cancel_batch(self, s: Strategy, req: CancelBatch) -> Answer: ...
    async def cancel_all(self, s: Strategy, market: str | None) -> Answer: ...
    async def modify(self, s: Strategy, order_id: str, req: ModifyOrder) -> Answer: ...
    async def kill(self, s: Strategy | None, req: KillRequest) -> Answer: ...
    async def resume(self, s: Strategy | None, req: KillRequest) -> Answer: ...
    async def place_algo(self, s: Strategy, req: PlaceAlgo) -> Answer: ...
    async def cancel_algo(self, s: Strategy, algo_id: str) -> Answer: ...
    async def list_algos(self, s: Strategy, market: str | None) -> Answer: ...
    def health(self) -> tuple[bool, dict[str, Any]]: ...


DESCRIPTION = (
    "Orders for strategies. Read-your-writes: every reply of a command that published its intent "
    "event (CmdSubmitted, CmdCancelRequested, CmdModifyRequested) carries `seq`, the ACCOUNT stream "
    "sequence of that event, as the body's `seq` field and the header `X-Stream-Seq` (a batch: per "
    "item and their max at top level; an idempotent replay: the stored seq; absent when nothing was "
    "published, e.g. 4xx before the bus or 503 BUS_UNAVAILABLE). Read the state service with "
    "`?min_seq=<seq>` and the answer reflects the command (the order is never missing). A replayed "
    "answer (a known client_id) is the stored one, byte for byte, with `Idempotent-Replay: true`."
)


def respond(a: Answer) -> Response:
    """Encode an answer (the one place a reply becomes bytes)."""
    headers = dict(a.headers)
    if a.seq:
        headers[answers.SEQ_HEADER] = str(a.seq)
    return Response(encode_body(a.body), status_code=a.status, headers=headers, media_type="application/json")


INTERNAL = answers.error(
    500, "INTERNAL", "internal", "internal error (logged); retry with the same client_id: it is safe"
)
UNAUTHORIZED = answers.error(
    401,
    "UNAUTHORIZED",
    "bearer_token",
    "a valid 'Authorization: Bearer <token>' is required",
    {"WWW-Authenticate": "Bearer"},
)


def build_app(
    commands: Commands,
    strategies: Strategies,
    *,
    max_body_bytes: int = 65536,
    admin: Callable[[str | None], bool] = lambda _a: False,
    lifespan: Any = None,
) -> Any:
    """The FastAPI app wrapped in :class:`ArrivalStamp`. ``admin(authorization)`` says whether a
    bearer token is the admin token (global kill switch)."""
    app = FastAPI(title="paradex-hub commands", version="2", lifespan=lifespan, description=DESCRIPTION)
    metrics = commands.metrics

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """Framework errors (no such route, method not allowed) in our JSON error shape."""
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
        message = f"{request.method} {request.url.path}: {exc.detail}"
        return respond(answers.error(exc.status_code, code, "route", message, dict(exc.headers or {})))

    async def read(request: Request) -> bytes | Answer:
        declared = request.headers.get("content-length")
        too_big = answers.error(
            413, "BODY_TOO_LARGE", "max_body_bytes", f"the request body exceeds {max_body_bytes} bytes"
        )
        if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
            return too_big
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body_bytes:
                return too_big
        return bytes(body)

    async def decode(request: Request, type_: type[T], empty_ok: bool = False) -> T | Answer:
        raw = await read(request)
        if isinstance(raw, Answer):
            return raw
        if not raw and empty_ok:
            raw = b"{}"
        try:
            return msgspec.json.decode(raw, type=type_)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            return answers.error(422, "INVALID_REQUEST", "schema", str(exc))

    Handler = Callable[[Strategy, Request], Awaitable[Answer]]

    async def guarded(run: Callable[[], Awaitable[Answer]], name: str) -> Response:
        try:
            return respond(await run())
        except StoreUnavailable as exc:
            metrics.redis_errors.inc()
            log.warning("%s: %s", name, exc)
            return respond(
                answers.unavailable(
                    "REDIS_UNAVAILABLE",
                    "redis",
                    "the idempotency store (Redis) is unavailable; nothing was sent",
                )
            )
        except Exception:
            log.exception("%s failed", name)
            return respond(INTERNAL)

    fast: dict[tuple[str, str], Endpoint] = {}

    def route(
        method: Literal["GET", "POST", "PUT", "DELETE"], path: str, name: str, direct: bool = False
    ) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            async def endpoint(request: Request) -> Response:
                s = strategies.authenticate(request.headers.get("authorization"))
                if s is None:
                    resp = respond(UNAUTHORIZED)
                else:
                    resp = await guarded(lambda: fn(s, request), name)
                metrics.requests.labels(name, str(resp.status_code)).inc()
                return resp

            app.add_api_route(
                path,
                endpoint,
                methods=[method],
                name=name,
                summary=fn.__doc__,
            )
            if direct:
                fast[(method, path)] = endpoint
            return fn

        return register

    @route("POST", "/v1/orders/batch", "place_batch", direct=True)
    async def place_batch(s: Strategy, request: Request) -> Answer:
        """Place up to 50 orders through the venue's batch endpoint (10 per venue request), each
        idempotent by its client_id; wait none|ack."""
        req = await decode(request, PlaceBatch)
        if isinstance(req, Answer):
            return req
        if not 1 <= len(req.orders) <= API_BATCH_MAX:
            return answers.error(
                422, "BATCH_SIZE_OUT_OF_RANGE", "batch_size", f"a batch holds 1 to {API_BATCH_MAX} orders"
            )
        return await commands.place_batch(s, req)

    @route("POST", "/v1/orders", "place", direct=True)
    async def place(s: Strategy, request: Request) -> Answer:
        """Place one order; wait none|ack|ws."""
        req = await decode(request, PlaceOrder)
        return req if isinstance(req, Answer) else await commands.place(s, req)

    @route("GET", "/v1/commands/{client_id}", "command")
    async def command(s: Strategy, request: Request) -> Answer:
        """The stored outcome of a place by client id (the reply a duplicate would get), without
        placing anything: ``{"client_id", "state": pending|done, "http_status", "reply"}``."""
        return await commands.record(s, request.path_params["client_id"])

    @route("DELETE", "/v1/orders/batch", "cancel_batch")
    async def cancel_batch(s: Strategy, request: Request) -> Answer:
        """Cancel up to 100 orders by exchange id and/or client id."""
        req = await decode(request, CancelBatch)
        return req if isinstance(req, Answer) else await commands.cancel_batch(s, req)

    @route("DELETE", "/v1/orders/by_client_id/{client_id}", "cancel_by_client_id")
    async def cancel_by_client_id(s: Strategy, request: Request) -> Answer:
        """Cancel one order by client id (?market= optional)."""
        return await commands.cancel_by_client_id(
            s, request.path_params["client_id"], request.query_params.get("market")
        )

    @route("PUT", "/v1/orders/{order_id}", "modify")
    async def modify(s: Strategy, request: Request) -> Answer:
        """Modify an order's size/price (market, side and type unchanged)."""
        req = await decode(request, ModifyOrder)
        return (
            req if isinstance(req, Answer) else await commands.modify(s, request.path_params["order_id"], req)
        )

    @route("DELETE", "/v1/orders/{order_id}", "cancel")
    async def cancel(s: Strategy, request: Request) -> Answer:
        """Cancel one order by exchange id."""
        return await commands.cancel(s, request.path_params["order_id"])

    @route("DELETE", "/v1/orders", "cancel_all")
    async def cancel_all(s: Strategy, request: Request) -> Answer:
        """Cancel all (own, unless allowed to cancel others) orders, optionally of one market."""
        return await commands.cancel_all(s, request.query_params.get("market"))

    @route("POST", "/v1/algo/orders", "place_algo")
    async def place_algo(s: Strategy, request: Request) -> Answer:
        """Place a TWAP algo order (MARKET children every frequency s over duration_seconds)."""
        req = await decode(request, PlaceAlgo)
        return req if isinstance(req, Answer) else await commands.place_algo(s, req)

    @route("GET", "/v1/algo/orders", "list_algos")
    async def list_algos(s: Strategy, request: Request) -> Answer:
        """The venue's open (NEW/OPEN) algo orders (?market= optional), with their strategies."""
        return await commands.list_algos(s, request.query_params.get("market"))

    @route("DELETE", "/v1/algo/orders/{algo_id}", "cancel_algo")
    async def cancel_algo(s: Strategy, request: Request) -> Answer:
        """Cancel one algo order (the venue queues it; the algo's record after it is returned)."""
        return await commands.cancel_algo(s, request.path_params["algo_id"])

    async def switch(
        request: Request, name: str, call: Callable[[Strategy | None, KillRequest], Awaitable[Answer]]
    ) -> Response:
        resp = await _switch(request, name, call)
        metrics.requests.labels(name, str(resp.status_code)).inc()
        return resp

    async def _switch(
        request: Request, name: str, call: Callable[[Strategy | None, KillRequest], Awaitable[Answer]]
    ) -> Response:
        authorization = request.headers.get("authorization")
        who: Strategy | None = None
        if not admin(authorization):
            who = strategies.authenticate(authorization)
            if who is None:
                return respond(UNAUTHORIZED)
        req = await decode(request, KillRequest, empty_ok=True)
        if isinstance(req, Answer):
            return respond(req)
        return await guarded(lambda: call(who, req), name)

    @app.post(
        "/v1/kill",
        summary="Kill switch: cancel everything and refuse new orders until resumed (the admin token: "
        "the whole account, or {strategy}; a strategy's token: that strategy)",
    )
    async def kill(request: Request) -> Response:
        return await switch(request, "kill", commands.kill)

    @app.post(
        "/v1/resume",
        summary="Resume after a kill (the same scope as the kill)",
    )
    async def resume(request: Request) -> Response:
        return await switch(request, "resume", commands.resume)

    @app.get("/healthz")
    async def healthz() -> Response:
        ok, body = commands.health()
        return Response(
            msgspec.json.encode({"ok": ok, **body}),
            status_code=200 if ok else 503,
            media_type="application/json",
        )

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    install_openapi(app, openapi_doc.DOC)  # every route's answers, typed (services/commands/openapi.py)
    install_docs(app, "paradex-hub commands API")  # Swagger UI from local files (works offline)
    return ArrivalStamp(app, fast)
