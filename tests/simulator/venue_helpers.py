"""Helpers of the venue-behaviour tests (stops, TWAP, funding, liquidations) over REST/WS.

``control`` calls the control API; ``check_rest`` walks a REST response against the OpenAPI
schema of its path and ``check_push`` a push payload against its AsyncAPI channel payload, with
:class:`tests.simulator.specwalk.SchemaWalker`: valid and complete (every property present,
nothing unlisted; ``null`` cursors/data allowed). Both skip without the spec.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from tests.simfixture import SimHandle, WsClient
from tests.simulator.specwalk import SchemaWalker
from tests.spec import load_spec

BTC = "BTC-USD-PERP"


async def control(sim: SimHandle, method: str, path: str, body: Any = None, status: int = 200) -> Any:
    async with httpx.AsyncClient(base_url=sim.control_url, timeout=10) as c:
        resp = await c.request(method, path, json=body)
    assert resp.status_code == status, resp.text
    return resp.json()


NULLABLE = frozenset({"next", "prev", "data"})


def check_rest(method: str, path: str, resp: httpx.Response) -> None:
    spec = load_spec("openapi.json")
    operation = spec["paths"][path][method.lower()]
    content = operation["responses"][str(resp.status_code)]["content"]["application/json"]
    walker = SchemaWalker(spec, "#/components/schemas/")
    walker.check(content["schema"], resp.json(), f"{method} {path}", NULLABLE)


def check_push(spec_channel: str, data: Any) -> None:
    spec = load_spec("asyncapi.yaml")
    payload = spec["channels"][spec_channel]["subscribe"]["message"]["payload"]
    SchemaWalker(spec, "#/components/schemas/").check(payload, data, spec_channel)


async def pushes_until(
    ws: WsClient, channel: str, done: Callable[[dict[str, Any]], bool], wait_s: float = 5.0
) -> list[dict[str, Any]]:
    """Data of the pushes on ``channel`` up to and including the first one ``done`` accepts."""
    out: list[dict[str, Any]] = []
    while True:
        data = (await ws.next_push(channel, wait_s))["params"]["data"]
        out.append(data)
        if done(data):
            return out


async def eventually(probe: Callable[[], Any], wait_s: float = 5.0) -> Any:
    """Poll ``probe`` (sync or async) until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        result = probe()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)
