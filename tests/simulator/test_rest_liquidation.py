"""Liquidation against the running simulator: the pushes a liquidated account's client sees
(orders closed, LIQUIDATION fills, balance events, flat positions, account status), the public
tape, ``GET /liquidations`` and the REST views, spec conformance."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.simfixture import SimFactory, SimHandle, ws_client

from .venue_helpers import BTC, check_push, check_rest, control, pushes_until

D = Decimal
CHANNELS = ("orders.ALL", "fills.ALL", f"trades.{BTC}", "balance_events", "positions", "account")


async def _leveraged(sim: SimHandle, c: Any) -> str:
    """0.5 BTC long on 2 000 USDC and a resting sell; returns the resting order's id."""
    await control(sim, "PUT", "/balance", {"amount": "2000"})
    _, ask = sim.best()
    assert (await c.post("/orders", json=sim.order("BUY", "0.5", str(ask)))).status_code == 201
    resting = (await c.post("/orders", json=sim.order("SELL", "0.1", "90000"))).json()
    sim.venue.process_now()
    return str(resting["id"])


async def test_a_liquidation_is_pushed_listed_and_on_the_tape(simulator: SimHandle) -> None:
    sim = simulator
    async with ws_client(sim, auth=True) as ws, sim.authed() as c:
        resting = await _leveraged(sim, c)
        for channel in CHANNELS:
            await ws.subscribe(channel)
        healthy = await control(sim, "POST", "/liquidations/check")
        crash = sim.exchange.mark_price(BTC).quantize(D("0.1")) - 3000
        await control(sim, "PUT", "/mark_price", {"market": BTC, "price": str(crash)})
        result = await control(sim, "POST", "/liquidations/check")
        order = (await ws.next_push("orders.ALL"))["params"]["data"]
        fill = (await ws.next_push("fills.ALL"))["params"]["data"]
        trade = (await pushes_until(ws, f"trades.{BTC}", lambda d: d["trade_type"] == "LIQUIDATION"))[-1]
        event = (await ws.next_push("balance_events"))["params"]["data"]
        position = (await ws.next_push("positions"))["params"]["data"]
        account = (await pushes_until(ws, "account", lambda d: d["status"] == "LIQUIDATION"))[-1]
        rest_account = (await c.get("/account")).json()
        liquidations = await c.get("/liquidations")
        fills = (await c.get("/fills")).json()["results"]
        tape = (await c.get("/trades", params={"market": BTC})).json()["results"]
        positions = (await c.get("/positions")).json()["results"]
        await control(sim, "POST", "/liquidations/check")  # flat now: healthy again
        back = (await pushes_until(ws, "account", lambda d: d["status"] == "ACTIVE"))[-1]
        window = await c.get("/liquidations", params={"from": 0, "to": 1})
    assert healthy == {"liquidated": []} and result == {"liquidated": [sim.account]}
    assert order["id"] == resting and order["status"] == "CLOSED" and order["cancel_reason"] == "LIQUIDATION"
    assert fill["fill_type"] == "LIQUIDATION" and fill["orderbook_seq_no"] == 0 and fill["side"] == "SELL"
    assert D(fill["size"]) == D("0.5") and D(fill["price"]) == crash and D(fill["fee"]) > 0
    assert trade["side"] == "SELL" and D(trade["size"]) == D("0.5") and D(trade["price"]) == crash
    assert event["type"] == "TRANSACTION_LIQUIDATE" and event["fill_id"] == fill["id"]
    assert D(position["size"]) == 0 and position["status"] == "CLOSED"
    assert rest_account["status"] == "LIQUIDATION" and back["status"] == "ACTIVE"
    assert D(account["account_value"]) >= 0
    listed = liquidations.json()["results"]
    assert len(listed) == 1 and listed[0]["id"].startswith("0x") and listed[0]["created_at"] > 0
    assert window.json()["results"] == []
    assert any(f["fill_type"] == "LIQUIDATION" for f in fills)
    assert any(t["trade_type"] == "LIQUIDATION" and t["id"] == trade["id"] for t in tape)
    assert all(D(p["size"]) == 0 for p in positions)
    for spec_channel, data in (("/orders.{market_symbol}", order), ("/fills.{market_symbol}", fill),
                               ("/trades.{market_symbol}", trade), ("/balance_events", event),
                               ("/positions", position), ("/account", account)):
        check_push(spec_channel, data)
    check_rest("GET", "/liquidations", liquidations)


async def test_a_forced_liquidation_closes_a_healthy_account(simulator: SimHandle) -> None:
    sim = simulator
    async with sim.authed() as c:
        await _leveraged(sim, c)
        result = await control(sim, "POST", "/liquidate", {})
        positions = (await c.get("/positions")).json()["results"]
        orders = (await c.get("/orders")).json()["results"]
    assert result == {"liquidated": [sim.account]}
    assert all(D(p["size"]) == 0 for p in positions) and orders == []
    await control(sim, "POST", "/liquidate", {"account": "not-hex"}, status=400)


async def test_the_running_schedule_liquidates_on_its_own(simulator_factory: SimFactory) -> None:
    sim = await simulator_factory(schedule_interval_ms=50, health_check_interval_ms=100)
    async with ws_client(sim, auth=True) as ws, sim.authed() as c:
        await _leveraged(sim, c)
        await ws.subscribe("account")
        crash = sim.exchange.mark_price(BTC).quantize(D("0.1")) - 3000
        await control(sim, "PUT", "/mark_price", {"market": BTC, "price": str(crash)})
        liquidated = await pushes_until(ws, "account", lambda d: d["status"] == "LIQUIDATION", wait_s=10)
        restored = await pushes_until(ws, "account", lambda d: d["status"] == "ACTIVE", wait_s=10)
    assert liquidated[-1]["account"] == sim.account and restored[-1]["account"] == sim.account
    assert len(sim.exchange.liquidations(sim.account)) == 1
