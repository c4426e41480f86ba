"""Runs the simulator's servers (REST, WebSocket, control) and background tasks in one event loop.

:class:`Simulator` is what ``python -m services.simulator`` and the test fixture use::

    sim = Simulator(settings)
    await sim.start()          # binds the ports (0 = a free port), starts servers and drivers
    ... sim.rest_url, sim.ws_url, sim.control_url, sim.venue.exchange ...
    await sim.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn

from .control import ControlApp
from .driver import Drivers
from .faults import Faults
from .rest.app import RestApp
from .settings import SimSettings
from .venue import Venue
from .ws.hub import Hub
from .ws.server import WsServer

log = logging.getLogger(__name__)


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the process (several share one loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket (port 0 = any free port), so there is no race on the port."""
    # proto IPPROTO_TCP (not 0) so asyncio sets TCP_NODELAY on accepted sockets; without it a
    # response written in two parts waits ~40 ms for the client's delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def _uvicorn(app: Any, sock: socket.socket) -> tuple[_EmbeddedServer, socket.socket]:
    config = uvicorn.Config(
        app, lifespan="off", log_level="warning", access_log=False, ws="none", http="auto",
        timeout_graceful_shutdown=1, server_header=False,
    )
    return _EmbeddedServer(config), sock


class Simulator:
    """The whole simulated venue: engine, REST, WebSocket and control servers, drivers."""

    def __init__(self, settings: SimSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.venue = Venue(settings, clock)
        self.faults = Faults()
        self.rest = RestApp(self.venue, self.faults)
        self.hub = Hub(self.venue, self.faults)
        self.ws = WsServer(self.venue, self.hub, settings, self.rest.limiter)
        self.drivers = Drivers(self.venue, self.hub, settings.synthetic_rate, settings.summary_interval_ms)
        self.control = ControlApp(self.venue, self.faults, self.hub, self.drivers, self.rest.limiter)
        self._servers: list[tuple[_EmbeddedServer, socket.socket]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.rest_port = self.ws_port = self.control_port = 0
        self.host = settings.host

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.rest_port}/v1"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.ws_port}/v1"

    @property
    def control_url(self) -> str:
        return f"http://{self.host}:{self.control_port}/control"

    async def start(self) -> None:
        """Bind every port and start serving; returns once all servers accept connections."""
        s = self.settings
        rest_sock = bind(s.host, s.rest_port)
        self.rest_port = rest_sock.getsockname()[1]
        self._servers.append(_uvicorn(self.rest, rest_sock))
        control_sock = bind(s.host, s.control_port)
        self.control_port = control_sock.getsockname()[1]
        self._servers.append(_uvicorn(self.control, control_sock))
        ws_sock = bind(s.host, s.ws_port)
        self.ws_port = ws_sock.getsockname()[1]
        await self.ws.start(ws_sock)
        for server, sock in self._servers:
            self._tasks.append(asyncio.create_task(server.serve(sockets=[sock])))
        while not all(server.started for server, _ in self._servers):
            for task in self._tasks:
                if task.done():
                    task.result()  # start-up failed: raise it here
            await asyncio.sleep(0.005)
        self.drivers.start()
        log.info("simulator listening",
                 extra={"rest": self.rest_url, "ws": self.ws_url, "control": self.control_url})

    async def stop(self, *, graceful: bool = True) -> None:
        """Release hanging requests, stop the servers and background tasks.

        ``graceful`` lets uvicorn finish in-flight requests (its shutdown takes ~0.2 s);
        otherwise listeners and idle connections are closed at once (what tests want).
        """
        self.faults.reset()
        await self.drivers.stop()
        self.venue.close()
        await self.ws.stop()
        for server, _ in self._servers:
            server.should_exit = True
            if not graceful:
                for listener in server.servers:
                    listener.close()
                for connection in list(server.server_state.connections):
                    connection.shutdown()
        if not graceful:
            for task in self._tasks:
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._servers.clear()
