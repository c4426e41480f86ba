"""``/healthz`` and ``/metrics`` for the feed and the reconciler, on the shared uvicorn helper.

Two GET routes as a tiny Starlette app served by :mod:`shared.httpserve`, the same server every
other HTTP endpoint of the hub uses (one way to serve HTTP; signals stay with the service).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import msgspec
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared import httpserve

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
        app = Starlette(routes=[Route("/healthz", self._healthz, methods=["GET"]),
                                Route("/metrics", self._metrics, methods=["GET"])])
        self._http = httpserve.HttpServer(app, host, port, name=name, graceful_s=1)

    async def start(self) -> None:
        """Listen; ``port`` 0 picks a free port (read :attr:`port` afterwards)."""
        await self._http.start()
        self.port = self._http.port
        log.info("%s HTTP on http://%s:%d (/healthz, /metrics)", self.name, self.host, self.port)

    async def stop(self) -> None:
        """Stop listening (in-flight requests finish first)."""
        await self._http.stop()

    async def _healthz(self, request: Request) -> Response:
        ok, details = self._health()
        return Response(msgspec.json.encode({"ok": ok, **details}), status_code=200 if ok else 503,
                        media_type="application/json")

    async def _metrics(self, request: Request) -> Response:
        return Response(generate_latest(self._registry), media_type=CONTENT_TYPE_LATEST)
