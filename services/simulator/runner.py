"""Runs the simulator's servers (REST, WebSocket, control) and background tasks in one event loop.

:class:`Simulator` is what ``python -m services.simulator`` and the test fixture use::

    sim = Simulator(settings)
    await sim.start()          # binds the ports (0 = a free port), starts servers and drivers
    ... sim.rest_url, sim.ws_url, sim.control_url, sim.venue.exchange ...
    await sim.stop()
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from shared import httpserve

from .control import ControlApp
from .driver import Drivers
from .faults import Faults
from .rest.app import RestApp
from .settings import SimSettings
from .venue import Venue
from .verifyproc import Verifier
from .ws.hub import Hub
from .ws.server import WsServer

log = logging.getLogger(__name__)


bind = httpserve.bind  # a listening socket with TCP_NODELAY on accepted connections (port 0 = free)


def _http(app: Any, host: str, port: int, name: str) -> httpserve.HttpServer:
    return httpserve.HttpServer(app, host, port, name=name, graceful_s=1, ws="none", http="auto")


class Simulator:
    """The whole simulated venue: engine, REST, WebSocket and control servers, drivers."""

    def __init__(self, settings: SimSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.venue = Venue(settings, clock)
        self.faults = Faults()
        self.rest = RestApp(self.venue, self.faults)
        self.hub = Hub(self.venue, self.faults)
        self.ws = WsServer(self.venue, self.hub, settings, self.rest.limiter)
        self.drivers = Drivers(self.venue, self.hub, settings.synthetic_rate, settings.summary_interval_ms,
                               settings.schedule_interval_ms)
        self.control = ControlApp(self.venue, self.faults, self.hub, self.drivers, self.rest.limiter)
        self._servers: list[httpserve.HttpServer] = []
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
        rest = _http(self.rest, s.host, s.rest_port, "simulator-rest")
        control = _http(self.control, s.host, s.control_port, "simulator-control")
        rest_sock, control_sock, ws_sock = bind(s.host, s.rest_port), bind(s.host, s.control_port), \
            bind(s.host, s.ws_port)
        self.ws_port = ws_sock.getsockname()[1]
        await self.ws.start(ws_sock)
        for server, sock in ((rest, rest_sock), (control, control_sock)):
            self._servers.append(server)
            await server.start(sock)
        self.rest_port, self.control_port = rest.port, control.port
        self.drivers.start()
        if s.verify_process and self.venue.verifier is None:
            self.venue.verifier = Verifier(self.venue.chain_id)
            self.venue.verifier.start()
        log.info("simulator listening",
                 extra={"rest": self.rest_url, "ws": self.ws_url, "control": self.control_url})

    async def stop(self, *, graceful: bool = True) -> None:
        """Release hanging requests, stop the servers and background tasks.

        ``graceful`` lets uvicorn finish in-flight requests (its shutdown takes ~0.2 s);
        otherwise listeners and idle connections are closed at once (what tests want).
        """
        self.faults.reset()
        verifier, self.venue.verifier = self.venue.verifier, None
        if verifier is not None:
            await verifier.stop()
        await self.drivers.stop()
        self.venue.close()
        await self.ws.stop()
        await asyncio.gather(*(server.stop(graceful=graceful) for server in self._servers))
        self._servers.clear()
