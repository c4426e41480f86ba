"""Keep-alive: our HTTP servers keep an idle connection longer than any of our clients does.

A client that reuses a connection at the moment the server closes it for idleness loses the
request (httpx raises ``ReadError``); for ``POST /orders`` to the venue that is an answer that says
nothing (202 ``unknown``, then a lookup), for a strategy's ``POST /v1/orders`` a spurious
``ServiceUnreachable``. uvicorn closes after 5 s and httpx keeps idle connections 5 s, so the two
defaults race; bench.commands met it once in 6 000 orders.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from shared import httpserve
from shared.paradex.rest import session


def _peer_port_app() -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await receive()
        body = str(scope["client"][1]).encode()  # the client's port: one per connection
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    return app


async def test_an_idle_connection_outlives_httpx_default_expiry() -> None:
    server = httpserve.HttpServer(_peer_port_app(), "127.0.0.1", 0, name="t")
    await server.start()
    try:
        limits = httpx.Limits(keepalive_expiry=60.0)  # the client would reuse it; does the server keep it?
        async with httpx.AsyncClient(base_url=server.url, limits=limits) as client:
            first = (await client.post("/x", content=b"{}")).text
            await asyncio.sleep(5.6)  # past uvicorn's own 5 s default and httpx's 5 s expiry
            second = (await client.post("/x", content=b"{}")).text
        assert second == first, "the server closed the idle connection: a new one had to be opened"
    finally:
        await server.stop(graceful=False)


def test_every_client_expiry_is_below_the_servers_keep_alive() -> None:
    httpx_default = httpx.Limits().keepalive_expiry
    assert httpx_default is not None
    assert httpx_default < httpserve.KEEP_ALIVE_S  # strategies' clients (shared.client) on httpx defaults
    assert session.KEEPALIVE_EXPIRY_S < httpserve.KEEP_ALIVE_S  # the venue client against the simulator
    assert session.KEEPALIVE_EXPIRY_S < 60.0  # below the common load-balancer idle timeout
