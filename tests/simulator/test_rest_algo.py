"""TWAP algo orders against the running simulator: the five ``/algo/orders`` routes, signatures,
children on ``orders`` as time moves (control API), cancel, errors, spec conformance."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest

from shared.paradex.models import AlgoOrder, Page, Results, decode
from tests.simfixture import SimHandle, ws_client

from .venue_helpers import BTC, check_rest, control, pushes_until

D = Decimal


def algo_body(sim: SimHandle, side: str = "BUY", size: str = "0.04", duration: int = 120,
              frequency: int | None = 30, type_: str = "MARKET", **extra: Any) -> dict[str, Any]:
    """A signed ``POST /algo/orders`` body (signed like a MARKET order, price 0)."""
    ts = int(time.time() * 1000)
    body: dict[str, Any] = {
        "algo_type": "TWAP", "market": BTC, "side": side, "type": type_, "size": size,
        "duration_seconds": duration, "signature_timestamp": ts,
        "signature": sim.signer.sign_order(BTC, side, type_, size, "0", ts),
    }
    if frequency is not None:
        body["frequency"] = frequency
    return {**body, **extra}


async def test_twap_lifecycle_over_rest_with_children_on_the_orders_channel(simulator: SimHandle) -> None:
    sim = simulator
    async with ws_client(sim, auth=True) as ws, sim.authed() as c:
        await ws.subscribe("orders.ALL")
        created = await c.post("/algo/orders", json=algo_body(sim))
        assert created.status_code == 201, created.text
        algo = decode(AlgoOrder, created.content)
        assert algo.status == "NEW" and algo.algo_type == "TWAP" and algo.remaining_size == D("0.04")
        assert algo.algo_params == {"duration_seconds": "120", "frequency": "30"}
        assert algo.end_at == algo.created_at + 120_000
        sim.venue.process_now()
        first = await pushes_until(ws, "orders.ALL", lambda d: d["status"] == "CLOSED")
        listed = await c.get("/algo/orders")
        one = await c.get(f"/algo/orders/{algo.id}")
        await control(sim, "POST", "/time/advance", {"ms": 30_000})
        second = await pushes_until(ws, "orders.ALL", lambda d: d["status"] == "CLOSED")
        await control(sim, "POST", "/time/advance", {"ms": 60_000})
        await pushes_until(ws, "orders.ALL", lambda d: d["status"] == "CLOSED")
        await pushes_until(ws, "orders.ALL", lambda d: d["status"] == "CLOSED")
        after = await c.get("/algo/orders")
        history = await c.get("/algo/orders-history")
        done = decode(AlgoOrder, (await c.get(f"/algo/orders/{algo.id}")).content)
        fills = (await c.get("/fills")).json()["results"]
    assert [d["status"] for d in first] == ["NEW", "OPEN", "CLOSED"]
    assert first[0]["type"] == "MARKET" and D(first[0]["size"]) == D("0.01")
    assert first[-1]["remaining_size"] == "0"
    assert D(second[0]["size"]) == D("0.01") and second[0]["id"] != first[0]["id"]
    opened = decode(Results[AlgoOrder], listed.content).results
    assert [(a.id, a.status, a.remaining_size) for a in opened] == [(algo.id, "OPEN", D("0.03"))]
    assert decode(AlgoOrder, one.content).status == "OPEN"
    assert decode(Results[AlgoOrder], after.content).results == []
    closed = decode(Page[AlgoOrder], history.content).results
    assert [(a.id, a.status, a.cancel_reason) for a in closed] == [(algo.id, "CLOSED", "")]
    assert done.remaining_size == 0 and done.avg_fill_price_value is not None
    assert sum(D(f["size"]) for f in fills) == D("0.04") and len(fills) == 4
    check_rest("POST", "/algo/orders", created)
    check_rest("GET", "/algo/orders", listed)
    check_rest("GET", "/algo/orders/{algo_id}", one)
    check_rest("GET", "/algo/orders-history", history)


async def test_cancel_an_algo_then_cancel_again_or_an_unknown_one(simulator: SimHandle) -> None:
    sim = simulator
    async with sim.authed() as c:
        algo = decode(AlgoOrder, (await c.post("/algo/orders", json=algo_body(sim, side="SELL"))).content)
        sim.venue.process_now()
        assert (await c.delete(f"/algo/orders/{algo.id}")).status_code == 204
        sim.venue.process_now()
        cancelled = decode(AlgoOrder, (await c.get(f"/algo/orders/{algo.id}")).content)
        again = await c.delete(f"/algo/orders/{algo.id}")
        unknown = await c.delete("/algo/orders/123")
        missing = await c.get("/algo/orders/123")
        await control(sim, "POST", "/time/advance", {"ms": 120_000})
        orders = (await c.get("/orders-history")).json()["results"]
    assert cancelled.status == "CLOSED" and cancelled.cancel_reason == "USER_CANCELED"
    assert cancelled.remaining_size == D("0.03")
    assert again.status_code == 400 and again.json()["error"] == "ORDER_IS_CLOSED"
    assert unknown.status_code == 404 and missing.status_code == 404
    assert len(orders) == 1  # no child after the cancel


@pytest.mark.parametrize(
    ("change", "status", "code", "fragment"),
    [
        ({"algo_type": "VWAP"}, 400, "VALIDATION_ERROR", "$.algo_type"),
        ({"duration_seconds": 45}, 400, "VALIDATION_ERROR", "duration_seconds must be"),
        ({"type_": "LIMIT"}, 400, "VALIDATION_ERROR", "type must be MARKET"),
        ({"size": "0.002"}, 400, "INVALID_ORDER_SIZE", "child orders would be"),  # signed: see below
        ({"signature": '["1","2"]'}, 400, "INVALID_ORDER_SIGNATURE", "verification failed"),
        ({"market": "NOPE-USD-PERP"}, 404, "MARKET_NOT_FOUND", "NOPE"),
        ({"recv_window": 10, "signature_timestamp": 1_000}, 400, "VALIDATION_ERROR", "recv_window"),
    ],
)
async def test_bad_algo_requests_answer_4xx_naming_the_rule(
    simulator: SimHandle, change: dict[str, Any], status: int, code: str, fragment: str
) -> None:
    async with simulator.authed() as c:
        signed = {k: v for k, v in change.items() if k in ("type_", "size")}  # fields the signature covers
        body = {**algo_body(simulator, **signed), **{k: v for k, v in change.items() if k not in signed}}
        resp = await c.post("/algo/orders", json=body)
    assert resp.status_code == status, resp.text
    assert resp.json()["error"] == code and fragment in resp.json()["message"]


async def test_algo_history_filters_and_pages(simulator: SimHandle) -> None:
    sim = simulator
    async with sim.authed() as c:
        ids = [decode(AlgoOrder, (await c.post("/algo/orders", json=algo_body(sim, side=s))).content).id
               for s in ("BUY", "SELL", "BUY")]
        sim.venue.process_now()

        async def page(**params: Any) -> Page[AlgoOrder]:
            return decode(Page[AlgoOrder], (await c.get("/algo/orders-history", params=params)).content)

        buys = await page(side="BUY")
        first = await page(page_size=2)
        rest = await page(page_size=2, cursor=first.next)
        by_client = await page(client_id="x")
        limits = await page(type="LIMIT")
        bad = await c.get("/algo/orders-history", params={"status": "SLEEPING"})
    assert [a.id for a in buys.results] == [ids[2], ids[0]]
    assert [a.id for a in first.results + rest.results] == ids[::-1] and rest.next is None
    assert by_client.results == [] and limits.results == []
    assert bad.status_code == 400 and bad.json()["error"] == "INVALID_REQUEST_PARAMETER"
