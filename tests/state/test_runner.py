"""The HTTP server's accepted sockets: httptools parser and TCP_NODELAY (no ~40 ms Nagle stalls)."""

from __future__ import annotations

import asyncio
import socket
from types import SimpleNamespace

from services.state.runner import HttpServer


async def test_accepted_connections_use_httptools_and_tcp_nodelay() -> None:
    # No request reaches the app: a stand-in with what create_app reads at construction is enough.
    http = HttpServer(SimpleNamespace(seq_gate=None, pages=None), "127.0.0.1", 0)  # type: ignore[arg-type]
    await http.start()
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", http.port)
        for _ in range(100):
            if http.server.server_state.connections:
                break
            await asyncio.sleep(0.01)
        conns = list(http.server.server_state.connections)
        assert len(conns) == 1
        assert type(conns[0]).__name__ == "HttpToolsProtocol"
        sock = conns[0].transport.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        writer.close()
    finally:
        await http.stop()
