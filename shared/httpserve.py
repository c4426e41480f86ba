"""One way to serve HTTP in every service: uvicorn in the service's own event loop, no signal handling.

uvicorn's ``Server.serve`` replaces the process's SIGINT/SIGTERM handlers for as long as it runs
(``capture_signals``; 0.54 no longer calls ``install_signal_handlers``), so a SIGTERM closes the
HTTP API at once, before the service has drained or checkpointed. :class:`Server` leaves the
signals to the process; the service decides when HTTP stops (the state: after its final
checkpoint). Used by the state and commands APIs, the simulator's three servers and the
feed/reconciler ``/healthz`` + ``/metrics`` (:mod:`shared.opshttp`).

    http = HttpServer(app, "127.0.0.1", 0, name="state")
    await http.start()      # bound and accepting; http.port is the real port
    ...
    await http.stop()       # graceful: in-flight requests finish (bounded), then the listener closes

An idle keep-alive connection is closed after :data:`KEEP_ALIVE_S` (uvicorn's own default is 5 s).
It must outlast every client's idle expiry: a client reusing a connection at the moment the server
closes it loses the request (``ReadError``), and for a ``POST /orders`` that means an answer that
says nothing (202 ``unknown``, then a lookup). httpx keeps idle connections 5 s by default, our
venue REST client 30 s (``shared.paradex.rest.session``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn

log = logging.getLogger("shared.httpserve")

KEEP_ALIVE_S = 75.0
"""Idle keep-alive timeout of every server here: above any client's idle expiry (see above)."""


class Server(uvicorn.Server):
    """uvicorn that never touches signal handlers: the process owns SIGTERM and the shutdown order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def install_signal_handlers(self) -> None:  # uvicorn < 0.29 called this instead
        return


def bind(host: str, port: int, backlog: int = 1024) -> socket.socket:
    """A listening TCP socket (port 0 = a free one), bound here so there is no race on the port.

    ``IPPROTO_TCP`` (not 0) so asyncio sets TCP_NODELAY on accepted sockets: without it a reply
    written in two parts waits ~40 ms for the client's delayed ACK (Nagle)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.setblocking(False)
    return sock


class HttpServer:
    """An ASGI ``app`` served by :class:`Server` on ``host:port`` (0 = a free port, read :attr:`port`)."""

    def __init__(self, app: Any, host: str, port: int, *, name: str = "http", graceful_s: float = 5.0,
                 **config: Any) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.name = name
        options: dict[str, Any] = {"log_level": "warning", "access_log": False, "lifespan": "off",
                                   "timeout_graceful_shutdown": graceful_s, "server_header": False,
                                   "timeout_keep_alive": KEEP_ALIVE_S}
        options.update(config)
        self.server = Server(uvicorn.Config(app, **options))
        self._task: asyncio.Task[None] | None = None
        self._sock: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def serving(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self, sock: socket.socket | None = None) -> None:
        """Bind (unless ``sock`` is given) and serve; returns once connections are accepted."""
        self._sock = sock if sock is not None else bind(self.host, self.port)
        self.port = self._sock.getsockname()[1]
        self._task = asyncio.create_task(self.server.serve(sockets=[self._sock]), name=f"{self.name}-http")
        while not self.server.started:
            if self._task.done():
                self._task.result()  # start-up failed: raise it here
                raise RuntimeError(f"{self.name} HTTP server exited during start-up")
            await asyncio.sleep(0.005)

    async def stop(self, *, graceful: bool = True, timeout_s: float = 10.0) -> None:
        """Stop serving. ``graceful`` lets in-flight requests finish (uvicorn's bounded grace);
        otherwise listeners and idle connections are closed at once. Errors are logged, not raised."""
        task, self._task = self._task, None
        if task is None:
            return
        self.server.should_exit = True
        if not graceful:
            self.server.force_exit = True
            for listener in self.server.servers:
                listener.close()
            for connection in list(self.server.server_state.connections):
                connection.shutdown()
        try:
            await asyncio.wait_for(task, timeout_s)
        except TimeoutError:
            log.error("%s HTTP server did not stop within %.0f s: cancelled", self.name, timeout_s)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        except Exception:
            log.exception("%s HTTP server failed while stopping", self.name)
        log.info("%s HTTP stopped (%s)", self.name, self.url)
