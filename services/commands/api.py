"""The HTTP API for strategies (FastAPI; OpenAPI docs at ``/docs``).

Bodies are decoded with msgspec (typed, strict enums) rather than pydantic: it is the hot path.
Every error is JSON ``{"error", "rule", "message"}``: 401 without a valid bearer token, 403
outside the strategy's limits, 422 for a broken market/system rule or a malformed body, 429 with
``Retry-After`` above the client-side rate.

Read-your-writes: every reply of a command that published its intent event (CmdSubmitted,
CmdCancelRequested, CmdModifyRequested) carries ``"seq"``, the ACCOUNT stream sequence of that
event, in the body and as header ``X-Stream-Seq`` (a batch: per item, the max at top level; an
idempotent replay: the stored one). A state read with ``?min_seq=<seq>`` reflects the command.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, Literal, TypeVar

import msgspec
from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.commands.batch import BatchPlacer
from services.commands.cancels import Cancels
from services.commands.core.strategies import Strategies, Strategy
from services.commands.engine import Engine
from services.commands.records import Records
from services.commands.wire import CancelBatch, ModifyOrder, PlaceBatch, PlaceOrder, Reply, reply
from shared.apidocs import install_docs

T = TypeVar("T")
ARRIVAL: ContextVar[float] = ContextVar("arrival", default=0.0)
"""``perf_counter`` when the current HTTP request arrived (set by :class:`ArrivalStamp`)."""


class ArrivalStamp:
    """Pure ASGI middleware: stamps each request's arrival for the added-latency measure."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            ARRIVAL.set(time.perf_counter())
        await self.app(scope, receive, send)


DESCRIPTION = (
    "Orders for strategies. Read-your-writes: every reply of a command that published its intent "
    "event (CmdSubmitted, CmdCancelRequested, CmdModifyRequested) carries `seq`, the ACCOUNT stream "
    "sequence of that event, as the body's `seq` field and the header `X-Stream-Seq` (a batch: per "
    "item and their max at top level; an idempotent replay: the stored seq; absent when nothing was "
    "published, e.g. 4xx before the bus or 503 BUS_UNAVAILABLE). Read the state service with "
    "`?min_seq=<seq>` and the answer reflects the command (the order is never missing)."
)


def _schema(*types: type[Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    refs, components = msgspec.json.schema_components(types, ref_template="#/components/schemas/{name}")
    return {t.__name__: r for t, r in zip(types, refs, strict=True)}, components


def _body(name: str, refs: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": refs[name]}}}}


def build_app(
    engine: Engine,
    strategies: Strategies,
    health: Callable[[], tuple[bool, dict[str, Any]]],
    lifespan: Any = None,
) -> Any:
    """The FastAPI app wrapped in :class:`ArrivalStamp`."""
    app = FastAPI(title="paradex-hub commands", version="1", lifespan=lifespan, description=DESCRIPTION)
    cancels = Cancels(engine)
    batches = BatchPlacer(engine)
    records = Records(engine.store, engine.metrics)
    refs, components = _schema(PlaceOrder, PlaceBatch, ModifyOrder, CancelBatch)
    metrics = engine.metrics

    def respond(r: Reply) -> Response:
        return Response(r.body, status_code=r.status, headers=r.headers, media_type="application/json")

    def auth(request: Request) -> Strategy | Response:
        s = strategies.authenticate(request.headers.get("authorization"))
        if s is None:
            return respond(
                reply(
                    401,
                    {
                        "error": "UNAUTHORIZED",
                        "rule": "bearer_token",
                        "message": "a valid 'Authorization: Bearer <token>' is required",
                    },
                    {"WWW-Authenticate": "Bearer"},
                )
            )
        return s

    async def decode(request: Request, type_: type[T]) -> T | Response:
        try:
            return msgspec.json.decode(await request.body(), type=type_)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            return respond(reply(422, {"error": "INVALID_REQUEST", "rule": "schema", "message": str(exc)}))

    Handler = Callable[[Strategy, Request], Awaitable[Reply | Response]]

    def route(
        method: Literal["GET", "POST", "PUT", "DELETE"], path: str, name: str, body: str | None = None
    ) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            async def endpoint(request: Request) -> Response:
                s = auth(request)
                if isinstance(s, Response):
                    metrics.requests.labels(name, str(s.status_code)).inc()
                    return s
                out = await fn(s, request)
                resp = out if isinstance(out, Response) else respond(out)
                metrics.requests.labels(name, str(resp.status_code)).inc()
                return resp

            app.add_api_route(
                path,
                endpoint,
                methods=[method],
                name=name,
                summary=fn.__doc__,
                openapi_extra=_body(body, refs) if body else None,
            )
            return fn

        return register

    @route("POST", "/v1/orders/batch", "place_batch", "PlaceBatch")
    async def place_batch(s: Strategy, request: Request) -> Reply | Response:
        """Place up to 50 orders through the venue's batch endpoint (10 per venue request), each
        idempotent by its client_id; wait none|ack."""
        req = await decode(request, PlaceBatch)
        return req if isinstance(req, Response) else await batches.place(s, req)

    @route("POST", "/v1/orders", "place", "PlaceOrder")
    async def place(s: Strategy, request: Request) -> Reply | Response:
        """Place one order; wait none|ack|ws."""
        req = await decode(request, PlaceOrder)
        return req if isinstance(req, Response) else await engine.place(s, req)

    @route("GET", "/v1/commands/{client_id}", "command")
    async def command(s: Strategy, request: Request) -> Reply | Response:
        """The stored outcome of a place by client id (the reply a duplicate would get), without
        placing anything: ``{"client_id", "state": pending|done, "http_status", "reply"}``."""
        return await records.get(s, request.path_params["client_id"])

    @route("DELETE", "/v1/orders/batch", "cancel_batch", "CancelBatch")
    async def cancel_batch(s: Strategy, request: Request) -> Reply | Response:
        """Cancel orders by exchange id and/or client id."""
        req = await decode(request, CancelBatch)
        return req if isinstance(req, Response) else await cancels.batch(s, req)

    @route("DELETE", "/v1/orders/by_client_id/{client_id}", "cancel_by_client_id")
    async def cancel_by_client_id(s: Strategy, request: Request) -> Reply | Response:
        """Cancel one order by client id (?market= optional)."""
        return await cancels.cancel_by_client_id(
            s, request.path_params["client_id"], request.query_params.get("market")
        )

    @route("PUT", "/v1/orders/{order_id}", "modify", "ModifyOrder")
    async def modify(s: Strategy, request: Request) -> Reply | Response:
        """Modify an order's size/price (side and type unchanged)."""
        req = await decode(request, ModifyOrder)
        return (
            req
            if isinstance(req, Response)
            else await cancels.modify(s, request.path_params["order_id"], req)
        )

    @route("DELETE", "/v1/orders/{order_id}", "cancel")
    async def cancel(s: Strategy, request: Request) -> Reply | Response:
        """Cancel one order by exchange id."""
        return await cancels.cancel(s, request.path_params["order_id"])

    @route("DELETE", "/v1/orders", "cancel_all")
    async def cancel_all(s: Strategy, request: Request) -> Reply | Response:
        """Cancel all (own, unless allowed to cancel others) orders, optionally of one market."""
        return await cancels.cancel_all(s, request.query_params.get("market"))

    @app.get("/healthz")
    async def healthz() -> Response:
        ok, body = health()
        return respond(reply(200 if ok else 503, {"ok": ok, **body}))

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    base_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        schema: dict[str, Any] = base_openapi()
        schema.setdefault("components", {}).setdefault("schemas", {}).update(components)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    install_docs(app, "paradex-hub commands API")  # Swagger UI from local files (works offline)
    return ArrivalStamp(app)
