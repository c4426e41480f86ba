"""Order commands and private reads over REST: lifecycle, venue error codes, REST seq_no."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from shared.paradex.models import decode
from shared.paradex.models.account import Account, Balance, Fill, Order, Position
from shared.paradex.models.rest import BatchOrderResponse, CancelBatchResponse, Page, Results
from tests.simfixture import SimFactory, SimHandle


async def _wait_status(c: httpx.AsyncClient, order_id: str, status: str) -> Order:
    for _ in range(200):
        order = decode(Order, (await c.get(f"/orders/{order_id}")).content)
        if order.status == status:
            return order
        await asyncio.sleep(0.005)
    raise AssertionError(f"order {order_id} never reached {status}")


async def test_post_order_answers_201_new_then_turns_open(simulator: SimHandle) -> None:
    async with simulator.authed() as c:
        resp = await c.post("/orders", json=simulator.order("BUY", "0.01", "60000", client_id="c-1"))
        assert resp.status_code == 201
        new = decode(Order, resp.content)
        assert new.status == "NEW" and new.client_id == "c-1" and new.account == simulator.account
        opened = await _wait_status(c, new.id, "OPEN")
        listed = decode(Results[Order], (await c.get("/orders")).content).results
        by_cid = decode(Order, (await c.get("/orders/by_client_id/c-1")).content)
    assert opened.remaining_size == Decimal("0.01")
    assert [o.id for o in listed] == [new.id] and by_cid.id == new.id


async def test_rest_seq_no_increases_on_every_response_independently_of_ws(simulator: SimHandle) -> None:
    async with simulator.authed() as c:
        new = decode(Order, (await c.post("/orders", json=simulator.order())).content)
        simulator.venue.process_now()
        first = decode(Order, (await c.get(f"/orders/{new.id}")).content)
        second = decode(Order, (await c.get(f"/orders/{new.id}")).content)
    assert new.seq_no < first.seq_no < second.seq_no
    engine_seq = simulator.exchange.get_order(simulator.account, new.id).seq_no
    assert second.seq_no != engine_seq


async def test_crossing_order_fills_and_updates_position_balance_and_fills(simulator: SimHandle) -> None:
    sim = simulator
    _, ask = sim.best()
    async with sim.authed() as c:
        new = decode(Order, (await c.post("/orders", json=sim.order("BUY", "0.01", str(ask)))).content)
        filled = await _wait_status(c, new.id, "CLOSED")
        fills = decode(Page[Fill], (await c.get("/fills")).content).results
        positions = decode(Results[Position], (await c.get("/positions")).content).results
        balance = decode(Results[Balance], (await c.get("/balance")).content).results
        account = decode(Account, (await c.get("/account")).content)
    assert filled.remaining_size == 0 and filled.cancel_reason == ""
    assert [f.order_id for f in fills] == [new.id] and fills[0].price == ask
    btc = next(p for p in positions if p.market == "BTC-USD-PERP")
    assert btc.side == "LONG" and btc.size == Decimal("0.01")
    assert balance[0].token == "USDC" and balance[0].size == Decimal(100000) - fills[0].fee
    assert account.account == sim.account


async def test_cancel_answers_204_then_closed_and_recancel_is_order_is_closed(simulator: SimHandle) -> None:
    async with simulator.authed() as c:
        new = decode(Order, (await c.post("/orders", json=simulator.order())).content)
        await _wait_status(c, new.id, "OPEN")
        resp = await c.delete(f"/orders/{new.id}")
        assert resp.status_code == 204 and resp.content == b""
        closed = await _wait_status(c, new.id, "CLOSED")
        again = await c.delete(f"/orders/{new.id}")
    assert closed.cancel_reason == "USER_CANCELED"
    assert again.status_code == 400
    assert again.json() == {"error": "ORDER_IS_CLOSED", "message": f"order {new.id} is closed", "data": None}


async def test_cancel_by_client_id_and_cancel_all(simulator: SimHandle) -> None:
    async with simulator.authed() as c:
        await c.post("/orders", json=simulator.order(client_id="a"))
        await c.post("/orders", json=simulator.order(client_id="b"))
        await c.post("/orders", json=simulator.order(price="60001", market="BTC-USD-PERP"))
        simulator.venue.process_now()
        assert (await c.delete("/orders/by_client_id/a")).status_code == 204
        unknown = await c.delete("/orders/by_client_id/zzz")
        simulator.venue.process_now()
        assert len((await c.get("/orders")).json()["results"]) == 2
        assert (await c.delete("/orders", params={"market": "BTC-USD-PERP"})).status_code == 200
        simulator.venue.process_now()
        assert (await c.get("/orders")).json()["results"] == []
    assert unknown.json()["error"] == "CLIENT_ORDER_ID_NOT_FOUND"


async def test_duplicate_live_client_id_is_rejected(simulator: SimHandle) -> None:
    async with simulator.authed() as c:
        assert (await c.post("/orders", json=simulator.order(client_id="dup"))).status_code == 201
        resp = await c.post("/orders", json=simulator.order(client_id="dup"))
    assert resp.status_code == 400 and resp.json()["error"] == "DUPLICATED_CLIENT_ID"


@pytest.mark.parametrize(
    ("mutate", "status", "code"),
    [
        (lambda b: b.update(signature='["1","2"]'), 400, "INVALID_ORDER_SIGNATURE"),
        (lambda b: b.update(size="0.02"), 400, "INVALID_ORDER_SIGNATURE"),  # signed 0.01
        (lambda b: b.update(market="NOPE-USD-PERP"), 404, "MARKET_NOT_FOUND"),
        (lambda b: b.update(side="HOLD"), 400, "VALIDATION_ERROR"),
        (lambda b: b.pop("signature"), 400, "VALIDATION_ERROR"),
        (lambda b: b.update(size="abc"), 400, "VALIDATION_ERROR"),
    ],
)
async def test_bad_order_bodies_get_the_venue_code(
    simulator: SimHandle, mutate: Callable[[dict[str, Any]], object], status: int, code: str
) -> None:
    body = simulator.order()
    mutate(body)
    async with simulator.authed() as c:
        resp = await c.post("/orders", json=body)
    assert (resp.status_code, resp.json()["error"]) == (status, code)
    assert simulator.exchange.open_orders(simulator.account) == []


async def test_malformed_json_body_is_validation_error(simulator: SimHandle) -> None:
    async with simulator.authed() as c:
        resp = await c.post("/orders", content=b"{not json", headers={"content-type": "application/json"})
    assert resp.status_code == 400 and resp.json()["error"] == "VALIDATION_ERROR"


async def test_signature_check_can_be_switched_off_for_paper_trading(simulator_factory: SimFactory) -> None:
    sim = await simulator_factory(verify_signatures=False)
    body = sim.order()
    body["signature"] = '["1","2"]'
    async with sim.authed() as c:
        assert (await c.post("/orders", json=body)).status_code == 201


@pytest.mark.parametrize(
    ("state", "instruction", "code"),
    [("cancel_only", "GTC", "SYSTEM_STATUS_CANCEL_ONLY"), ("post_only", "GTC", "SYSTEM_STATUS_POST_ONLY")],
)
async def test_system_state_rejects_new_orders(
    simulator: SimHandle, state: str, instruction: str, code: str
) -> None:
    simulator.venue.set_system_status(state)
    async with simulator.authed() as c:
        resp = await c.post("/orders", json=simulator.order(instruction=instruction))
        post_only = await c.post("/orders", json=simulator.order(instruction="POST_ONLY"))
    assert resp.status_code == 400 and resp.json()["error"] == code
    assert post_only.status_code == (201 if state == "post_only" else 400)


async def test_batch_accepts_valid_orders_and_reports_per_order_errors(simulator: SimHandle) -> None:
    sim = simulator
    batch = [sim.order(client_id="x1"), sim.order(client_id="x1"), sim.order(price="60000.05")]
    async with sim.authed() as c:
        resp = await c.post("/orders/batch", json=batch)
        bad_sig = [sim.order(), {**sim.order(), "signature": '["1","2"]'}]
        rejected = await c.post("/orders/batch", json=bad_sig)
        empty = await c.post("/orders/batch", json=[])
    assert resp.status_code == 201
    result = decode(BatchOrderResponse, resp.content)
    assert [o.client_id for o in result.orders] == ["x1"]
    assert sorted(e.error for e in result.errors) == ["DUPLICATED_CLIENT_ID", "INVALID_PRICE_PRECISION"]
    assert rejected.status_code == 400 and rejected.json()["error"] == "INVALID_ORDER_SIGNATURE"
    assert len(sim.exchange.open_orders(sim.account)) == 1  # nothing of the rejected batch was placed
    assert empty.status_code == 400 and empty.json()["error"] == "BATCH_SIZE_OUT_OF_RANGE"


async def test_batch_cancel_reports_each_id(simulator: SimHandle) -> None:
    async with simulator.authed() as c:
        live = decode(Order, (await c.post("/orders", json=simulator.order(client_id="k"))).content)
        gone = decode(Order, (await c.post("/orders", json=simulator.order())).content)
        simulator.venue.process_now()
        await c.delete(f"/orders/{gone.id}")
        simulator.venue.process_now()
        resp = await c.request("DELETE", "/orders/batch",
                               json={"order_ids": [live.id, gone.id, "123"], "client_order_ids": ["nope"]})
    statuses = [r.status for r in decode(CancelBatchResponse, resp.content).results]
    assert resp.status_code == 200
    assert statuses == ["QUEUED_FOR_CANCELLATION", "ALREADY_CLOSED", "NOT_FOUND", "NOT_FOUND"]


async def test_modify_keeps_id_and_applies_new_price(simulator: SimHandle) -> None:
    sim = simulator
    async with sim.authed() as c:
        new = decode(Order, (await c.post("/orders", json=sim.order("BUY", "0.01", "60000"))).content)
        await _wait_status(c, new.id, "OPEN")
        resp = await c.put(f"/orders/{new.id}", json=sim.modify(new.id, "BUY", "0.02", "60001"))
        assert resp.status_code == 200 and resp.json()["id"] == new.id
        sim.venue.process_now()
        after = decode(Order, (await c.get(f"/orders/{new.id}")).content)
        bad = sim.modify(new.id, "BUY", "0.02", "60002")
        bad["price"] = "60003"
        refused = await c.put(f"/orders/{new.id}", json=bad)
    assert (after.price, after.size) == (Decimal("60001"), Decimal("0.02"))
    assert refused.status_code == 400 and refused.json()["error"] == "INVALID_ORDER_SIGNATURE"


async def test_unknown_order_id_is_not_found(simulator: SimHandle) -> None:
    async with simulator.authed() as c:
        got = await c.get("/orders/42")
        cancel = await c.delete("/orders/42")
    assert got.json()["error"] == "ORDER_ID_NOT_FOUND" and cancel.json()["error"] == "ORDER_ID_NOT_FOUND"


async def test_orders_history_filters_and_paginates(simulator: SimHandle) -> None:
    async with simulator.authed() as c:
        ids = [decode(Order, (await c.post("/orders", json=simulator.order(client_id=f"h{i}"))).content).id
               for i in range(5)]
        simulator.venue.process_now()
        await c.delete(f"/orders/{ids[0]}")
        simulator.venue.process_now()
        seen: list[str] = []
        cursor = None
        while True:
            params = {"page_size": 2, **({"cursor": cursor} if cursor else {})}
            page = decode(Page[Order], (await c.get("/orders-history", params=params)).content)
            seen += [o.id for o in page.results]
            cursor = page.next
            if cursor is None:
                break
        closed = decode(Page[Order], (await c.get("/orders-history", params={"status": "CLOSED"})).content)
        by_cid = decode(Page[Order], (await c.get("/orders-history", params={"client_id": "h3"})).content)
    assert seen == list(reversed(ids))
    assert [o.id for o in closed.results] == [ids[0]]
    assert [o.id for o in by_cid.results] == [ids[3]]
