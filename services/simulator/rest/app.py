"""The REST application: routes under ``/v1`` and the one dispatcher every request goes through.

Dispatch order: injected fault (control API) → JWT (private endpoints; 401 ``INVALID_TOKEN``) →
rate limit (429 with ``x-ratelimit-*`` headers) → stale-cache replay (private GETs, when the
fault is on) → handler (venue errors become ``{"error", "message", "data"}`` bodies) →
injected latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from shared.errors import VenueError
from shared.paradex.models.requests import OrderRequest

from ..faults import Faults, RestFault
from ..ratelimit import Decision, Limit, RateLimiter
from ..settings import SimSettings
from ..tokens import bearer
from ..venue import Venue
from ..verifyproc import VERDICTS
from . import account, account_extra, algo, auth, market_extra, orders, public, records
from .common import JSON, Call, error_response, venue_error_response

log = logging.getLogger(__name__)

Handler = Callable[[Call], Response]
PREFIX = "/v1"
PRIVATE_SCOPES = frozenset({"orders", "private_get"})
FAULT_CODES = {429: "TOO_MANY_REQUESTS", 500: "INTERNAL_ERROR", 502: "SERVICE_UNAVAILABLE",
               503: "SERVICE_UNAVAILABLE", 504: "SERVICE_UNAVAILABLE"}

#: (method, path, handler, rate-limit scope); specific paths before ``{order_id}``.
# The routes whose orders' signatures the signature-checker process checks before the handler
# runs (``..verifyproc``): the handler -> what its body holds.
PRECHECKED: dict[Handler, type[OrderRequest] | type[list[OrderRequest]]] = {
    orders.create_order: OrderRequest,
    orders.create_batch: list[OrderRequest],
}

ROUTES: list[tuple[str, str, Handler, str]] = [
    ("GET", "/system/config", public.system_config, "public"),
    ("GET", "/system/time", public.system_time, "public"),
    ("GET", "/system/state", public.system_state, "public"),
    ("GET", "/markets", public.markets, "public"),
    ("GET", "/markets/summary", public.markets_summary, "public"),
    ("GET", "/markets/klines", market_extra.klines, "public"),
    ("GET", "/orderbook/{market}/impact-price", market_extra.impact_price, "public"),
    ("GET", "/orderbook/{market}/interactive", market_extra.orderbook_interactive, "public"),
    ("GET", "/orderbook/{market}", public.orderbook, "public"),
    ("GET", "/bbo/{market}/interactive", market_extra.bbo_interactive, "public"),
    ("GET", "/bbo/{market}", public.bbo, "public"),
    ("GET", "/trades", public.trades, "public"),
    ("GET", "/funding/data", market_extra.funding_data, "public"),
    ("GET", "/onboarding", public.onboarding_check, "public"),
    ("POST", "/onboarding", auth.onboarding, "onboarding"),
    ("POST", "/auth", auth.auth, "auth"),
    ("POST", "/auth/{public_key}", auth.auth, "auth"),
    ("POST", "/orders", orders.create_order, "orders"),
    ("POST", "/orders/batch", orders.create_batch, "orders"),
    ("DELETE", "/orders/batch", orders.cancel_batch, "orders"),
    ("DELETE", "/orders/by_client_id/{client_id}", orders.cancel_by_client_id, "orders"),
    ("GET", "/orders/by_client_id/{client_id}", account.get_order_by_client_id, "private_get"),
    ("DELETE", "/orders", orders.cancel_all, "orders"),
    ("GET", "/orders", account.open_orders, "private_get"),
    ("PUT", "/orders/{order_id}", orders.modify_order, "orders"),
    ("DELETE", "/orders/{order_id}", orders.cancel_order, "orders"),
    ("GET", "/orders/{order_id}", account.get_order, "private_get"),
    ("GET", "/orders-history", account.orders_history, "private_get"),
    ("GET", "/fills", account.fills, "private_get"),
    ("GET", "/positions", account.positions, "private_get"),
    ("GET", "/account", account.account, "private_get"),
    ("GET", "/account/info", account_extra.account_info, "private_get"),
    ("GET", "/account/history", account_extra.account_history, "private_get"),
    ("GET", "/account/summary", account_extra.account_summary, "private_get"),
    ("GET", "/account/subaccounts", account_extra.subaccounts, "private_get"),
    ("GET", "/account/margin", account_extra.margin, "private_get"),
    ("POST", "/account/margin/{market}", account_extra.set_margin, "private_get"),
    ("GET", "/tradebusts", account_extra.tradebusts, "private_get"),
    ("GET", "/balance", account.balance, "private_get"),
    *records.ROUTES,
    *algo.ROUTES,
]


def rate_limits(s: SimSettings) -> dict[str, tuple[Limit, ...]]:
    """The venue's documented limits (PROTOCOL.md 3.10) from the settings."""
    return {
        "public": (Limit(s.rl_public_per_min, 60),),
        "auth": (Limit(s.rl_auth_per_min, 60),),
        "onboarding": (Limit(s.rl_auth_per_min, 60),),
        "orders": (Limit(s.rl_orders_per_s, 1), Limit(s.rl_orders_per_min, 60)),
        "private_get": (Limit(s.rl_private_get_per_s, 1), Limit(s.rl_private_get_per_min, 60)),
        "private_ip": (Limit(s.rl_private_ip_per_min, 60),),
        "ws_connect": (Limit(s.rl_ws_connect_per_s, 1), Limit(s.rl_ws_connect_per_min, 60)),
    }


async def _not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    if status == 405:
        return error_response(405, "NOT_FOUND", f"method {request.method} not allowed on {request.url.path}")
    return error_response(404, "NOT_FOUND", f"no such endpoint {request.url.path}")


class RestApp:
    """ASGI app of the venue's REST API."""

    def __init__(self, venue: Venue, faults: Faults, limiter: RateLimiter | None = None) -> None:
        self.venue = venue
        self.faults = faults
        self.limiter = limiter or RateLimiter(rate_limits(venue.settings))
        self._cache: dict[tuple[str, str, str], tuple[int, int, bytes]] = {}
        self._cache_generation = faults.generation
        self._release = asyncio.Event()
        faults.on_reset.append(self._release_hangs)
        routes = [
            Route(PREFIX + path, self._endpoint(handler, scope), methods=[method])
            for method, path, handler, scope in ROUTES
        ]
        self.app = Starlette(routes=routes, exception_handlers={404: _not_found, 405: _not_found})
        # Paths without parameters are dispatched by one dict lookup (Starlette tries every route's
        # regex in turn, ~16 per POST /orders); the rest go through Starlette's router.
        self._static = {(method, PREFIX + path): self._endpoint(handler, scope)
                        for method, path, handler, scope in ROUTES if "{" not in path}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            endpoint = self._static.get((scope["method"], scope["path"]))
            if endpoint is not None:
                scope["path_params"] = {}
                response = await endpoint(Request(scope, receive))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _endpoint(self, handler: Handler, scope: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                return await self._dispatch(request, handler, scope)
            except Exception:
                log.exception("REST handler failed", extra={"path": request.url.path})
                return error_response(500, "INTERNAL_ERROR", "internal error")

        return endpoint

    def _limit(self, scope: str, ip: str, account: str) -> Decision:
        now, wall = time.monotonic(), self.venue.now_ms()
        if scope in PRIVATE_SCOPES:
            decision = self.limiter.check(scope, account, now, wall)
            if decision.allowed and scope == "private_get":
                by_ip = self.limiter.check("private_ip", ip, now, wall)
                if not by_ip.allowed:
                    return by_ip
            return decision
        return self.limiter.check(scope, ip, now, wall)

    async def _dispatch(self, request: Request, handler: Handler, scope: str) -> Response:
        venue, faults = self.venue, self.faults
        fault = faults.take_rest_fault(request.method, request.url.path) if faults.rest_errors else None
        if fault is not None and not fault.execute:
            if fault.kind != "delay":
                return await self._fault_response(fault)
            await asyncio.sleep(fault.delay_ms / 1000)  # the request reaches the venue late
        account = ""
        if scope in PRIVATE_SCOPES:
            token = bearer(request.headers.get("authorization"))
            if token is None:
                return error_response(401, "INVALID_TOKEN", "missing or malformed jwt")
            check = venue.tokens.verify(token, venue.clock())
            if check.problem is not None:
                return error_response(401, "INVALID_TOKEN", check.problem.value)
            account = check.account
        decision = self._limit(scope, request.client.host if request.client else "", account)
        if not decision.allowed:
            headers = dict(decision.headers, **{"retry-after": str(max(1, round(decision.retry_after_s)))})
            return error_response(429, "TOO_MANY_REQUESTS", "rate limit exceeded", headers=headers)
        body = await request.body() if request.method != "GET" else b""
        call = Call(request, venue, account, body, venue.now_ms())
        if scope == "private_get" and faults.stale_ms > 0:
            response = self._stale(call, handler)
        elif handler in PRECHECKED and venue.verifier is not None and venue.verify_signatures:
            response = await self._prechecked(call, handler)
        else:
            response = self._run(call, handler)
        if fault is not None and fault.execute:
            if fault.kind == "delay":
                await asyncio.sleep(fault.delay_ms / 1000)  # acted on, answered late
            else:
                response = await self._fault_response(fault)
        response.headers.update(decision.headers)
        delay = faults.rest_delay_s()
        if delay > 0:
            await asyncio.sleep(delay)
        return response

    async def _prechecked(self, call: Call, handler: Handler) -> Response:
        """The handler, with its orders' signature verdicts made by the signature checker first
        (a body that does not decode is left to the handler, which answers its error)."""
        verifier = self.venue.verifier
        assert verifier is not None
        try:
            body = call.body_as(PRECHECKED[handler])
        except VenueError:
            return self._run(call, handler)
        reqs = body if isinstance(body, list) else [body]
        verdicts = await verifier.verdicts(call.account, self.venue.public_key(call.account), reqs)
        token = VERDICTS.set(verdicts)
        try:
            return self._run(call, handler)
        finally:
            VERDICTS.reset(token)

    @staticmethod
    def _run(call: Call, handler: Handler) -> Response:
        try:
            return handler(call)
        except VenueError as exc:
            return venue_error_response(exc)

    def _stale(self, call: Call, handler: Handler) -> Response:
        """Replay a private GET answered at most ``stale_ms`` ago (a venue-side cache)."""
        if self._cache_generation != self.faults.generation:
            self._cache.clear()
            self._cache_generation = self.faults.generation
        key = (call.account, call.request.url.path, call.request.url.query)
        hit = self._cache.get(key)
        if hit is not None and call.now_ms - hit[0] <= self.faults.stale_ms:
            return Response(hit[2], status_code=hit[1], media_type=JSON)
        response = self._run(call, handler)
        self._cache[key] = (call.now_ms, response.status_code, bytes(response.body))
        return response

    def _release_hangs(self) -> None:
        self._release.set()
        self._release = asyncio.Event()

    async def _fault_response(self, fault: RestFault) -> Response:
        if fault.kind == "hang":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), fault.hang_ms / 1000)
            return error_response(503, "SERVICE_UNAVAILABLE", "request timed out")
        code = fault.code or FAULT_CODES.get(fault.status, "INTERNAL_ERROR")
        message = "rate limit exceeded" if fault.status == 429 else "injected server error"
        return error_response(fault.status, code, message)
