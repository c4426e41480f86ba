"""Run the service and its HTTP server in the current event loop (used by main, tests, benches)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from services.state.http import create_app
from services.state.service import StateService
from services.state.settings import Settings
from shared import httpserve


class HttpServer(httpserve.HttpServer):
    """The state API (``create_app(service)``) on the shared uvicorn helper; ``port`` 0 picks a free
    port (read :attr:`port`). It never handles signals: :func:`running` stops it last."""

    def __init__(self, service: StateService, host: str, port: int) -> None:
        super().__init__(create_app(service), host, port, name="state")


@contextlib.asynccontextmanager
async def running(settings: Settings, nc: Any, redis: Any) -> AsyncIterator[tuple[StateService, HttpServer]]:
    """The service started with its HTTP server (``settings.http_port`` 0 = free port); stopped after.

    Shutdown order: the service stops consuming, flushes and writes its final checkpoint while the
    API still answers (readers see the last state until then); only then does HTTP stop."""
    service = StateService(settings, nc, redis)
    http = HttpServer(service, settings.http_host, settings.http_port)
    await service.start()
    try:
        await http.start()
        yield service, http
    finally:
        try:
            await service.stop()
        finally:
            await http.stop()
