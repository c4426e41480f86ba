"""Run the service and its HTTP server in the current event loop (used by main, tests, benches)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import uvicorn

from services.state.http import create_app
from services.state.service import StateService
from services.state.settings import Settings


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the caller owns SIGTERM and the shutdown order."""

    def install_signal_handlers(self) -> None:
        return


class HttpServer:
    """uvicorn serving ``create_app(service)``; ``port`` 0 picks a free port (read :attr:`port`)."""

    def __init__(self, service: StateService, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.server = _Server(uvicorn.Config(create_app(service), host=host, port=port, log_level="warning",
                                             access_log=False, lifespan="off"))
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self.server.serve(), name="state-http")
        while not self.server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        self.server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 10.0)
            self._task = None


@contextlib.asynccontextmanager
async def running(settings: Settings, nc: Any, redis: Any) -> AsyncIterator[tuple[StateService, HttpServer]]:
    """The service started with its HTTP server (``settings.http_port`` 0 = free port); stopped after."""
    service = StateService(settings, nc, redis)
    http = HttpServer(service, settings.http_host, settings.http_port)
    await service.start()
    try:
        await http.start()
        yield service, http
    finally:
        await service.stop()
        await http.stop()
