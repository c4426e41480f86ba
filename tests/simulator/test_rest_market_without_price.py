"""A MARKET order without ``price`` (as paradex-py sends it) is accepted; a LIMIT without one is not."""

from __future__ import annotations


async def test_market_order_without_price_is_accepted_and_signed_as_zero(simulator):
    body = simulator.order("BUY", "0.01", "0", type="MARKET", instruction="IOC")
    del body["price"]
    async with simulator.authed() as client:
        resp = await client.post("/orders", json=body)
    assert resp.status_code == 201, resp.text
    assert resp.json()["status"] == "NEW" and resp.json()["type"] == "MARKET"


async def test_limit_order_without_price_is_a_validation_error(simulator):
    body = simulator.order("BUY", "0.01", "0")
    del body["price"]
    async with simulator.authed() as client:
        resp = await client.post("/orders", json=body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"] == "VALIDATION_ERROR"
