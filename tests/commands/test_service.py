"""The commands service against the simulator (signatures verified), real NATS and Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from shared.bus import CmdAccepted, CmdRejected, CmdSubmitted, CmdUnknown, decode_event, subjects
from shared.bus.requests import decode_request
from tests.commands.helpers import Factory, M, auth
from tests.simfixture import SimHandle


async def tap(nc: Any, account: str) -> list[Any]:
    seen: list[Any] = []

    async def on_msg(msg: Any) -> None:
        seen.append(decode_event(msg.data))

    await nc.subscribe(subjects.account_filter(account), cb=on_msg)
    return seen


def venue_orders(sim: SimHandle, client_id: str | None = None) -> list[Any]:
    orders = sim.exchange.orders_history(sim.account)
    return [o for o in orders if client_id is None or o.client_id == client_id]


async def test_place_with_ack_returns_exchange_id_and_publishes_submitted_then_accepted(
    simulator: SimHandle, start_commands: Factory, nc: Any, unique: str
) -> None:
    cmd = await start_commands(simulator)
    events = await tap(nc, cmd.service.settings.account_token)
    r = await cmd.place(client_id=f"mm-{unique}")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "accepted" and body["order_id"] and body["client_id"] == f"mm-{unique}"
    assert len(venue_orders(simulator, f"mm-{unique}")) == 1
    await asyncio.sleep(0.1)
    kinds = [type(e) for e in events if getattr(e, "client_id", "") == f"mm-{unique}"]
    assert kinds[:2] == [CmdSubmitted, CmdAccepted]


async def test_generated_client_id_is_prefixed_by_strategy_and_returned(
    simulator: SimHandle, start_commands: Factory
) -> None:
    cmd = await start_commands(simulator)
    r = await cmd.place()
    cid = r.json()["client_id"]
    assert r.status_code == 201 and cid.startswith("mm-") and len(cid) <= 64
    assert len(venue_orders(simulator, cid)) == 1


async def test_validation_rules_give_422_naming_the_rule_and_nothing_reaches_the_venue(
    simulator: SimHandle, start_commands: Factory
) -> None:
    cmd = await start_commands(simulator)
    cases = [
        ({"price": "50000.05"}, "PRICE_NOT_ON_TICK", "tick_size"),
        ({"size": "0.0015"}, "SIZE_NOT_ON_INCREMENT", "size_increment"),
        ({"size": "0.0001"}, "SIZE_NOT_ON_INCREMENT", "size_increment"),
        ({"size": "0.001", "price": "100"}, "NOTIONAL_BELOW_MIN", "min_notional"),
        ({"size": "1000"}, "SIZE_ABOVE_MAX", "max_order_size"),
        ({"market": "NOPE-USD-PERP"}, "MARKET_NOT_FOUND", "market"),
        ({"side": "UP"}, "INVALID_REQUEST", "schema"),
        ({"client_id": "bad id"}, "INVALID_CLIENT_ID", "client_id"),
    ]
    for body, error, rule in cases:
        r = await cmd.place(**body)
        assert r.status_code == 422, (body, r.text)
        assert (r.json()["error"], r.json()["rule"]) == (error, rule), body
    assert venue_orders(simulator) == []


async def test_system_state_cancel_only_and_post_only_are_enforced(
    simulator: SimHandle, start_commands: Factory
) -> None:
    cmd = await start_commands(simulator)
    simulator.venue.set_system_status("cancel_only")
    await cmd.service.venue.load_system()
    r = await cmd.place()
    assert r.status_code == 422 and r.json()["error"] == "SYSTEM_STATUS_CANCEL_ONLY"
    simulator.venue.set_system_status("post_only")
    await cmd.service.venue.load_system()
    assert (await cmd.place()).json()["error"] == "SYSTEM_STATUS_POST_ONLY"
    assert (await cmd.place(instruction="POST_ONLY")).status_code == 201


async def test_tokens_and_limits_give_401_and_403(simulator: SimHandle, start_commands: Factory) -> None:
    cmd = await start_commands(simulator)
    r = await cmd.client.post("/v1/orders", json={"market": M, "side": "BUY", "size": "0.01", "price": "1"})
    assert r.status_code == 401 and r.json()["error"] == "UNAUTHORIZED"
    r = await cmd.client.post("/v1/orders", json={}, headers={"Authorization": "Bearer wrong-token-xxxxxxxx"})
    assert r.status_code == 401
    r = await cmd.place("arb", market="ETH-USD-PERP", price="3000")
    assert r.status_code == 403 and r.json()["rule"] == "allowed_markets"
    r = await cmd.place("arb", size="0.1")
    assert r.status_code == 403 and r.json()["error"] == "ORDER_NOTIONAL_ABOVE_LIMIT"
    assert (await cmd.place("arb", size="0.01", price="10000")).status_code == 201
    assert (await cmd.place("arb", size="0.01", price="10000")).status_code == 201
    r = await cmd.place("arb", size="0.01", price="10000")
    assert r.status_code == 403 and r.json()["error"] in ("OPEN_ORDERS_LIMIT", "POSITION_LIMIT"), r.text


async def test_50_concurrent_duplicates_place_exactly_one_venue_order(
    simulator: SimHandle, start_commands: Factory, unique: str
) -> None:
    cmd = await start_commands(simulator)
    cid = f"mm-dup-{unique}"
    replies = await asyncio.gather(*(cmd.place(client_id=cid) for _ in range(50)))
    assert {r.status_code for r in replies} == {201}
    assert len({r.json()["order_id"] for r in replies}) == 1
    assert len(venue_orders(simulator, cid)) == 1


async def test_idempotency_survives_a_restart_of_the_service(
    simulator: SimHandle, start_commands: Factory, unique: str
) -> None:
    first = await start_commands(simulator)
    cid = f"mm-restart-{unique}"
    r1 = await first.place(client_id=cid)
    await first.service.stop()
    second = await start_commands(simulator)
    r2 = await second.place(client_id=cid)
    assert r2.status_code == r1.status_code == 201
    assert r2.json()["order_id"] == r1.json()["order_id"]
    assert r2.headers.get("Idempotent-Replay") == "true"
    assert len(venue_orders(simulator, cid)) == 1


async def test_venue_timeout_gives_unknown_cmd_event_and_a_lookup_request_never_a_resend(
    simulator: SimHandle, start_commands: Factory, nc: Any, unique: str
) -> None:
    cmd = await start_commands(simulator)
    events = await tap(nc, cmd.service.settings.account_token)
    requests: list[Any] = []

    async def on_req(msg: Any) -> None:
        requests.append(decode_request(msg.data))

    await nc.subscribe(subjects.RECONCILE_REQUEST, cb=on_req)
    async with httpx.AsyncClient(base_url=simulator.control_url) as ctl:
        r = await ctl.post(
            "/rest/errors",
            json={"kind": "hang", "path": "/v1/orders", "method": "POST", "execute": True, "hang_ms": 3000},
        )
        assert r.status_code == 200, r.text
    cid = f"mm-unknown-{unique}"
    r = await cmd.place(client_id=cid)
    assert r.status_code == 202 and r.json()["status"] == "unknown"
    await asyncio.sleep(0.2)
    assert any(isinstance(e, CmdUnknown) and e.client_id == cid for e in events)
    assert any(q.reason == "unknown_command" and q.client_ids == (cid,) for q in requests)
    # the order was executed by the venue exactly once; a duplicate returns the unknown, not a resend
    assert len(venue_orders(simulator, cid)) == 1
    again = await cmd.place(client_id=cid)
    assert again.json()["status"] == "unknown" and len(venue_orders(simulator, cid)) == 1
    # the true status is available by lookup at the venue
    truth = await cmd.service.rest.order_by_client_id(cid)
    assert truth.client_id == cid and truth.status in ("NEW", "OPEN")


async def test_venue_rejection_is_published_with_code_and_returned(
    simulator: SimHandle, start_commands: Factory, nc: Any, unique: str
) -> None:
    cmd = await start_commands(simulator)
    events = await tap(nc, cmd.service.settings.account_token)
    async with httpx.AsyncClient(base_url=simulator.control_url) as ctl:
        await ctl.post(
            "/rest/errors", json={"kind": "status", "status": 400, "path": "/v1/orders", "method": "POST"}
        )
    r = await cmd.place(client_id=f"mm-rej-{unique}")
    assert r.status_code == 400 and r.json()["status"] == "rejected" and r.json()["http_status"] == 400
    await asyncio.sleep(0.1)
    assert any(isinstance(e, CmdRejected) and e.http_status == 400 for e in events)


async def test_client_side_rate_limit_gives_429_with_retry_after(
    simulator: SimHandle, start_commands: Factory
) -> None:
    cmd = await start_commands(simulator, rate_per_s=1.0, rate_burst=2)
    codes = [(await cmd.place()).status_code for _ in range(2)]
    r = await cmd.place()
    assert codes == [201, 201] and r.status_code == 429
    assert int(r.headers["Retry-After"]) >= 1 and r.json()["error"] == "RATE_LIMITED"


async def test_wait_none_returns_submitted_and_the_order_still_lands(
    simulator: SimHandle, start_commands: Factory, unique: str
) -> None:
    cmd = await start_commands(simulator)
    cid = f"mm-none-{unique}"
    r = await cmd.place(client_id=cid, wait="none")
    assert r.status_code == 202 and r.json()["status"] == "submitted"
    again = await cmd.place(client_id=cid)
    assert again.status_code == 201 and len(venue_orders(simulator, cid)) == 1


async def test_cancel_modify_and_ownership(simulator: SimHandle, start_commands: Factory) -> None:
    cmd = await start_commands(simulator)
    placed = (await cmd.place()).json()
    oid, cid = placed["order_id"], placed["client_id"]
    r = await cmd.client.put(
        f"/v1/orders/{oid}",
        headers=auth("mm"),
        json={"market": M, "side": "BUY", "type": "LIMIT", "size": "0.02", "price": "50000"},
    )
    assert r.status_code == 200, r.text
    r = await cmd.client.delete(f"/v1/orders/{oid}", headers=auth("arb"))
    assert r.status_code == 403 and r.json()["error"] == "NOT_ORDER_OWNER"
    r = await cmd.client.delete(f"/v1/orders/{oid}", headers=auth("mm"))
    assert r.status_code == 202 and r.json()["status"] == "cancel_requested"
    second = (await cmd.place()).json()
    r = await cmd.client.delete(f"/v1/orders/by_client_id/{second['client_id']}", headers=auth("arb"))
    assert r.status_code == 403
    r = await cmd.client.delete(f"/v1/orders/by_client_id/{second['client_id']}", headers=auth("mm"))
    assert r.status_code == 202
    third = (await cmd.place()).json()
    r = await cmd.client.request(
        "DELETE", "/v1/orders/batch", headers=auth("arb"), json={"client_ids": [third["client_id"]]}
    )
    assert r.json()["results"] == [{"client_id": third["client_id"], "status": "FORBIDDEN"}]
    r = await cmd.client.request(
        "DELETE", "/v1/orders/batch", headers=auth("boss"), json={"client_ids": [third["client_id"]]}
    )
    assert r.status_code == 200 and r.json()["results"][0]["status"] == "QUEUED_FOR_CANCELLATION"
    await cmd.place()
    r = await cmd.client.delete("/v1/orders", params={"market": M}, headers=auth("boss"))
    assert r.status_code == 202
    simulator.venue.process_now()
    assert simulator.exchange.open_orders(simulator.account) == []
    assert cid


async def test_batch_place_each_item_answered(simulator: SimHandle, start_commands: Factory) -> None:
    cmd = await start_commands(simulator)
    r = await cmd.client.post(
        "/v1/orders/batch",
        headers=auth("mm"),
        json={
            "orders": [
                {"market": M, "side": "BUY", "size": "0.01", "price": "50000"},
                {"market": M, "side": "BUY", "size": "0.01", "price": "50000.05"},
            ]
        },
    )
    results = r.json()["results"]
    assert r.status_code == 207 and [x["http_status"] for x in results] == [201, 422]


async def test_healthz_metrics_and_openapi_docs(simulator: SimHandle, start_commands: Factory) -> None:
    cmd = await start_commands(simulator)
    assert (await cmd.client.get("/healthz")).json()["ok"] is True
    await cmd.place()
    assert "commands_orders_accepted_total 1.0" in (await cmd.client.get("/metrics")).text
    assert (await cmd.client.get("/docs")).status_code == 200
    spec = (await cmd.client.get("/openapi.json")).json()
    assert "/v1/orders" in spec["paths"] and "PlaceOrder" in spec["components"]["schemas"]
