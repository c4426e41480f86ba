"""The WebSocket server at ``/v1``: handshake (SBE negotiation, connection rate limit), JSON-RPC
session, pings.

Methods: ``auth`` ``{bearer}``, ``subscribe`` ``{channel[, markets]}`` / ``unsubscribe``
``{channel}``, ``modify_subscription`` ``{channel, add, remove}`` (a scoped ``markets_summary``
subscription, opened with ``markets``), and the ``order.*`` methods (:mod:`.orders`). Replies
carry ``usIn``/``usOut``/``usDiff`` (µs). Errors follow PROTOCOL.md 2.3: -32700 parse, -32600
invalid request or channel, -32601 unknown method, -32602 bad params, 40110 malformed bearer,
40111 invalid/expired bearer, 40300 / 42901 / 100 for order methods. ``?sbeSchemaId=1&
sbeSchemaVersion=N`` selects SBE binary frames for public pushes; an unsupported schema or
version is refused with HTTP 400 at connect. New connections are limited per client IP
(``rl_ws_connect_per_s`` / ``_per_min``, 20/s and 600/min as the venue; 0 disables): over it,
HTTP 429 at connect. The server pings every ``ping_interval_s`` and drops a client whose pong is
``pong_timeout_s`` late (the websockets keepalive).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from shared.paradex.sbe import SCHEMA_ID, SCHEMA_VERSION

from ..ratelimit import RateLimiter
from ..settings import SimSettings
from ..tokens import TokenProblem
from ..venue import Venue
from ..verifyproc import VERDICTS, Key
from .channels import ChannelError, parse_channel
from .conn import Conn
from .hub import Hub
from .orders import OrderMethods
from .rpc import RpcError

log = logging.getLogger(__name__)

PATH = "/v1"
_ENCODE = msgspec.json.Encoder()
_DECODE = msgspec.json.Decoder()


def _now_us() -> int:
    return time.time_ns() // 1000


def sbe_version(request: Request) -> int | str | None:
    """The negotiated SBE version, None for JSON, or an error text for a refused negotiation."""
    query = parse_qs(urlsplit(request.path).query)
    schema, version = query.get("sbeSchemaId"), query.get("sbeSchemaVersion")
    if schema is None and version is None:
        return None
    if schema != [str(SCHEMA_ID)] or version is None or len(version) != 1 or not version[0].isdigit():
        return f"unsupported SBE schema {schema}"
    number = int(version[0])
    if not 0 <= number <= SCHEMA_VERSION:
        return f"unsupported SBE schema version {number}"
    return number


class WsServer:
    """Accepts connections and runs one JSON-RPC session per client."""

    def __init__(self, venue: Venue, hub: Hub, settings: SimSettings, limiter: RateLimiter) -> None:
        self.venue = venue
        self.hub = hub
        self.settings = settings
        self.limiter = limiter
        self.orders = OrderMethods(venue, limiter, settings.cod_scope, hub.faults)
        self.node_id = secrets.token_hex(8)
        self._ids = itertools.count(1)
        self._server: Server | None = None

    async def start(self, sock: Any) -> None:
        s = self.settings
        self._server = await serve(
            self._session, sock=sock, process_request=self._handshake,
            ping_interval=s.ping_interval_s or None, ping_timeout=s.pong_timeout_s or None,
            compression="deflate" if s.ws_compression else None, max_queue=64, close_timeout=2,
            server_header=None,
        )

    async def stop(self) -> None:
        if self._server is not None:
            for conn in list(self.hub.conns.values()):
                conn.drop("server shutting down")
            self._server.close()
            await self._server.wait_closed()

    def _handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        # websockets >= 17 hands us non-GET and HTTP/1.0 requests too (earlier versions closed
        # them without an answer): only a GET upgrades.
        if request.method != "GET":
            return connection.respond(HTTPStatus.METHOD_NOT_ALLOWED, "only GET upgrades to a WebSocket\n")
        if urlsplit(request.path).path != PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
        version = sbe_version(request)
        if isinstance(version, str):
            return Response(400, "Bad Request", Headers([("Content-Type", "text/plain")]), version.encode())
        ip = connection.remote_address[0] if connection.remote_address else ""
        decision = self.limiter.check("ws_connect", ip, time.monotonic(), self.venue.now_ms())
        if not decision.allowed:
            retry = str(max(1, round(decision.retry_after_s)))
            headers = Headers([("Content-Type", "text/plain"), ("Retry-After", retry),
                               *decision.headers.items()])
            return Response(429, "Too Many Requests", headers, b"connection rate limit exceeded\n")
        return None

    async def _session(self, ws: ServerConnection) -> None:
        version = sbe_version(ws.request) if ws.request is not None else None
        negotiated = version if isinstance(version, int) else None
        conn = Conn(ws, next(self._ids), self.settings.queue_bound, negotiated,
                    stamp=self.settings.ws_send_stamp)
        self.hub.add(conn)
        writer = asyncio.create_task(conn.writer())
        try:
            async for message in ws:
                us_in = _now_us()
                verdicts = await self._verdicts(conn, message)
                if verdicts is None:
                    self._handle(conn, message, us_in)
                    continue
                token = VERDICTS.set(verdicts)  # the call takes the checker's verdicts
                try:
                    self._handle(conn, message, us_in)
                finally:
                    VERDICTS.reset(token)
        except ConnectionClosed:
            pass
        except Exception:
            log.exception("websocket session failed", extra={"conn": conn.id})
        finally:
            conn.closed = True
            self.hub.remove(conn)
            writer.cancel()
            self.orders.on_disconnect(conn)

    # ------------------------------------------------------------ JSON-RPC

    async def _verdicts(self, conn: Conn, message: str | bytes) -> dict[Key, str] | None:
        """The checker's verdicts for an order-creating call (None for any other message; the
        checker's own conditions are :meth:`OrderMethods.verdicts`')."""
        if self.venue.verifier is None:  # no checker: do not decode the message twice
            return None
        named = b"order.create" in message if isinstance(message, bytes) else "order.create" in message
        if not named:
            return None
        try:
            msg = _DECODE.decode(message)
        except msgspec.DecodeError:
            return None  # answered by _handle
        if not isinstance(msg, dict) or not isinstance(method := msg.get("method"), str):
            return None
        return await self.orders.verdicts(conn, method, msg.get("params"))

    def _handle(self, conn: Conn, message: str | bytes, us_in: int) -> None:
        request_id: Any = None
        try:
            try:
                msg = _DECODE.decode(message)
            except msgspec.DecodeError:
                raise RpcError(-32700, "parse error") from None
            if not isinstance(msg, dict):
                raise RpcError(-32600, "invalid request")
            request_id = msg.get("id")
            method = msg.get("method")
            if not isinstance(method, str) or msg.get("jsonrpc", "2.0") != "2.0":
                raise RpcError(-32600, "invalid request")
            params = msg.get("params")
            if method == "auth":
                result = self._auth(conn, params)
            elif method == "subscribe":
                self._subscribe(conn, params, request_id, us_in)  # replies itself, before the data
                return
            elif method == "unsubscribe":
                result = self._unsubscribe(conn, params)
            elif method == "modify_subscription":
                result = self._modify_subscription(conn, params)
            elif method in self.orders.methods:
                faults = self.hub.faults
                fault = faults.take_ws_fault(method, params) if faults.rest_errors else None
                if fault is not None:  # injected (control API): answers itself, maybe later
                    self.orders.faulted(conn, fault, method, params,
                                        lambda body: self._reply(conn, {"jsonrpc": "2.0", "id": request_id,
                                                                         **body}, us_in))
                    return
                result = self.orders.call(conn, method, params)
            else:
                raise RpcError(-32601, "method not found", method)
        except RpcError as err:
            error: dict[str, Any] = {"code": err.code, "message": err.message}
            if err.data is not None:
                error["data"] = err.data
            self._reply(conn, {"jsonrpc": "2.0", "id": request_id, "error": error}, us_in)
            return
        self._reply(conn, {"jsonrpc": "2.0", "id": request_id, "result": result}, us_in)

    def _reply(self, conn: Conn, body: dict[str, Any], us_in: int) -> None:
        us_out = _now_us()
        body.update(usIn=us_in, usOut=us_out, usDiff=us_out - us_in)
        self.hub.deliver(conn, _ENCODE.encode(body))

    def _channel_param(self, params: Any) -> str:
        if not isinstance(params, dict) or not isinstance(params.get("channel"), str):
            raise RpcError(-32602, "invalid params", "params.channel (string) is required")
        channel: str = params["channel"]
        return channel

    def _auth(self, conn: Conn, params: Any) -> dict[str, Any]:
        if not isinstance(params, dict) or not isinstance(params.get("bearer"), str):
            raise RpcError(-32602, "invalid params", "params.bearer (string) is required")
        check = self.venue.tokens.verify(params["bearer"], self.venue.clock())
        if check.problem is TokenProblem.MALFORMED:
            raise RpcError(40110, "malformed bearer token")
        if check.problem is not None:
            raise RpcError(40111, "invalid bearer token")
        if conn.account and conn.account != check.account:
            for key in [k for k in conn.subscriptions if k.startswith(f"{conn.account}|")]:
                self.hub.unsubscribe(conn, key)
        conn.account = check.account
        return {"node_id": self.node_id}

    def _subscribe(self, conn: Conn, params: Any, request_id: Any, us_in: int) -> None:
        name = self._channel_param(params)
        try:
            channel = parse_channel(name, self.venue.exchange.markets)
        except ChannelError as err:
            raise RpcError(err.code, err.message, err.detail) from None
        if channel.private and not conn.account:
            raise RpcError(-32600, "invalid subscribe request", "auth required for private channels")
        key = self.hub.key(conn, name, channel.private)
        if key in conn.subscriptions:
            raise RpcError(-32600, "invalid subscribe request", f"already subscribed to {name}")
        if channel.family == "order_book":
            others = [k for k in conn.subscriptions if k.startswith(f"order_book.{channel.market}.")]
            if others:
                raise RpcError(-32600, "invalid subscribe request",
                               f"only one order_book channel per market per session ({others[0]})")
        scoped = self._scope(channel.family, params)
        self._reply(conn, {"jsonrpc": "2.0", "id": request_id, "result": {"channel": name}}, us_in)
        if scoped is not None:
            conn.summary_filters[key] = scoped
        self.hub.subscribe(conn, key)
        if channel.family == "order_book" and channel.market is not None:
            # A new book subscription starts with a full "s" frame at the current sequence.
            depth = 15 if channel.refresh_ms else None
            data, sbe_frame = self.hub.book_snapshot_frame(channel.market, depth)
            self.hub.fan_out({conn}, name, data, sbe_frame)

    def _markets(self, params: dict[str, Any], field: str) -> list[str]:
        raw = params.get(field, [])
        if not isinstance(raw, list) or not all(isinstance(m, str) for m in raw):
            raise RpcError(-32602, "invalid params", f"params.{field} must be a list of market symbols")
        unknown = [m for m in raw if m not in self.venue.exchange.markets]
        if unknown:
            raise RpcError(-32602, "invalid params", f"unknown markets {unknown}")
        return raw

    def _scope(self, family: str, params: dict[str, Any]) -> set[str] | None:
        """The market filter of a scoped ``markets_summary`` subscription (``markets`` given)."""
        if "markets" not in params:
            return None
        if family != "markets_summary":
            raise RpcError(-32602, "invalid params", "markets is only accepted for markets_summary")
        return set(self._markets(params, "markets"))

    def _modify_subscription(self, conn: Conn, params: Any) -> dict[str, Any]:
        name = self._channel_param(params)
        if name not in conn.summary_filters:
            raise RpcError(-32600, "invalid request",
                           f"{name} is not a scoped subscription of this session (subscribe with markets)")
        add, remove = self._markets(params, "add"), self._markets(params, "remove")
        scope = conn.summary_filters[name]
        scope.update(add)
        scope.difference_update(remove)
        return {"channel": name, "add": add, "remove": remove}

    def _unsubscribe(self, conn: Conn, params: Any) -> dict[str, Any]:
        name = self._channel_param(params)
        key = next((k for k in (name, f"{conn.account}|{name}") if k in conn.subscriptions), None)
        if key is None:
            raise RpcError(-32600, "invalid unsubscribe request", f"not subscribed to {name}")
        self.hub.unsubscribe(conn, key)
        conn.summary_filters.pop(key, None)
        return {"channel": name}
