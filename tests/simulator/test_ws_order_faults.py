"""The order faults of ``POST /control/rest/errors`` on the WebSocket ``order.*`` methods
(``"transport": "ws"`` / ``"both"``): each answers as its REST twin does, in JSON-RPC, and the
errors are codes the spec (openrpc.json) lists for the method.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.simfixture import SimHandle, ws_client
from tests.spec import load_spec


async def _control(sim: SimHandle, body: Any, expect: int = 200) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=sim.control_url, timeout=10) as c:
        resp = await c.post("/rest/errors", json=body)
    assert resp.status_code == expect, resp.text
    out: dict[str, Any] = resp.json()
    return out


async def _reset(sim: SimHandle) -> None:
    async with httpx.AsyncClient(base_url=sim.control_url, timeout=10) as c:
        assert (await c.post("/reset")).status_code == 200


def _codes(method: str) -> set[int]:
    spec = load_spec("openrpc.json")
    return {e["code"] for e in next(m for m in spec["methods"] if m["name"] == method)["errors"]} | {100}


def _orders(sim: SimHandle, client_id: str) -> list[Any]:
    return [o for o in sim.exchange.orders_history(sim.account) if o.client_id == client_id]


@pytest.mark.parametrize(("status", "code"), [(503, -32603), (500, -32603), (429, 42901), (400, 100),
                                              (404, 100), (401, 40111)])
@pytest.mark.parametrize("execute", [False, True], ids=["not_executed", "executed"])
async def test_a_status_fault_answers_its_json_rpc_twin_after_executing_or_not(
        simulator: SimHandle, status: int, code: int, execute: bool) -> None:
    sim = simulator
    await _control(sim, {"status": status, "path": "/v1/orders", "method": "POST", "execute": execute,
                         "transport": "ws"})
    cid = f"f-{status}-{execute}"
    async with ws_client(sim, auth=True) as ws:
        reply = await ws.call("order.create", sim.order(client_id=cid))
        after = await ws.call("order.create", sim.order(client_id=cid + "-next"))  # count 1: spent
    assert reply["error"]["code"] == code and code in _codes("order.create"), reply
    if code == 100:
        assert reply["error"]["data"]["error"] == ("NOT_FOUND" if status == 404 else "REQUEST_NOT_ALLOWED")
    if code == 42901:
        assert reply["error"]["data"] == 1.0  # retry-after seconds
    assert len(_orders(sim, cid)) == (1 if execute else 0)
    assert "result" in after and len(_orders(sim, cid + "-next")) == 1


async def test_a_rest_fault_by_default_spares_the_websocket_and_both_is_one_shared_count(
        simulator: SimHandle) -> None:
    sim = simulator
    await _control(sim, {"status": 503, "path": "/v1/orders", "method": "POST"})  # no transport: REST
    async with ws_client(sim, auth=True) as ws, sim.authed() as rest:
        assert "result" in await ws.call("order.create", sim.order())
        assert (await rest.post("/orders", json=sim.order())).status_code == 503
        await _control(sim, {"count": 2, "status": 502, "path": "/v1/orders", "method": "POST",
                             "transport": "both"})
        first = await ws.call("order.create", sim.order())
        second = await rest.post("/orders", json=sim.order())
        third = await ws.call("order.create", sim.order())
    assert first["error"]["code"] == -32603 and second.status_code == 502 and "result" in third


async def test_ws_calls_match_by_their_rest_twin_or_by_method_name(simulator: SimHandle) -> None:
    sim = simulator
    async with ws_client(sim, auth=True) as ws:
        placed = (await ws.call("order.create", sim.order(price="50000", client_id="keep")))["result"]
        oid = placed["order"]["id"]
        # a cancel by id is DELETE /v1/orders/{id}: a POST fault and a batch fault pass it by
        await _control(sim, {"status": 400, "path": "/v1/orders", "method": "POST", "transport": "ws"})
        await _control(sim, {"status": 400, "path": "/v1/orders/batch", "transport": "ws"})
        await _control(sim, {"status": 400, "code": "ORDER_IS_CLOSED", "path": f"/v1/orders/{oid}",
                             "method": "DELETE", "transport": "ws"})
        refused = await ws.call("order.cancel", {"id": oid})
        assert refused["error"]["data"] == {"error": "ORDER_IS_CLOSED", "message": "injected error"}
        # by method name (a prefix): order.cancel_all
        await _reset(sim)
        await _control(sim, {"status": 503, "path": "order.cancel_all", "transport": "ws"})
        assert (await ws.call("order.cancel", {"client_id": "keep", "market": "BTC-USD-PERP"}))["result"]
        assert (await ws.call("order.cancel_all", {}))["error"]["code"] == -32603
        # cancel on disconnect is never faulted
        await _control(sim, {"status": 503, "transport": "ws", "count": 5})
        assert (await ws.call("order.cancel_on_disconnect", {"enabled": True}))["result"] == {"enabled": True}


async def test_drop_after_executing_cuts_the_connection_the_order_exists(simulator: SimHandle) -> None:
    sim = simulator
    await _control(sim, {"kind": "drop", "path": "/v1/orders", "method": "POST", "execute": True,
                         "transport": "ws"})
    async with ws_client(sim, auth=True) as ws:
        with pytest.raises(ConnectionClosed):
            await ws.call("order.create", sim.order(client_id="dropped"))
    assert len(_orders(sim, "dropped")) == 1


async def test_delay_answers_late_executing_at_once_or_late(simulator: SimHandle) -> None:
    sim = simulator
    async with ws_client(sim, auth=True) as ws:
        for execute in (True, False):
            await _control(sim, {"kind": "delay", "delay_ms": 300, "path": "order.create", "execute": execute,
                                 "transport": "ws"})
            cid = f"late-{execute}"
            started = time.monotonic()
            call = asyncio.create_task(ws.call("order.create", sim.order(client_id=cid)))
            await asyncio.sleep(0.1)
            acted_early = len(_orders(sim, cid))
            reply = await call
            assert "result" in reply and time.monotonic() - started >= 0.3, reply
            assert acted_early == (1 if execute else 0) and len(_orders(sim, cid)) == 1


async def test_hang_answers_internal_error_at_reset_and_pings_still_answered(simulator: SimHandle) -> None:
    sim = simulator
    await _control(sim, {"kind": "hang", "path": "order.create", "execute": True, "transport": "ws"})
    async with ws_client(sim, auth=True) as ws:
        call = asyncio.create_task(ws.call("order.create", sim.order(client_id="hung")))
        await asyncio.sleep(0.2)
        assert not call.done() and len(_orders(sim, "hung")) == 1
        await asyncio.wait_for(await ws.ws.ping(), 2)  # the connection itself is alive
        await _reset(sim)
        reply = await asyncio.wait_for(call, 2)
    assert reply["error"] == {"code": -32603, "message": "Internal error", "data": "request timed out"}


async def test_stall_stops_answers_and_pongs_until_reset(simulator: SimHandle) -> None:
    sim = simulator
    await _control(sim, {"kind": "stall", "path": "order.create", "transport": "ws"})
    async with ws_client(sim, auth=True, ping_interval=None) as ws:
        call = asyncio.create_task(ws.call("order.create", sim.order(client_id="stalled")))
        await asyncio.sleep(0.2)
        pong = await ws.ws.ping()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.shield(pong), 0.5)  # a stalled socket: no pong
        assert not call.done() and _orders(sim, "stalled") == []
        await _reset(sim)
        await asyncio.wait_for(pong, 2)  # read again: the ping is answered
        reply = await asyncio.wait_for(call, 2)
        assert reply["error"]["code"] == -32603
        assert "result" in await ws.call("order.create", sim.order(client_id="after"))


@pytest.mark.parametrize("body", [
    {"kind": "drop"}, {"kind": "stall", "transport": "both"}, {"transport": "carrier"},
    {"kind": "status", "status": 302}, {"kind": "delay", "delay_ms": -1},
])
async def test_bad_fault_bodies_are_400_naming_the_rule(simulator: SimHandle, body: dict[str, Any]) -> None:
    out = await _control(simulator, body, expect=400)
    assert out["error"] == "VALIDATION_ERROR" and out["message"], out
