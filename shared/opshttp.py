"""``/healthz`` and ``/metrics`` over a minimal asyncio HTTP/1.1 server.

Shared by the feed and the reconciler: two GET routes need no framework, and a plain
``asyncio.start_server`` keeps signal handling in the service's hands (uvicorn would install its
own SIGTERM handler).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import msgspec
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

log = logging.getLogger("shared.opshttp")

Health = Callable[[], tuple[bool, dict[str, Any]]]


class HttpServer:
    """Serves ``GET /healthz`` (200/503 + JSON details) and ``GET /metrics`` (Prometheus text)."""

    def __init__(self, host: str, port: int, health: Health, registry: Any, *, name: str = "service") -> None:
        self.host = host
        self.port = port
        self._health = health
        self._registry = registry
        self.name = name
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        """Listen; ``port`` 0 picks a free port (read :attr:`port` afterwards)."""
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("%s HTTP on http://%s:%d (/healthz, /metrics)", self.name, self.host, self.port)

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)
            method, path, *_ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            status, ctype, body = self._route(method, path.split("?", 1)[0])
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                         "Connection: close\r\n\r\n".encode() + body)
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError,
                ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _route(self, method: str, path: str) -> tuple[str, str, bytes]:
        if method != "GET":
            return "405 Method Not Allowed", "text/plain", b"method not allowed\n"
        if path == "/healthz":
            ok, details = self._health()
            return ("200 OK" if ok else "503 Service Unavailable"), "application/json", \
                msgspec.json.encode({"ok": ok, **details})
        if path == "/metrics":
            return "200 OK", CONTENT_TYPE_LATEST, generate_latest(self._registry)
        return "404 Not Found", "text/plain", b"not found\n"
