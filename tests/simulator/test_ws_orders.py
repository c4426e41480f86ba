"""WebSocket order methods, cancel on disconnect, modify_subscription, connection rate limit.

The order methods answer as openrpc.json describes (results validated against its schemas), with
the same validation, signatures and rate-limit bucket as REST.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import jsonschema
import pytest
from websockets.exceptions import InvalidStatus

from tests.simfixture import SimFactory, SimHandle, WsClient, ws_client
from tests.spec import load_spec


def _rpc_result_schema(method: str) -> dict[str, Any]:
    spec = load_spec("openrpc.json")
    schema: dict[str, Any] = next(m for m in spec["methods"] if m["name"] == method)["result"]["schema"]
    return schema


def _rpc_error_codes(method: str) -> set[int]:
    spec = load_spec("openrpc.json")
    codes = {e["code"] for e in next(m for m in spec["methods"] if m["name"] == method)["errors"]}
    return codes | {100}  # "method error (an order.* call rejected)": the docs' error table


async def _result(ws: WsClient, method: str, params: Any) -> Any:
    reply = await ws.call(method, params)
    assert "result" in reply, reply
    jsonschema.Draft7Validator(_rpc_result_schema(method)).validate(reply["result"])
    return reply["result"]


async def _error(ws: WsClient, method: str, params: Any) -> dict[str, Any]:
    reply = await ws.call(method, params)
    assert "error" in reply, reply
    assert reply["error"]["code"] in _rpc_error_codes(method)
    error: dict[str, Any] = reply["error"]
    return error


async def _status(sim: SimHandle, order_id: str) -> str:
    sim.venue.process_now()
    async with sim.authed() as c:
        status: str = (await c.get(f"/orders/{order_id}")).json()["status"]
    return status


async def test_order_create_answers_like_rest_and_the_order_goes_open(simulator: SimHandle) -> None:
    sim = simulator
    async with ws_client(sim, auth=True) as ws:
        result = await _result(ws, "order.create", sim.order(client_id="ws-1"))
    order = result["order"]
    assert order["status"] == "NEW" and order["client_id"] == "ws-1" and order["account"] == sim.account
    assert isinstance(result["created_at"], int) and result["received_at"] > result["created_at"] * 10**5
    assert await _status(sim, order["id"]) == "OPEN"


async def test_order_methods_refuse_what_rest_refuses(simulator: SimHandle) -> None:
    sim = simulator
    bad_sig = {**sim.order(), "signature": sim.order(size="0.02")["signature"]}
    async with ws_client(sim) as anonymous:
        unauthenticated = await _error(anonymous, "order.create", sim.order())
    async with ws_client(sim, auth=True) as ws:
        signature = await _error(ws, "order.create", bad_sig)
        missing = await _error(ws, "order.create", {"market": "BTC-USD-PERP"})
        tick = await _error(ws, "order.create", sim.order(price="60000.05"))
        by_client_id = await _error(ws, "order.cancel", {"client_id": "x"})
        unknown = await _error(ws, "order.cancel", {"id": "1"})
    assert unauthenticated["code"] == 40300
    assert (signature["code"], signature["data"]["error"]) == (100, "INVALID_ORDER_SIGNATURE")
    assert missing["code"] == -32602 and "side" in missing["data"]
    assert tick["data"]["error"] == "INVALID_PRICE_PRECISION"
    assert by_client_id["code"] == -32602
    assert unknown["data"]["error"] == "ORDER_ID_NOT_FOUND"


async def test_create_batch_takes_the_spec_object_or_the_sdk_list(simulator: SimHandle) -> None:
    sim = simulator
    async with ws_client(sim, auth=True) as ws:
        spec_form = await _result(ws, "order.create_batch", {"orders": [sim.order(client_id="a"),
                                                                         sim.order(client_id="b")]})
        sdk_form = await _result(ws, "order.create_batch",
                                 [sim.order(client_id="a"), sim.order(client_id="c")])
    assert [r["order"]["client_id"] for r in spec_form["results"]] == ["a", "b"]
    assert "DUPLICATED_CLIENT_ID" in sdk_form["results"][0]["error"] and "order" not in sdk_form["results"][0]
    assert sdk_form["results"][1]["order"]["client_id"] == "c"


async def test_modify_and_the_cancels(simulator: SimHandle) -> None:
    sim = simulator
    async with ws_client(sim, auth=True) as ws:
        ids = [(await _result(ws, "order.create", sim.order(client_id=f"o{i}")))["order"]["id"]
               for i in range(5)]
        sim.venue.process_now()
        modified = await _result(ws, "order.modify", sim.modify(ids[0], "BUY", "0.03", "60000"))
        by_id = await _result(ws, "order.cancel", {"id": ids[1]})
        by_client = await _result(ws, "order.cancel", {"client_id": "o2", "market": "BTC-USD-PERP"})
        sim.venue.process_now()
        closed = await _error(ws, "order.cancel", {"id": ids[1]})
        batch = await _result(ws, "order.cancel_batch", {"order_ids": [ids[3], ids[1], "1"]})
        everything = await _result(ws, "order.cancel_all", {})
        sim.venue.process_now()
    assert modified["order"]["id"] == ids[0]
    assert by_id == {"order_id": ids[1], "status": "QUEUED_FOR_CANCELLATION"}
    assert by_client["order_id"] == ids[2]
    assert closed["data"]["error"] == "ORDER_IS_CLOSED"
    assert [(r["id"], r["status"], r.get("market")) for r in batch["results"]] == [
        (ids[3], "QUEUED_FOR_CANCELLATION", "BTC-USD-PERP"), (ids[1], "ALREADY_CLOSED", "BTC-USD-PERP"),
        ("1", "NOT_FOUND", None)]
    assert everything == {"status": "ok"}
    assert sim.exchange.open_orders(sim.account) == []
    assert str(sim.exchange.get_order(sim.account, ids[0]).size) == "0.030"


async def test_ws_order_methods_share_the_rest_rate_limit_bucket(simulator: SimHandle) -> None:
    sim = simulator
    async with httpx.AsyncClient(base_url=sim.control_url) as control:
        resp = await control.put("/rate_limits", json={"scope": "orders", "limits": [{"capacity": 2,
                                                                                       "window_s": 60}]})
        assert resp.status_code == 200
    async with ws_client(sim, auth=True) as ws, sim.authed() as c:
        rest_first = await c.post("/orders", json=sim.order())
        ws_second = await ws.call("order.create", sim.order())
        ws_third = await _error(ws, "order.create", sim.order())
        rest_fourth = await c.post("/orders", json=sim.order())
    assert rest_first.status_code == 201 and "result" in ws_second
    assert ws_third["code"] == 42901 and rest_fourth.status_code == 429


@pytest.mark.parametrize(("scope", "armed", "cancelled"), [
    ("session", True, {"ws"}),
    ("account", True, {"ws", "rest"}),
    ("session", False, set()),
])
async def test_cancel_on_disconnect(simulator_factory: SimFactory, scope: str, armed: bool,
                                    cancelled: set[str]) -> None:
    sim = await simulator_factory(cod_scope=scope)
    async with sim.authed() as c:
        rest_id = (await c.post("/orders", json=sim.order(client_id="rest"))).json()["id"]
    async with ws_client(sim, auth=True) as ws:
        ws_id = (await _result(ws, "order.create", sim.order(client_id="ws")))["order"]["id"]
        if armed:
            assert await _result(ws, "order.cancel_on_disconnect", {"enabled": True}) == {"enabled": True}
        sim.venue.process_now()
        ws.ws.transport.abort()  # the socket drops (no close handshake)
    for _ in range(100):
        await asyncio.sleep(0.02)
        if not sim.sim.hub.conns:
            break
    statuses = {"ws": await _status(sim, ws_id), "rest": await _status(sim, rest_id)}
    assert {name for name, status in statuses.items() if status == "CLOSED"} == cancelled


async def test_cancel_on_disconnect_can_be_disarmed(simulator: SimHandle) -> None:
    sim = simulator
    async with ws_client(sim, auth=True) as ws:
        order_id = (await _result(ws, "order.create", sim.order()))["order"]["id"]
        await _result(ws, "order.cancel_on_disconnect", {"enabled": True})
        assert await _result(ws, "order.cancel_on_disconnect", {"enabled": False}) == {"enabled": False}
    await asyncio.sleep(0.1)
    assert await _status(sim, order_id) == "OPEN"


async def test_modify_subscription_changes_a_scoped_summary_feed(simulator_factory: SimFactory) -> None:
    sim = await simulator_factory(summary_interval_ms=20)
    async with ws_client(sim) as ws:
        reply = await ws.call("subscribe", {"channel": "markets_summary", "markets": ["BTC-USD-PERP"]})
        assert reply["result"] == {"channel": "markets_summary"}
        await ws.quiet(0.3)
        before = {p["params"]["data"]["symbol"] for p in ws.pushes}
        modified = await _result(ws, "modify_subscription", {
            "channel": "markets_summary", "add": ["ETH-USD-PERP"], "remove": ["BTC-USD-PERP"]})
        ws.pushes.clear()
        await ws.quiet(0.3)
        after = {p["params"]["data"]["symbol"] for p in ws.pushes}
        not_scoped = await ws.call("modify_subscription", {"channel": "bbo.BTC-USD-PERP", "add": []})
        bad_market = await ws.call("modify_subscription", {"channel": "markets_summary", "add": ["NOPE"]})
    assert before == {"BTC-USD-PERP"} and after == {"ETH-USD-PERP"}
    assert modified == {"channel": "markets_summary", "add": ["ETH-USD-PERP"], "remove": ["BTC-USD-PERP"]}
    assert not_scoped["error"]["code"] == -32600 and bad_market["error"]["code"] == -32602


async def test_ws_connection_rate_limit(simulator_factory: SimFactory) -> None:
    limited = await simulator_factory(rl_ws_connect_per_s=2, rl_ws_connect_per_min=0)
    unlimited = await simulator_factory(rl_ws_connect_per_s=0, rl_ws_connect_per_min=0)
    async with ws_client(limited), ws_client(limited):
        with pytest.raises(InvalidStatus) as refused:
            async with ws_client(limited):
                pass
    assert refused.value.response.status_code == 429
    assert refused.value.response.headers["Retry-After"] == "1"
    clients = [ws_client(unlimited) for _ in range(25)]
    opened = [await cm.__aenter__() for cm in clients]
    for cm in clients:
        await cm.__aexit__(None, None, None)
    assert len(opened) == 25
