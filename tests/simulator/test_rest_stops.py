"""Stop and take-profit orders against the running simulator: REST create/modify/cancel, the
``orders`` pushes of every transition, ``GET /orders`` and ``/orders-history``, spec conformance."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from shared.paradex.models import Order, Page, Results, decode
from tests.simfixture import SimHandle, ws_client

from .venue_helpers import BTC, check_push, check_rest, control, pushes_until

D = Decimal


def _mark(sim: SimHandle, offset: int = 0) -> str:
    """The current mark plus ``offset`` USD, on the BTC tick."""
    mark = sim.exchange.mark_price(BTC).quantize(D("0.1"))
    return str(mark + offset)


def _stop(sim: SimHandle, type_: str, side: str, size: str, trigger: str, price: str = "0",
          **extra: Any) -> dict[str, Any]:
    return sim.order(side, size, price, type=type_, trigger_price=trigger, **extra)


async def test_stop_market_transitions_are_pushed_and_listed_over_rest(simulator: SimHandle) -> None:
    sim = simulator
    trigger = _mark(sim, -50)
    async with ws_client(sim, auth=True) as ws, sim.authed() as c:
        await ws.subscribe("orders.ALL")
        await ws.subscribe(f"fills.{BTC}")
        resp = await c.post("/orders", json=_stop(sim, "STOP_MARKET", "SELL", "0.01", trigger))
        assert resp.status_code == 201, resp.text
        new = decode(Order, resp.content)
        assert new.status == "NEW" and new.trigger_price_value == D(trigger)
        assert "STOP_CONDITION_BELOW_TRIGGER" in new.flags and new.type == "STOP_MARKET"
        sim.venue.process_now()
        first = await pushes_until(ws, "orders.ALL", lambda d: d["status"] == "UNTRIGGERED")
        open_orders = await c.get("/orders")
        untriggered = await c.get("/orders-history", params={"status": "UNTRIGGERED"})
        await control(sim, "PUT", "/mark_price", {"market": BTC, "price": trigger})
        rest = await pushes_until(ws, "orders.ALL", lambda d: d["status"] == "CLOSED")
        fill = (await ws.next_push(f"fills.{BTC}"))["params"]["data"]
        history = decode(Page[Order], (await c.get("/orders-history")).content).results
        await control(sim, "PUT", "/mark_price", {"market": BTC, "price": None})
    assert [d["status"] for d in first + rest] == ["NEW", "UNTRIGGERED", "OPEN", "CLOSED"]
    assert all(d["id"] == new.id and d["trigger_price"] == trigger for d in first + rest)
    assert rest[-1]["remaining_size"] == "0" and rest[-1]["cancel_reason"] == ""
    assert fill["order_id"] == new.id and fill["side"] == "SELL" and D(fill["size"]) == D("0.01")
    listed = decode(Results[Order], open_orders.content).results
    assert [(o.id, o.status) for o in listed] == [(new.id, "UNTRIGGERED")]
    assert [o.id for o in decode(Page[Order], untriggered.content).results] == [new.id]
    assert history[0].id == new.id and history[0].status == "CLOSED"
    for data in first + rest:
        check_push("/orders.{market_symbol}", data)
    check_rest("GET", "/orders", open_orders)
    check_rest("GET", "/orders-history", untriggered)


async def test_untriggered_stop_limit_is_modified_then_cancelled_over_rest(simulator: SimHandle) -> None:
    sim = simulator
    trigger, price = _mark(sim, 100), _mark(sim, 120)
    async with ws_client(sim, auth=True) as ws, sim.authed() as c:
        await ws.subscribe(f"orders.{BTC}")
        body = _stop(sim, "STOP_LIMIT", "BUY", "0.01", trigger, price, client_id="sl-1")
        new = decode(Order, (await c.post("/orders", json=body)).content)
        sim.venue.process_now()
        await pushes_until(ws, f"orders.{BTC}", lambda d: d["status"] == "UNTRIGGERED")
        moved = _mark(sim, 200)
        modify = {**sim.modify(new.id, "BUY", "0.02", price, type="STOP_LIMIT"), "trigger_price": moved}
        resp = await c.put(f"/orders/{new.id}", json=modify)
        assert resp.status_code == 200, resp.text
        sim.venue.process_now()
        modified = (await ws.next_push(f"orders.{BTC}"))["params"]["data"]
        assert (await c.delete(f"/orders/{new.id}")).status_code == 204
        sim.venue.process_now()
        closed = (await ws.next_push(f"orders.{BTC}"))["params"]["data"]
        gone = decode(Results[Order], (await c.get("/orders")).content).results
    assert modified["status"] == "UNTRIGGERED" and modified["trigger_price"] == moved
    assert D(modified["size"]) == D("0.02") and modified["client_id"] == "sl-1"
    assert closed["status"] == "CLOSED" and closed["cancel_reason"] == "USER_CANCELED"
    assert gone == [] and len(sim.exchange.stops[BTC]) == 0


async def test_position_sized_take_profit_as_ccxt_sends_it_closes_the_position(simulator: SimHandle) -> None:
    sim = simulator
    _, ask = sim.best()
    async with sim.authed() as c:
        await c.post("/orders", json=sim.order("BUY", "0.02", str(ask)))
        sim.venue.process_now()
        trigger = _mark(sim, 30)
        body = _stop(sim, "TAKE_PROFIT_MARKET", "SELL", "0", trigger, flags=["REDUCE_ONLY"])
        resp = await c.post("/orders", json=body)
        assert resp.status_code == 201, resp.text
        sim.venue.process_now()
        await control(sim, "PUT", "/mark_price", {"market": BTC, "price": trigger})
        positions = (await c.get("/positions")).json()["results"]
        order = decode(Order, (await c.get(f"/orders/{resp.json()['id']}")).content)
    assert order.status == "CLOSED" and order.size == D("0.02") and order.remaining_size == 0
    assert [p["size"] for p in positions] == ["0"]


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"type": "LIMIT", "trigger_price": "60000"}, "trigger_price is for"),
        ({"type": "STOP_MARKET", "price": "0"}, "trigger_price is required"),
        ({"type": "STOP_MARKET", "price": "0", "trigger_price": "60000",
          "flags": ["STOP_CONDITION_BELOW_TRIGGER", "STOP_CONDITION_ABOVE_TRIGGER"]}, "both"),
        ({"type": "TAKE_PROFIT_LIMIT", "trigger_price": "60000", "price": "60000.05"}, "tick"),
    ],
)
async def test_bad_stop_orders_answer_400_naming_the_rule(
    simulator: SimHandle, extra: dict[str, Any], fragment: str
) -> None:
    sim = simulator
    body = sim.order("SELL", "0.01", extra.get("price", "60000"), type=extra["type"])
    body.update({k: v for k, v in extra.items() if k not in ("type", "price")})
    async with sim.authed() as c:
        resp = await c.post("/orders", json=body)
    assert resp.status_code == 400 and fragment in resp.json()["message"]
    assert resp.json()["error"] in ("VALIDATION_ERROR", "INVALID_PRICE_PRECISION")


async def test_pinning_the_mark_needs_a_known_market_and_a_valid_price(simulator: SimHandle) -> None:
    await control(simulator, "PUT", "/mark_price", {"market": "NOPE-USD-PERP", "price": "1"}, status=404)
    await control(simulator, "PUT", "/mark_price", {"market": BTC, "price": "-1"}, status=400)
    pinned = await control(simulator, "PUT", "/mark_price", {"market": BTC, "price": "61000"})
    assert pinned == {"market": BTC, "mark_price": "61000.0"}
    assert simulator.exchange.market_summary(BTC).mark_price == D("61000")
