"""Spec walk over the WebSocket: EVERY channel family the simulator serves is subscribed and each
push checked against its AsyncAPI payload schema (valid and complete: every property present,
nothing unlisted, exemptions with reasons in :mod:`tests.simulator.specwalk`); RPC replies are
checked against OpenRPC.

Each channel's payload schema is found from the AsyncAPI channel that documents it (no hard-coded
schema names), ``$ref`` resolved inside the document. Skipped when the spec is absent.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from services.simulator.ws.channels import PRIVATE_FAMILIES, PUBLIC_FAMILIES
from tests.simfixture import SimFactory, SimHandle, ws_client
from tests.simulator.specwalk import SchemaWalker
from tests.spec import load_spec

pytestmark = pytest.mark.spec

BOOK = "/order_book.{market_symbol}.{feed_type}@15@{refresh_rate}[@{price_tick}]"
CHANNELS = {
    "order_book.BTC-USD-PERP.deltas": BOOK,
    "order_book.ETH-USD-PERP.snapshot@15@50ms": BOOK,
    "bbo.BTC-USD-PERP": "/bbo.{market_symbol}",
    "trades.BTC-USD-PERP": "/trades.{market_symbol}",
    "markets_summary": "/markets_summary[.{market_symbol}]",
    "funding_data.BTC-USD-PERP": "/funding_data.{market_symbol}",
    "orders.ALL": "/orders.{market_symbol}",
    "fills.BTC-USD-PERP": "/fills.{market_symbol}",
    "positions": "/positions",
    "account": "/account",
    "balance_events": "/balance_events",
    "tradebusts": "/tradebusts",
    "funding_payments.BTC-USD-PERP": "/funding_payments.{market_symbol}",
}


def _payload_schema(spec_channel: str) -> dict[str, Any]:
    spec = load_spec("asyncapi.yaml")
    payload: dict[str, Any] = spec["channels"][spec_channel]["subscribe"]["message"]["payload"]
    return payload


def test_every_channel_family_is_walked() -> None:
    families = {name.partition(".")[0] for name in CHANNELS}
    assert families == PUBLIC_FAMILIES | PRIVATE_FAMILIES


async def test_every_pushed_channel_matches_its_asyncapi_payload(simulator_factory: SimFactory) -> None:
    sim = await simulator_factory(summary_interval_ms=20)
    _, ask = sim.best()
    async with ws_client(sim, auth=True) as ws, sim.authed() as c:
        for channel in CHANNELS:
            await ws.subscribe(channel)
        await c.post("/orders", json=sim.order("BUY", "0.01", str(ask)))
        await c.post("/orders", json=sim.order("SELL", "0.01", str(ask + 1000)))
        sim.venue.process_now()
        fill = (await ws.next_push("fills.BTC-USD-PERP"))["params"]["data"]
        async with sim.client() as control:
            resp = await control.post(sim.control_url + "/bust", json={"fill_id": fill["id"]})
            assert resp.status_code == 200
            await c.post("/orders", json=sim.order("BUY", "0.01", str(sim.best()[1])))  # a position...
            sim.venue.process_now()
            resp = await control.post(sim.control_url + "/time/advance", json={"ms": 3_600_000})
            assert resp.status_code == 200  # ...that pays funding an hour later
        sim.venue.step_synthetic(5)
        await ws.quiet(0.3)
    walker = SchemaWalker(load_spec("asyncapi.yaml"), "#/components/schemas/")
    seen: dict[str, int] = {}
    for push in [*ws.pushes, {"params": {"channel": "fills.BTC-USD-PERP", "data": fill}}]:
        channel = push["params"]["channel"]
        walker.check(_payload_schema(CHANNELS[channel]), push["params"]["data"], channel)
        seen[channel] = seen.get(channel, 0) + 1
    assert set(seen) == set(CHANNELS), set(CHANNELS) - set(seen)


async def test_push_envelope_has_the_venue_shape(simulator: SimHandle) -> None:
    async with ws_client(simulator) as ws:
        await ws.subscribe("bbo.BTC-USD-PERP")
        simulator.venue.step_synthetic(20)
        push = await ws.next_push("bbo.BTC-USD-PERP")
    assert set(push) == {"jsonrpc", "method", "params"}
    assert push["jsonrpc"] == "2.0" and push["method"] == "subscription"
    assert set(push["params"]) == {"channel", "data"}


def _result_schema(method: str) -> dict[str, Any]:
    spec = load_spec("openrpc.json")
    found = next(m for m in spec["methods"] if m["name"] == method)
    schema: dict[str, Any] = found["result"]["schema"]
    return schema


def _error_codes(method: str) -> set[int]:
    spec = load_spec("openrpc.json")
    found = next(m for m in spec["methods"] if m["name"] == method)
    return {e["code"] for e in found["errors"]}


async def test_rpc_results_and_error_codes_match_openrpc(simulator: SimHandle) -> None:
    async with simulator.client() as c:
        token = await simulator.jwt(c)
    async with ws_client(simulator) as ws:
        auth = await ws.call("auth", {"bearer": token})
        sub = await ws.call("subscribe", {"channel": "trades.ALL"})
        unsub = await ws.call("unsubscribe", {"channel": "trades.ALL"})
        errors = [await ws.call("auth", {"bearer": "x"}), await ws.call("subscribe", {"channel": "x"}),
                  await ws.call("unsubscribe", {"channel": "x"})]
    for method, reply in (("auth", auth), ("subscribe", sub), ("unsubscribe", unsub)):
        jsonschema.Draft7Validator(_result_schema(method)).validate(reply["result"])
    for method, reply in zip(("auth", "subscribe", "unsubscribe"), errors, strict=True):
        assert reply["error"]["code"] in _error_codes(method)
