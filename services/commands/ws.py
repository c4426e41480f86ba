"""WebSocket order entry: the commands service's own authenticated connection to the venue.

:class:`WsOrderClient` keeps ONE JSON-RPC connection (PROTOCOL 2.1, 2.10; openrpc.json) for the
``order.*`` methods, reconnecting with a capped, jittered backoff (``shared.paradex.retry``). Each
session: a JWT from the REST client's :class:`~shared.paradex.auth.JwtManager` (renewed when due, so
every reconnect authenticates with a fresh token; a refused token, 40110/40111, is invalidated
and the next session fetches a new one), ``auth``, then, with cancel on disconnect on,
``order.cancel_on_disconnect {"enabled": true}`` (the venue resets it on every new connection, so
it is re-armed by every session). The connection is *ready* only once all of that succeeded.
The venue keeps a connection authenticated for its whole life, so a live one needs no re-auth.

:class:`WsTransport` is the :class:`~services.commands.transport.OrderTransport` over it, with the
REST rules (``core.outcome``):

* the socket not ready (down, connecting, authenticating), or closed before the frame was handed
  to it: **not sent**; the command falls back to REST (logged at a bounded rate and counted in
  ``commands_ws_fallback``). An auth error answer (the venue acted on nothing) falls back too;
* the frame was handed to the socket, then no answer in ``reply_timeout_s`` or the connection was
  lost: **ambiguous** (the pipeline looks the order up; never re-sent);
* a JSON-RPC error answer proving the venue did nothing (method error 100 with the venue's
  ApiError, 42901, malformed request): **definite** rejection; an internal error: ambiguous;
* a result: validated at the edge exactly like a REST answer (the REST transport's checks).

Liveness: the client pings every ``ping_interval_s`` and drops a connection whose pong is
``ping_timeout_s`` late (then reconnects). A call answered by nothing in ``reply_timeout_s`` makes
the socket *suspect*: it is not ready (commands go by REST at once instead of each waiting out
the read timeout) while a ping checks it; a pong makes it ready again, none in ``ping_timeout_s``
cuts it (every call still waiting on it becomes unknown now) and a new session starts.

Cancel by client id without a market and batch cancels by client id have no WebSocket form
(``order.cancel`` needs the market, ``order.cancel_batch`` takes order ids only): those go by REST.

Cancel on disconnect is session scoped at the venue: it covers the orders placed on this
connection. Orders placed by REST (fallback while the socket was down) are not covered.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.protocol import State

from services.commands.core.outcome import (
    RPC_AUTH_ERRORS,
    Accepted,
    Failure,
    NotSent,
    Outcome,
    Unknown,
    batch_item,
    classify,
    classify_rpc,
)
from services.commands.transport import VENUE_MS, RestTransport, timed
from shared.errors import TransportError
from shared.logthrottle import LogThrottle
from shared.paradex.models.account import Order
from shared.paradex.models.common import decode, encode
from shared.paradex.models.requests import ModifyOrderRequest, OrderRequest
from shared.paradex.models.rest import CancelBatchResponse
from shared.paradex.retry import Backoff, BackoffPolicy

log = logging.getLogger("commands.ws")


class RpcFailure(Exception):
    """The venue answered a call with a JSON-RPC error."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"RPC {code} {message}")
        self.code, self.message, self.data = code, message, data


class _Error(msgspec.Struct, frozen=True):
    code: int
    message: str = ""
    data: Any = None


class _Reply(msgspec.Struct, frozen=True):
    id: int | str | None = None
    result: msgspec.Raw = msgspec.Raw()
    error: _Error | None = None


class _Created(msgspec.Struct, frozen=True):
    order: Order


class _BatchItem(msgspec.Struct, frozen=True):
    order: Order | None = None
    error: str | None = None


class _Batch(msgspec.Struct, frozen=True):
    results: list[_BatchItem]


_REPLY = msgspec.json.Decoder(_Reply)
SendHook = Callable[[str, str, int], None]


def with_sbe(url: str, sbe_version: int) -> str:
    """``url`` with the SBE query (``?sbeSchemaId=1&sbeSchemaVersion=N``) when ``sbe_version``."""
    if not sbe_version:
        return url
    return f"{url}{'&' if '?' in url else '?'}sbeSchemaId=1&sbeSchemaVersion={sbe_version}"


class WsOrderClient:
    """One authenticated JSON-RPC connection, reconnected until :meth:`stop` (module docstring).

    ``jwt`` is anything with ``async token()`` and ``invalidate(token)``; ``on_send(kind, method,
    attempt)`` is called just before a request frame is handed to the socket (the added-latency
    hook, like the REST client's ``on_request``).
    """

    def __init__(
        self,
        url: str,
        jwt: Any,
        *,
        cancel_on_disconnect: bool = False,
        reply_timeout_s: float = 10.0,
        connect_timeout_s: float = 3.0,
        backoff: BackoffPolicy | None = None,
        on_send: SendHook | None = None,
        max_size: int = 1 << 22,
        ping_interval_s: float = 5.0,
        ping_timeout_s: float = 3.0,
    ) -> None:
        self.url, self.jwt = url, jwt
        self.ping_interval_s, self.ping_timeout_s = ping_interval_s, ping_timeout_s
        self.suspects = 0  #: calls unanswered in time that made the socket suspect
        self.stalls = 0  #: suspect sockets cut because no pong came back
        self._checking: ClientConnection | None = None
        self._check_task: asyncio.Task[None] | None = None
        self.cancel_on_disconnect = cancel_on_disconnect
        self.reply_timeout_s, self.connect_timeout_s = reply_timeout_s, connect_timeout_s
        self.backoff = Backoff(backoff or BackoffPolicy(initial_s=0.1, max_s=5.0, stable_after_s=30.0))
        self.on_send = on_send
        self.max_size = max_size
        self.stopped = False
        self.sessions = 0  #: connections that became ready
        self.cod_armed = False  #: cancel on disconnect armed on the current connection
        self.last_error = ""
        self._ws: ClientConnection | None = None  # set while ready
        self._current: ClientConnection | None = None
        self._pending: dict[int, asyncio.Future[msgspec.Raw]] = {}
        self._ids = itertools.count(1)
        self._ready = asyncio.Event()

    @property
    def ready(self) -> bool:
        """Connected, authenticated (and cancel on disconnect armed, when on)."""
        ws = self._ws
        return ws is not None and ws.protocol.state is State.OPEN

    async def wait_ready(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the connection to be ready; whether it is."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout_s)
        return self.ready

    async def run(self) -> None:
        """Sessions until :meth:`stop`, with backoff between them."""
        while not self.stopped:
            try:
                await self._session()
                reason = "closed"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every failure leads to a reconnect
                reason = f"{type(exc).__name__}: {exc}"
            self.last_error = reason
            if self.stopped:
                break
            delay = self.backoff.next_delay(time.monotonic())
            log.warning("order websocket down (%s); reconnecting in %.2f s", reason, delay)
            await asyncio.sleep(delay)

    async def stop(self) -> None:
        """Close the connection and stop reconnecting (cancel on disconnect, when armed, fires:
        a commands service going away leaves no order unattended)."""
        self.stopped = True
        if self._check_task is not None:
            self._check_task.cancel()
        ws = self._current
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2.0)

    def drop(self) -> None:
        """Cut the current connection without a close handshake (tests, a refused token)."""
        ws = self._current
        if ws is not None and ws.transport is not None:
            ws.transport.abort()

    async def _session(self) -> None:
        async with connect(
            self.url,
            open_timeout=self.connect_timeout_s,
            max_size=self.max_size,
            compression=None,
            close_timeout=2.0,
            ping_interval=self.ping_interval_s or None,
            ping_timeout=self.ping_timeout_s or None,
        ) as ws:
            self._current = ws
            pending: dict[int, asyncio.Future[msgspec.Raw]] = {}
            self._pending = pending
            reader = asyncio.create_task(self._read(ws, pending))
            try:
                token = await self.jwt.token()
                try:
                    await self._request(ws, pending, "auth", encode({"bearer": token}), hook=False)
                except RpcFailure as exc:
                    if exc.code in RPC_AUTH_ERRORS:
                        self.jwt.invalidate(token)
                    raise
                if self.cancel_on_disconnect:
                    armed = await self._request(
                        ws, pending, "order.cancel_on_disconnect", b'{"enabled":true}', hook=False
                    )
                    if msgspec.json.decode(armed).get("enabled") is not True:
                        raise RuntimeError(f"cancel on disconnect not armed: {bytes(armed)[:200]!r}")
                    self.cod_armed = True
                self._ws = ws
                self.sessions += 1
                self.backoff.mark_up(time.monotonic())
                self._ready.set()
                log.info(
                    "order websocket ready (session %d, cancel on disconnect %s)",
                    self.sessions,
                    "armed" if self.cod_armed else "off",
                )
                await reader
            finally:
                self._ws = None
                self.cod_armed = False
                self._ready.clear()
                reader.cancel()
                _fail(pending)

    async def _read(self, ws: ClientConnection, pending: dict[int, asyncio.Future[msgspec.Raw]]) -> None:
        throttle = LogThrottle(log)
        with contextlib.suppress(Exception):  # ends when the connection does
            async for frame in ws:
                if isinstance(frame, bytes):
                    continue  # an SBE heartbeat (a session with the SBE query): never an answer
                try:
                    reply = _REPLY.decode(frame)
                except msgspec.DecodeError as exc:
                    throttle.log(time.monotonic(), logging.WARNING, "bad_frame", "bad frame: %s", exc)
                    continue
                fut = pending.pop(reply.id, None) if isinstance(reply.id, int) else None
                if fut is None or fut.done():
                    continue  # a push, or the answer to a call that timed out
                if reply.error is not None:
                    fut.set_exception(RpcFailure(reply.error.code, reply.error.message, reply.error.data))
                else:
                    fut.set_result(reply.result)
        self._ws = None  # no new request on a closed connection
        _fail(pending)

    async def _request(
        self,
        ws: ClientConnection,
        pending: dict[int, asyncio.Future[msgspec.Raw]],
        method: str,
        params: bytes,
        *,
        hook: bool = True,
    ) -> msgspec.Raw:
        if ws.protocol.state is not State.OPEN:
            raise TransportError("order websocket not open", delivery="not_sent")
        request_id = next(self._ids)
        frame = b'{"jsonrpc":"2.0","method":"%s","params":%s,"id":%d}' % (method.encode(), params, request_id)
        fut: asyncio.Future[msgspec.Raw] = asyncio.get_running_loop().create_future()
        pending[request_id] = fut
        if hook and self.on_send is not None:
            self.on_send("WS", method, 0)
        try:
            # The state was OPEN and nothing awaited since: the frame is written (or at least
            # handed over) by this call; a failure from here on may follow the write.
            await ws.send(frame, text=True)
        except Exception as exc:
            pending.pop(request_id, None)
            raise TransportError(f"order websocket failed while sending: {exc!r}") from exc
        try:
            async with asyncio.timeout(self.reply_timeout_s):  # (wait_for: a loop turn more on 3.11)
                return await fut
        except TimeoutError:
            if hook:  # an order call (not the session set-up, whose failure ends the session)
                self._suspect(ws)
            raise TransportError(f"no order websocket answer in {self.reply_timeout_s} s") from None
        finally:
            pending.pop(request_id, None)

    def _suspect(self, ws: ClientConnection) -> None:
        """A call on ``ws`` went unanswered: not ready until a ping proves it alive (module
        docstring)."""
        if self._checking is ws or ws is not self._current or ws.protocol.state is not State.OPEN:
            return
        self.suspects += 1
        self._checking = ws
        if self._ws is ws:
            self._ws = None
            self._ready.clear()
        self._check_task = asyncio.get_running_loop().create_task(self._check(ws))  # held: not GCed

    async def _check(self, ws: ClientConnection) -> None:
        timeout = self.ping_timeout_s or self.reply_timeout_s
        try:
            pong = await ws.ping()
            latency = await asyncio.wait_for(pong, timeout)
        except Exception as exc:  # no pong in time, or the connection went meanwhile
            if ws is self._current and ws.protocol.state is State.OPEN:
                self.stalls += 1
                log.warning("order websocket stalled (no pong in %.1f s after an unanswered call: %r); "
                            "reconnecting", timeout, exc)
                if ws.transport is not None:
                    ws.transport.abort()
            return
        finally:
            if self._checking is ws:
                self._checking = None
        if ws is self._current and ws.protocol.state is State.OPEN and not self.stopped:
            log.info("order websocket answered a ping in %.1f ms after an unanswered call: ready again",
                     latency * 1000)
            self._ws = ws
            self._ready.set()

    async def call(self, method: str, params: bytes) -> msgspec.Raw:
        """One request on the ready connection: its result. TransportError (``delivery``
        not_sent when nothing was written) or RpcFailure (the venue's error answer)."""
        ws = self._ws
        if ws is None:
            raise TransportError("order websocket not connected", delivery="not_sent")
        return await self._request(ws, self._pending, method, params)


class WsTransport:
    """Order writes over :class:`WsOrderClient`, REST when it is down (module docstring)."""

    name = "ws"

    def __init__(
        self, client: WsOrderClient, rest: RestTransport, on_fallback: Callable[[str], None] | None = None
    ) -> None:
        self.client, self.rest = client, rest
        self.on_fallback = on_fallback
        self.fallbacks = 0
        self._throttle = LogThrottle(log, per_window=2, window_s=10.0)

    def _fell_back(self, op: str, why: str) -> None:
        self.fallbacks += 1
        if self.on_fallback is not None:
            self.on_fallback(op)
        self._throttle.log(time.monotonic(), logging.WARNING, op, "%s by REST: %s", op, why)

    async def _call(self, method: str, params: bytes) -> msgspec.Raw | Failure:
        try:
            return await self.client.call(method, params)
        except RpcFailure as exc:
            failure = classify_rpc(exc.code, exc.message, exc.data)
            if isinstance(failure, NotSent) and exc.code in RPC_AUTH_ERRORS:
                self.client.drop()  # the connection lost its authentication: start a new one
            return failure
        except Exception as exc:  # classified: none escapes
            return classify(exc)

    async def place(self, orders: Sequence[OrderRequest]) -> tuple[list[Outcome], float]:
        started = time.perf_counter()
        if len(orders) == 1:
            method, params = "order.create", encode(orders[0])
        else:
            method, params = "order.create_batch", b'{"orders":%s}' % encode(list(orders))
        answer = await self._call(method, params)
        if isinstance(answer, NotSent):
            self._fell_back("place", answer.reason)
            return await self.rest.place(orders)
        result: list[Outcome]
        if not isinstance(answer, msgspec.Raw):
            result = [answer] * len(orders)
        else:
            try:
                result = (
                    [Accepted(decode(_Created, answer).order)]
                    if len(orders) == 1
                    else _batch(answer, len(orders))
                )
            except Exception as exc:  # an undecodable answer: ambiguous
                result = [classify(exc)] * len(orders)
        return await self.rest.checked(result, orders, method), (time.perf_counter() - started) * 1000

    async def _none(self, op: str, method: str, params: bytes, fallback: Callable[[], Any]) -> Failure | None:
        answer = await self._call(method, params)
        if isinstance(answer, NotSent):
            self._fell_back(op, answer.reason)
            result: Failure | None = await fallback()
            return result
        return answer if not isinstance(answer, msgspec.Raw) else None

    async def cancel(self, order_id: str) -> Failure | None:
        return await timed(
            lambda: self._none(
                "cancel", "order.cancel", encode({"id": order_id}), lambda: self.rest.cancel(order_id)
            )
        )

    async def cancel_by_client_id(self, client_id: str, market: str | None) -> Failure | None:
        if market is None:  # order.cancel by client id needs the market
            return await self.rest.cancel_by_client_id(client_id, market)
        params = encode({"client_id": client_id, "market": market})
        return await timed(
            lambda: self._none(
                "cancel", "order.cancel", params, lambda: self.rest.cancel_by_client_id(client_id, market)
            )
        )

    async def cancel_all(self, market: str | None) -> Failure | None:
        params = encode({"market": market} if market is not None else {})
        return await timed(
            lambda: self._none("cancel_all", "order.cancel_all", params, lambda: self.rest.cancel_all(market))
        )

    async def cancel_batch(
        self, order_ids: Sequence[str], client_ids: Sequence[str]
    ) -> CancelBatchResponse | Failure:
        if client_ids:  # order.cancel_batch takes order ids only
            return await self.rest.cancel_batch(order_ids, client_ids)
        started = time.perf_counter()
        answer = await self._call("order.cancel_batch", encode({"order_ids": list(order_ids)}))
        if isinstance(answer, NotSent):
            self._fell_back("cancel_batch", answer.reason)
            return await self.rest.cancel_batch(order_ids, client_ids)
        VENUE_MS.set((time.perf_counter() - started) * 1000)
        result: CancelBatchResponse | Failure
        if isinstance(answer, msgspec.Raw):
            try:
                result = decode(CancelBatchResponse, answer)
            except Exception as exc:
                result = classify(exc)
        else:
            result = answer
        return await self.rest.checked_cancels(result, "order.cancel_batch")

    async def modify(self, body: ModifyOrderRequest) -> Order | Failure:
        started = time.perf_counter()
        answer = await self._call("order.modify", encode(body))
        if isinstance(answer, NotSent):
            self._fell_back("modify", answer.reason)
            return await self.rest.modify(body)
        VENUE_MS.set((time.perf_counter() - started) * 1000)
        result: Order | Failure
        if isinstance(answer, msgspec.Raw):
            try:
                result = decode(_Created, answer).order
            except Exception as exc:
                result = classify(exc)
        else:
            result = answer
        return await self.rest.checked_modify(result, body, "order.modify")


def _fail(pending: dict[int, asyncio.Future[msgspec.Raw]]) -> None:
    """Every call still waiting on a lost connection: ambiguous (its frame was written)."""
    lost = TransportError("order websocket closed after the request was written")
    for fut in pending.values():
        if not fut.done():
            fut.set_exception(lost)
    pending.clear()


def _batch(answer: msgspec.Raw, n: int) -> list[Outcome]:
    """One outcome per item of an ``order.create_batch`` result (in request order); an item the
    answer leaves out, or one with neither order nor error, is ambiguous."""
    items = decode(_Batch, answer).results
    out: list[Outcome] = []
    for k in range(n):
        item = items[k] if k < len(items) else None
        if item is not None and item.order is not None:
            out.append(Accepted(item.order))
        elif item is not None and item.error is not None:
            out.append(batch_item(item.error))
        else:
            out.append(Unknown(reason="the batch answer does not mention it"))
    return out
