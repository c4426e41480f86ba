"""WebSocket order management: ``order.create``, ``order.create_batch``, ``order.modify``,
``order.cancel``, ``order.cancel_batch``, ``order.cancel_all``, ``order.cancel_on_disconnect``
(openrpc.json). Same validation, signatures and engine calls as REST (:mod:`..commands`) and the
same rate-limit bucket (``orders`` per account; a batch costs one unit).

Signatures of ``order.create`` and ``order.create_batch`` are checked by the signature checker
process when it runs (:meth:`OrderMethods.verdicts`, awaited by the session before the call, so
one connection's calls keep their order; :mod:`..verifyproc`), as for REST.

Errors: not authenticated 40300; rate limited 42901 (``data`` = retry-after seconds); bad
params -32602 (``data`` names the field); a rejected command 100 with ``data`` = the REST
ApiError ``{"error": CODE, "message": text}``.

Cancel on disconnect is session-scoped, as the spec says: once armed, the orders this connection
placed (including those placed before arming) that are still open are cancelled when the socket
drops. ``SIM_COD_SCOPE=account`` widens that to every open order of the account.

Injected faults (``POST /control/rest/errors`` with ``"transport": "ws"`` or ``"both"``,
:class:`..faults.RestFault`) answer as the REST faults do, in JSON-RPC: a 429 is 42901 (``data``
1 s), a 5xx or the end of a hang -32603 internal error, 401 40111, 403 40300, another 4xx a
method error 100 with ``data`` ``{"error": code (default NOT_FOUND for 404, else
REQUEST_NOT_ALLOWED), "message"}``; with ``execute`` the call is carried out first and its real
answer lost. ``delay`` answers late, ``drop`` cuts the connection before the answer, ``stall``
stops reading the connection (requests and pings wait in the socket: no answer, no pong) until
``hang_ms`` passes or the faults are reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

import msgspec

from shared.errors import DecodeError, VenueError
from shared.paradex.models.common import convert
from shared.paradex.models.requests import ModifyOrderRequest, OrderRequest
from shared.paradex.models.rest import ApiError

from .. import commands
from ..faults import Faults, RestFault
from ..ratelimit import RateLimiter
from ..venue import Venue
from ..verifyproc import Key
from .conn import Conn
from .rpc import (
    AUTH_REQUIRED,
    INTERNAL_ERROR,
    INVALID_BEARER,
    INVALID_PARAMS,
    METHOD_ERROR,
    RATE_LIMITED,
    RpcError,
)

log = logging.getLogger(__name__)

Method = Callable[[Conn, Any, int], Any]
Answer = Callable[[dict[str, Any]], None]
MAX_TRACKED = 10_000


def fault_error(fault: RestFault) -> RpcError:
    """The JSON-RPC twin of the REST answer ``fault.status`` (module docstring)."""
    status = fault.status
    if status == 429:
        return RpcError(RATE_LIMITED, "Rate limit exceeded", 1.0)
    if status >= 500:
        return RpcError(INTERNAL_ERROR, "Internal error", "injected server error")
    if status == 401:
        return RpcError(INVALID_BEARER, "invalid bearer token")
    if status == 403:
        return RpcError(AUTH_REQUIRED, "Permission denied — authentication required")
    code = fault.code or ("NOT_FOUND" if status == 404 else "REQUEST_NOT_ALLOWED")
    return RpcError(METHOD_ERROR, "injected error", {"error": code, "message": "injected error"})


def _error_body(err: RpcError) -> dict[str, Any]:
    error: dict[str, Any] = {"code": err.code, "message": err.message}
    if err.data is not None:
        error["data"] = err.data
    return {"error": error}


class _Cancel(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str | None = None
    client_id: str | None = None
    market: str | None = None


class _CancelBatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    order_ids: list[str]


class _CancelAll(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    market: str | None = None


class _Cod(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    enabled: bool


def _params(type_: type[Any], params: Any) -> Any:
    try:
        return convert(type_, params if params is not None else {})
    except DecodeError as exc:
        raise RpcError(INVALID_PARAMS, "invalid params", f"{exc.field or '$'}: {exc.reason}") from None


def _batch_orders(params: Any) -> Any:
    """The orders of ``order.create_batch``: ``{"orders": [...]}`` (the spec) or a bare list (the SDK)."""
    return params.get("orders") if isinstance(params, dict) else params


def _order_result(order: Any, now_ms: int) -> dict[str, Any]:
    return {"order": order, "created_at": now_ms, "received_at": time.time_ns()}


class OrderMethods:
    """The ``order.*`` methods of one WebSocket server."""

    def __init__(self, venue: Venue, limiter: RateLimiter, cod_scope: str = "session",
                 faults: Faults | None = None) -> None:
        self.venue = venue
        self.limiter = limiter
        self.cod_scope = cod_scope
        self._release = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        if faults is not None:
            faults.on_reset.append(self._release_faults)
        self.methods: dict[str, Method] = {
            "order.create": self.create, "order.create_batch": self.create_batch,
            "order.modify": self.modify, "order.cancel": self.cancel,
            "order.cancel_batch": self.cancel_batch, "order.cancel_all": self.cancel_all,
            "order.cancel_on_disconnect": self.cancel_on_disconnect,
        }

    def call(self, conn: Conn, method: str, params: Any) -> Any:
        """Run ``method`` for ``conn`` (authenticated, within the account's order rate limit)."""
        handler = self.methods[method]
        if not conn.account:
            raise RpcError(AUTH_REQUIRED, "Permission denied — authentication required")
        now_ms = self.venue.now_ms()
        if method != "order.cancel_on_disconnect":
            decision = self.limiter.check("orders", conn.account, time.monotonic(), now_ms)
            if not decision.allowed:
                raise RpcError(RATE_LIMITED, "Rate limit exceeded", round(decision.retry_after_s, 3))
        try:
            return handler(conn, params, now_ms)
        except VenueError as exc:
            raise RpcError(METHOD_ERROR, exc.venue_message or exc.code,
                           {"error": exc.code, "message": exc.venue_message}) from None

    async def verdicts(self, conn: Conn, method: str, params: Any) -> dict[Key, str] | None:
        """The signature checker's verdicts on the orders of an ``order.create`` /
        ``order.create_batch`` call, made before the call runs (set them in :data:`VERDICTS` around
        it); None when there is no checker, nothing to check, or params the method will refuse
        itself (every order it cannot find a verdict for is checked inline, as before)."""
        verifier = self.venue.verifier
        if verifier is None or not verifier.child.ready or not conn.account:
            return None
        try:
            if method == "order.create":
                reqs = [convert(OrderRequest, params if params is not None else {})]
            elif method == "order.create_batch":
                reqs = convert(list[OrderRequest], _batch_orders(params))
            else:
                return None
        except DecodeError:
            return None
        return await verifier.verdicts(conn.account, self.venue.public_key(conn.account), reqs)

    # ------------------------------------------------------------ injected faults

    def faulted(self, conn: Conn, fault: RestFault, method: str, params: Any, answer: Answer) -> None:
        """Answer ``method`` as the injected ``fault`` says (module docstring); ``answer`` sends
        the reply body (``{"result": ...}`` or ``{"error": ...}``)."""
        if fault.kind == "delay":
            self._spawn(self._delayed(conn, fault, method, params, answer))
            return
        if fault.execute:
            self._run(conn, method, params)  # carried out; its real answer is lost
        if fault.kind == "status":
            answer(_error_body(fault_error(fault)))
        elif fault.kind == "drop":
            conn.abort()
        elif fault.kind == "stall":
            transport = conn.ws.transport
            if transport is not None:
                transport.pause_reading()
            self._spawn(self._hung(conn, fault, answer, stalled=True))
        else:  # hang
            self._spawn(self._hung(conn, fault, answer))

    def _run(self, conn: Conn, method: str, params: Any) -> dict[str, Any]:
        try:
            return {"result": self.call(conn, method, params)}
        except RpcError as err:
            return _error_body(err)
        except Exception:
            log.exception("faulted order method failed", extra={"conn": conn.id, "method": method})
            return _error_body(RpcError(INTERNAL_ERROR, "Internal error"))

    async def _delayed(self, conn: Conn, fault: RestFault, method: str, params: Any, answer: Answer) -> None:
        body = self._run(conn, method, params) if fault.execute else None
        await asyncio.sleep(fault.delay_ms / 1000)
        answer(body if body is not None else self._run(conn, method, params))

    async def _hung(self, conn: Conn, fault: RestFault, answer: Answer, *, stalled: bool = False) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._release.wait(), fault.hang_ms / 1000)
        if stalled and conn.ws.transport is not None and not conn.ws.transport.is_closing():
            conn.ws.transport.resume_reading()
        answer(_error_body(RpcError(INTERNAL_ERROR, "Internal error", "request timed out")))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _release_faults(self) -> None:
        self._release.set()
        self._release = asyncio.Event()

    # ------------------------------------------------------------ methods

    def create(self, conn: Conn, params: Any, now_ms: int) -> Any:
        order = commands.place(self.venue, conn.account, now_ms, _params(OrderRequest, params))
        self._track(conn, order.id)
        return _order_result(order, now_ms)

    def _track(self, conn: Conn, order_id: str) -> None:
        conn.placed.add(order_id)
        if len(conn.placed) > MAX_TRACKED:  # forget closed orders of a long session
            live = {v.id for v in self.venue.exchange.open_orders(conn.account)}
            conn.placed &= live

    def create_batch(self, conn: Conn, params: Any, now_ms: int) -> Any:
        reqs = _params(list[OrderRequest], _batch_orders(params))
        results: list[dict[str, Any]] = []
        for item in commands.place_batch(self.venue, conn.account, now_ms, reqs):
            if isinstance(item, ApiError):
                results.append({"error": f"{item.error}: {item.message}"})
            else:
                self._track(conn, item.id)
                results.append(_order_result(item, now_ms))
        return {"results": results}

    def modify(self, conn: Conn, params: Any, now_ms: int) -> Any:
        req = _params(ModifyOrderRequest, params)
        return {"order": commands.modify(self.venue, conn.account, now_ms, req.id, req)}

    def cancel(self, conn: Conn, params: Any, now_ms: int) -> Any:
        req = _params(_Cancel, params)
        if req.id is None and (req.client_id is None or req.market is None):
            raise RpcError(INVALID_PARAMS, "invalid params", "id, or client_id and market, is required")
        view = commands.cancel(self.venue, conn.account, now_ms, req.id, client_id=req.client_id,
                               market=req.market)
        return {"order_id": view.id, "status": "QUEUED_FOR_CANCELLATION"}

    def cancel_batch(self, conn: Conn, params: Any, now_ms: int) -> Any:
        req = _params(_CancelBatch, params)
        results = commands.cancel_batch(self.venue, conn.account, now_ms, req.order_ids, [])
        return {"results": [
            {"id": r.id, "status": r.status, **({"market": r.market} if r.market else {})} for r in results
        ]}

    def cancel_all(self, conn: Conn, params: Any, now_ms: int) -> Any:
        commands.cancel_all(self.venue, conn.account, now_ms, _params(_CancelAll, params).market)
        return {"status": "ok"}

    def cancel_on_disconnect(self, conn: Conn, params: Any, now_ms: int) -> Any:
        conn.cancel_on_disconnect = _params(_Cod, params).enabled
        return {"enabled": conn.cancel_on_disconnect}

    # ------------------------------------------------------------ disconnect

    def on_disconnect(self, conn: Conn) -> None:
        """Cancel on disconnect: queue cancels of the session's (or account's) open orders."""
        if not conn.cancel_on_disconnect or not conn.account:
            return
        ex, now_ms = self.venue.exchange, self.venue.now_ms()
        open_ids = [v.id for v in ex.open_orders(conn.account)]
        ids = open_ids if self.cod_scope == "account" else [i for i in open_ids if i in conn.placed]
        if not ids:
            return
        try:
            ex.cancel_batch(conn.account, ids, (), now_ms=now_ms)
            self.venue.schedule_process()
        except Exception:
            log.exception("cancel on disconnect failed", extra={"conn": conn.id, "account": conn.account})
            return
        log.info("cancel on disconnect", extra={"conn": conn.id, "account": conn.account, "orders": len(ids)})
