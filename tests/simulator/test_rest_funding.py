"""Funding payments against the running simulator: time moved through the control API, the
``funding_payments`` / ``balance_events`` / ``positions`` / ``account`` pushes that follow,
``GET /funding/payments`` paginated, a fill realizing funding, spec conformance."""

from __future__ import annotations

from decimal import Decimal

import httpx

from shared.paradex.models import FundingPayment, Page, decode
from tests.simfixture import SimFactory, SimHandle, ws_client

from .venue_helpers import BTC, check_push, check_rest, control

D = Decimal
HOUR_MS = 3_600_000


async def _long(sim: SimHandle, c: httpx.AsyncClient, size: str = "0.1") -> None:
    _, ask = sim.best()
    resp = await c.post("/orders", json=sim.order("BUY", size, str(ask)))
    assert resp.status_code == 201, resp.text
    sim.venue.process_now()


def _expected(sim: SimHandle) -> Decimal:
    """What the simulator's long position is owed (negative: owes) at the current index."""
    pos = sim.exchange.accounts[sim.account].positions[BTC]
    return (-pos.size * (sim.exchange.funding_index[BTC] - pos.cached_funding_index)).quantize(D("1e-8"))


async def test_a_periodic_payment_is_pushed_and_listed(simulator: SimHandle) -> None:
    sim = simulator
    async with ws_client(sim, auth=True) as ws, sim.authed() as c:
        await _long(sim, c)
        for channel in (f"funding_payments.{BTC}", "balance_events", "positions", "account"):
            await ws.subscribe(channel)
        index_before = sim.exchange.funding_index[BTC]
        moved = await control(sim, "POST", "/time/advance", {"ms": 8 * HOUR_MS})
        payment = (await ws.next_push(f"funding_payments.{BTC}"))["params"]["data"]
        event = (await ws.next_push("balance_events"))["params"]["data"]
        position = (await ws.next_push("positions"))["params"]["data"]
        account = (await ws.next_push("account"))["params"]["data"]
        listed = await c.get("/funding/payments", params={"market": BTC})
    assert moved["skipped_ms"] == 8 * HOUR_MS
    assert abs(payment["created_at"] - moved["now_ms"]) < 60_000  # stamped on the wall clock
    index = sim.exchange.funding_index[BTC]
    assert index > index_before and D(payment["index"]) == index
    amount = D(payment["payment"])
    assert amount < 0 and amount == (-D("0.1") * (index - index_before)).quantize(D("1e-8"))
    assert payment["account"] == sim.account and payment["fill_id"] == "" and payment["market"] == BTC
    assert event["type"] == "FUNDING_PAYMENT" and D(event["realized_funding"]) == amount
    assert D(event["settlement_asset_balance_after"]) - D(event["settlement_asset_balance_before"]) == amount
    assert D(position["realized_positional_funding_pnl"]) == amount
    assert D(position["cached_funding_index"]) == index and D(position["unrealized_funding_pnl"]) == 0
    assert account["account"] == sim.account
    assert listed.status_code == 200, listed.text
    results = decode(Page[FundingPayment], listed.content).results
    assert [(p.id, p.payment) for p in results] == [(payment["id"], amount)]
    check_push("/funding_payments.{market_symbol}", payment)
    check_push("/balance_events", event)
    check_push("/positions", position)
    check_rest("GET", "/funding/payments", listed)


async def test_funding_payments_are_paginated_newest_first(simulator: SimHandle) -> None:
    sim = simulator
    async with sim.authed() as c:
        await _long(sim, c)
        for _ in range(3):
            await control(sim, "POST", "/time/advance", {"ms": HOUR_MS})
        async def page(**params: object) -> Page[FundingPayment]:
            resp = await c.get("/funding/payments", params={"market": BTC, **params})
            return decode(Page[FundingPayment], resp.content)

        all_ = await page()
        first = await page(page_size=2)
        second = await page(page_size=2, cursor=first.next)
        eth = await page(market="ETH-USD-PERP")
        recent = await page(start_at=all_.results[0].created_at)
    ids = [p.id for p in all_.results]
    assert len(ids) == 3 and ids == sorted(ids, reverse=True)
    assert [p.id for p in first.results + second.results] == ids and second.next is None
    assert eth.results == [] and [p.id for p in recent.results] == ids[:1]
    assert sum((p.payment for p in all_.results), D(0)) == sum(
        (D(p.payment) for p in sim.exchange.funding_payments(sim.account)), D(0))


async def test_bad_funding_queries_answer_4xx(simulator: SimHandle) -> None:
    async with simulator.authed() as c:
        missing = await c.get("/funding/payments")
        unknown = await c.get("/funding/payments", params={"market": "NOPE-USD-PERP"})
    assert missing.status_code == 400 and "market is required" in missing.json()["message"]
    assert unknown.status_code == 404 and unknown.json()["error"] == "MARKET_NOT_FOUND"
    await control(simulator, "POST", "/time/advance", {"ms": -1}, status=400)


async def test_a_fill_realizes_accrued_funding_and_names_itself(simulator_factory: SimFactory) -> None:
    sim = await simulator_factory(funding_payment_interval_ms=0)  # only fills pay funding
    async with ws_client(sim, auth=True) as ws, sim.authed() as c:
        await _long(sim, c)
        await control(sim, "POST", "/time/advance", {"ms": 8 * HOUR_MS})
        owed = _expected(sim)
        await ws.subscribe(f"fills.{BTC}")
        await ws.subscribe(f"funding_payments.{BTC}")
        bid, _ = sim.best()
        await c.post("/orders", json=sim.order("SELL", "0.05", str(bid)))
        sim.venue.process_now()
        fill = (await ws.next_push(f"fills.{BTC}"))["params"]["data"]
        payment = (await ws.next_push(f"funding_payments.{BTC}"))["params"]["data"]
    assert owed < 0 and D(fill["realized_funding"]) == owed == D(payment["payment"])
    assert payment["fill_id"] == fill["id"]
    check_push("/fills.{market_symbol}", fill)
