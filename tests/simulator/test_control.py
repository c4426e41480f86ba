"""Control API: every injected fault, shown by its effect on a REST or WebSocket client."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.simfixture import SimHandle, WsClient, ws_client


async def _control(sim: SimHandle, method: str, path: str, body: Any = None) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=sim.control_url, timeout=10) as c:
        resp = await c.request(method, path, json=body)
    assert resp.status_code == 200, resp.text
    result: dict[str, Any] = resp.json()
    return result


async def _statuses(ws: WsClient, n: int) -> list[str]:
    return [(await ws.next_push("orders.ALL"))["params"]["data"]["status"] for _ in range(n)]


async def test_healthz_and_control_is_not_on_the_venue_port(simulator: SimHandle) -> None:
    health = await _control(simulator, "GET", "/healthz")
    async with httpx.AsyncClient() as c:
        bare = await c.get(simulator.control_url.removesuffix("/control") + "/healthz")
    assert bare.status_code == 200 and bare.json()["status"] == "ok"
    async with simulator.client() as c:
        on_venue = await c.get(simulator.rest_url.removesuffix("/v1") + "/control/healthz")
    assert health["status"] == "ok"
    assert on_venue.status_code == 404


async def test_rest_latency_delays_responses_until_reset(simulator: SimHandle) -> None:
    await _control(simulator, "PUT", "/rest/latency", {"mean_ms": 250})
    async with simulator.client() as c:
        start = time.monotonic()
        await c.get("/system/time")
        slow = time.monotonic() - start
        await _control(simulator, "POST", "/reset")
        start = time.monotonic()
        await c.get("/system/time")
        fast = time.monotonic() - start
    assert slow >= 0.25 and fast < slow


async def test_stale_rest_replays_an_old_snapshot_of_private_gets(simulator: SimHandle) -> None:
    sim = simulator
    await _control(sim, "PUT", "/rest/stale", {"ms": 60_000})
    async with sim.authed() as c:
        before = (await c.get("/orders")).json()["results"]
        await c.post("/orders", json=sim.order())
        sim.venue.process_now()
        stale = (await c.get("/orders")).json()["results"]
        await _control(sim, "POST", "/reset")
        fresh = (await c.get("/orders")).json()["results"]
    assert before == [] and stale == []
    assert len(fresh) == 1


async def test_injected_429_and_5xx_hit_the_next_matching_requests_only(simulator: SimHandle) -> None:
    sim = simulator
    fault = {"count": 2, "status": 429, "path": "/v1/orders", "method": "POST"}
    await _control(sim, "POST", "/rest/errors", fault)
    async with sim.authed() as c:
        other = await c.get("/account")
        first = await c.post("/orders", json=sim.order())
        second = await c.post("/orders", json=sim.order())
        third = await c.post("/orders", json=sim.order())
    assert other.status_code == 200
    assert [first.status_code, second.status_code, third.status_code] == [429, 429, 201]
    assert first.json()["error"] == "TOO_MANY_REQUESTS"
    assert len(sim.exchange.open_orders(sim.account)) == 1


async def test_executed_5xx_is_a_lost_response_the_order_exists(simulator: SimHandle) -> None:
    sim = simulator
    await _control(sim, "POST", "/rest/errors", {"status": 502, "path": "/v1/orders", "execute": True})
    async with sim.authed() as c:
        resp = await c.post("/orders", json=sim.order(client_id="lost"))
    truth = await _control(sim, "GET", "/truth")
    assert resp.status_code == 502
    assert [o["client_id"] for o in truth["orders"]] == ["lost"]


async def test_hang_times_the_client_out_and_reset_releases_it(simulator: SimHandle) -> None:
    await _control(simulator, "POST", "/rest/errors", {"kind": "hang", "count": 2, "path": "/v1/system/time"})
    async with simulator.client(timeout=0.3) as c:
        with pytest.raises(httpx.ReadTimeout):
            await c.get("/system/time")
    async with simulator.client() as c:
        pending = asyncio.create_task(c.get("/system/time"))
        await asyncio.sleep(0.1)
        await _control(simulator, "POST", "/reset")
        released = await asyncio.wait_for(pending, 2)
    assert released.status_code == 503 and released.json()["error"] == "SERVICE_UNAVAILABLE"


async def test_ws_latency_delays_pushes(simulator: SimHandle) -> None:
    sim = simulator
    await _control(sim, "PUT", "/ws/latency", {"min_ms": 200, "max_ms": 250})
    async with ws_client(sim, auth=True) as ws, sim.authed() as c:
        await ws.subscribe("orders.ALL")
        start = time.monotonic()
        await c.post("/orders", json=sim.order())
        await ws.next_push("orders.ALL")
        elapsed = time.monotonic() - start
    assert elapsed >= 0.2


async def test_drop_all_ws_connections_closes_every_client(simulator: SimHandle) -> None:
    async with ws_client(simulator) as a, ws_client(simulator) as b:
        await a.subscribe("bbo.BTC-USD-PERP")
        await b.subscribe("bbo.ETH-USD-PERP")
        dropped = await _control(simulator, "POST", "/ws/drop", {})
        for client in (a, b):
            with pytest.raises(ConnectionClosed):
                await client.ws.recv()
    assert len(dropped["dropped"]) == 2


async def test_drop_one_ws_connection_leaves_the_others(simulator: SimHandle) -> None:
    async with ws_client(simulator) as a, ws_client(simulator) as b:
        await a.subscribe("bbo.BTC-USD-PERP")
        await b.subscribe("bbo.ETH-USD-PERP")
        conns = (await _control(simulator, "GET", "/ws/connections"))["connections"]
        victim = next(c["conn_id"] for c in conns if "bbo.BTC-USD-PERP" in c["subscriptions"])
        await _control(simulator, "POST", "/ws/drop", {"conn_id": victim})
        with pytest.raises(ConnectionClosed):
            await a.ws.recv()
        assert "result" in await b.call("subscribe", {"channel": "trades.ALL"})


@pytest.mark.parametrize(
    ("faults", "expected"),
    [
        ({"drop": {"next": 1}}, ["OPEN"]),
        ({"duplicate": {"next": 1}}, ["NEW", "NEW", "OPEN"]),
        ({"reorder": {"next": 1}}, ["OPEN", "NEW"]),
        ({"delay": {"next": 1}, "delay_ms": 150}, ["OPEN", "NEW"]),
        ({"drop": {"probability": 1.0}}, []),
    ],
)
async def test_private_push_faults_change_what_the_client_sees(
    simulator: SimHandle, faults: dict[str, Any], expected: list[str]
) -> None:
    sim = simulator
    await _control(sim, "PUT", "/ws/private", faults)
    async with ws_client(sim, auth=True) as ws, sim.authed() as c:
        await ws.subscribe("orders.ALL")
        await c.post("/orders", json=sim.order())
        await ws.quiet(0.4)
    assert [p["params"]["data"]["status"] for p in ws.pushes] == expected


async def test_private_faults_filtered_by_channel_spare_the_other_channels(simulator: SimHandle) -> None:
    """``channels`` limits the faults: the next fill push is dropped, order pushes are untouched."""
    sim = simulator
    _, ask = sim.best()
    await _control(sim, "PUT", "/ws/private", {"drop": {"next": 1}, "channels": ["fills"]})
    async with ws_client(sim, auth=True) as ws, sim.authed() as c:
        await ws.subscribe("orders.ALL")
        await ws.subscribe("fills.ALL")
        for _ in range(2):
            await c.post("/orders", json=sim.order("BUY", "0.01", str(ask)))
            sim.venue.process_now()
        await ws.quiet(0.4)
    by_channel: dict[str, list[dict[str, Any]]] = {}
    for push in ws.pushes:
        by_channel.setdefault(push["params"]["channel"], []).append(push["params"]["data"])
    assert [o["status"] for o in by_channel["orders.ALL"]] == ["NEW", "OPEN", "CLOSED"] * 2
    fills = by_channel.get("fills.ALL", [])
    assert len(fills) == 1 and fills[0]["order_id"] == by_channel["orders.ALL"][3]["id"]


async def test_dropped_private_pushes_are_listed_with_their_frames(simulator: SimHandle) -> None:
    sim = simulator
    _, ask = sim.best()
    await _control(sim, "PUT", "/ws/private", {"drop": {"next": 1}, "channels": ["fills"]})
    async with ws_client(sim, auth=True) as ws, sim.authed() as c:
        await ws.subscribe("fills.ALL")
        await c.post("/orders", json=sim.order("BUY", "0.01", str(ask)))
        sim.venue.process_now()
        await ws.quiet(0.3)
        dropped = (await _control(sim, "GET", "/ws/private/dropped"))["dropped"]
    assert [d["channel"] for d in dropped] == ["fills.ALL"] and not ws.pushes
    assert dropped[0]["frame"]["params"]["data"]["side"] == "BUY" and dropped[0]["at_ms"] > 0
    await _control(sim, "POST", "/reset")
    assert (await _control(sim, "GET", "/ws/private/dropped"))["dropped"] == []


async def test_private_faults_filter_takes_exact_channel_names(simulator: SimHandle) -> None:
    sim = simulator
    await _control(sim, "PUT", "/ws/private",
                   {"duplicate": {"probability": 1.0}, "channels": ["orders.BTC-USD-PERP"]})
    async with ws_client(sim, auth=True) as ws, sim.authed() as c:
        await ws.subscribe("orders.ALL")
        await ws.subscribe("orders.BTC-USD-PERP")
        await c.post("/orders", json=sim.order())
        await ws.quiet(0.4)
    channels = [p["params"]["channel"] for p in ws.pushes]
    assert channels.count("orders.ALL") == 2  # NEW, OPEN
    assert channels.count("orders.BTC-USD-PERP") == 4  # each duplicated


async def test_private_faults_refuse_a_public_channel_filter(simulator: SimHandle) -> None:
    async with httpx.AsyncClient(base_url=simulator.control_url) as c:
        resp = await c.put("/ws/private", json={"drop": {"next": 1}, "channels": ["bbo"]})
    assert resp.status_code == 400 and "must be private" in resp.json()["message"]


async def test_freeze_stops_pushes_while_rest_goes_on(simulator: SimHandle) -> None:
    sim = simulator
    async with ws_client(sim, auth=True) as ws, sim.authed() as c:
        await ws.subscribe("orders.ALL")
        await _control(sim, "PUT", "/ws/freeze", {"frozen": True})
        frozen_resp = await c.post("/orders", json=sim.order())
        sim.venue.process_now()
        await ws.quiet(0.2)
        frozen_pushes = list(ws.pushes)
        assert (await c.get(f"/orders/{frozen_resp.json()['id']}")).json()["status"] == "OPEN"
        await _control(sim, "PUT", "/ws/freeze", {"frozen": False})
        await c.delete(f"/orders/{frozen_resp.json()['id']}")
        after = await _statuses(ws, 1)
    assert frozen_resp.status_code == 201 and frozen_pushes == []
    assert after == ["CLOSED"]


async def test_book_gap_skips_one_delta_sequence_number(simulator: SimHandle) -> None:
    sim = simulator
    book = "order_book.BTC-USD-PERP.deltas"
    async with ws_client(sim) as ws:
        await ws.subscribe(book)
        snap = (await ws.next_push(book))["params"]["data"]
        await _control(sim, "POST", "/ws/book_gap", {"market": "BTC-USD-PERP"})
        await _control(sim, "POST", "/synthetic/step", {"steps": 20})
        first = (await ws.next_push(book))["params"]["data"]
        second = (await ws.next_push(book))["params"]["data"]
    assert first["seq_no"] == snap["seq_no"] + 2
    assert second["seq_no"] == first["seq_no"] + 1


async def test_bust_pushes_a_tradebust_and_truth_marks_the_fill(simulator: SimHandle) -> None:
    sim = simulator
    _, ask = sim.best()
    async with ws_client(sim, auth=True) as ws, sim.authed() as c:
        await ws.subscribe("tradebusts")
        await ws.subscribe("fills.ALL")
        await c.post("/orders", json=sim.order("BUY", "0.01", str(ask)))
        fill = (await ws.next_push("fills.ALL"))["params"]["data"]
        await _control(sim, "POST", "/bust", {"fill_id": fill["id"]})
        bust = (await ws.next_push("tradebusts"))["params"]["data"]
        fills_after = (await c.get("/fills")).json()["results"]
    truth = await _control(sim, "GET", "/truth")
    assert bust["busted_fill_id"] == fill["id"] and bust["account"] == sim.account
    assert truth["busted_fill_ids"] == [fill["id"]]
    assert fills_after == []


async def test_set_balance_and_system_state_are_seen_over_rest(simulator: SimHandle) -> None:
    sim = simulator
    await _control(sim, "PUT", "/balance", {"amount": "1234.5"})
    await _control(sim, "PUT", "/system_state", {"status": "cancel_only"})
    async with sim.authed() as c:
        balance = (await c.get("/balance")).json()["results"][0]
        rejected = await c.post("/orders", json=sim.order())
        await _control(sim, "POST", "/reset")
        accepted = await c.post("/orders", json=sim.order())
    assert Decimal(balance["size"]) == Decimal("1234.5")
    assert rejected.json()["error"] == "SYSTEM_STATUS_CANCEL_ONLY" and accepted.status_code == 201


async def test_truth_matches_the_rest_view(simulator: SimHandle) -> None:
    sim = simulator
    _, ask = sim.best()
    async with sim.authed() as c:
        await c.post("/orders", json=sim.order("BUY", "0.01", str(ask)))
        await c.post("/orders", json=sim.order("BUY", "0.01", "60000"))
        sim.venue.process_now()
        rest_positions = (await c.get("/positions")).json()["results"]
        rest_open = (await c.get("/orders")).json()["results"]
    truth = await _control(sim, "GET", "/truth")
    assert [o["id"] for o in truth["open_orders"]] == [o["id"] for o in rest_open]
    assert [(p["market"], p["size"]) for p in truth["positions"]] == [
        (p["market"], p["size"]) for p in rest_positions
    ]
    assert len(truth["orders"]) == 2 and len(truth["fills"]) == 1


async def test_rate_limits_can_be_tightened_at_run_time(simulator: SimHandle) -> None:
    await _control(simulator, "PUT", "/rate_limits",
                   {"scope": "public", "limits": [{"capacity": 1, "window_s": 60}]})
    async with simulator.client() as c:
        codes = [(await c.get("/system/time")).status_code for _ in range(2)]
    assert codes == [200, 429]


async def test_synthetic_rate_can_be_switched_on(simulator: SimHandle) -> None:
    async with ws_client(simulator) as ws:
        await ws.subscribe("bbo.BTC-USD-PERP")
        await _control(simulator, "PUT", "/synthetic", {"rate": 200})
        push = await ws.next_push("bbo.BTC-USD-PERP", wait_s=3)
    assert push["params"]["data"]["market"] == "BTC-USD-PERP"


async def test_bad_control_body_is_400(simulator: SimHandle) -> None:
    async with httpx.AsyncClient(base_url=simulator.control_url) as c:
        resp = await c.put("/ws/freeze", json={"frozen": "maybe"})
    assert resp.status_code == 400 and resp.json()["error"] == "VALIDATION_ERROR"
