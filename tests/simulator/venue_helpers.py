"""Helpers of the venue-behaviour tests (stops, TWAP, funding, liquidations) over REST/WS.

``control`` calls the control API; ``check_rest`` validates a REST response against the OpenAPI
schema of its path (as ``test_conformance_rest``: ``null`` cursors/data left out) and
``check_push`` a push payload against its AsyncAPI channel payload (both skip without the spec).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import jsonschema

from tests.simfixture import SimHandle, WsClient
from tests.spec import load_spec

BTC = "BTC-USD-PERP"


async def control(sim: SimHandle, method: str, path: str, body: Any = None, status: int = 200) -> Any:
    async with httpx.AsyncClient(base_url=sim.control_url, timeout=10) as c:
        resp = await c.request(method, path, json=body)
    assert resp.status_code == status, resp.text
    return resp.json()


def check_rest(method: str, path: str, resp: httpx.Response) -> None:
    spec = load_spec("openapi.json")
    operation = spec["paths"][path][method.lower()]
    content = operation["responses"][str(resp.status_code)]["content"]["application/json"]
    body = resp.json()
    if isinstance(body, dict):
        for key in ("data", "next", "prev"):
            if key in body and body[key] is None:
                del body[key]
    schema = {**content["schema"], "components": spec["components"]}
    jsonschema.Draft7Validator(schema).validate(body)


def check_push(spec_channel: str, data: Any) -> None:
    spec = load_spec("asyncapi.yaml")
    payload = spec["channels"][spec_channel]["subscribe"]["message"]["payload"]
    jsonschema.Draft7Validator({**payload, "components": spec["components"]}).validate(data)


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
