"""Spec walk over REST: EVERY route the simulator serves is called and its answer checked against
``openapi.json``: valid, and complete (every property the schema lists is present, nothing it
does not list; exemptions with reasons in :mod:`tests.simulator.specwalk`).

``PROBES`` holds one call per served route (method, route template); a route without a probe
fails :func:`test_every_served_route_is_probed`, so a new route cannot skip the walk. Each probe
runs on a fresh simulator holding a resting order (``maker``, client id ``m``) and a filled one
(``taker``). Spec quirks: the venue writes ``"next"/"prev": null`` at the ends of a page and
``"data": null`` in errors, which OpenAPI 3.0 (no ``nullable``) cannot express; those nulls are
checked to be the only nulls and then left out of the schema check. Routes the spec documents
without a success schema (``/markets/klines``) are checked against the reference clients'
reading, stated in the probe.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from shared.paradex.signer import OrderSigner
from tests.simfixture import SimHandle
from tests.simulator.specwalk import SchemaWalker
from tests.spec import load_spec

pytestmark = pytest.mark.spec

NULLABLE = frozenset({"next", "prev", "data"})
NEWCOMER_KEY = "0x5f3d5b4ab4b7e6c4a2ab3c3f8f5e9f1e9a7c6b5d4e3f2a1b0c9d8e7f6a5b4c3"

Ids = dict[str, str]
Body = Callable[[SimHandle, Ids], Any]
Check = Callable[[Any], None]


@dataclass(frozen=True)
class Probe:
    """One call: ``url`` is formatted with the ids; ``spec`` names the OpenAPI path if it differs."""

    method: str
    route: str
    url: str
    status: int
    body: Body | None = None
    headers: Callable[[SimHandle], dict[str, str]] | None = None
    check: Check | None = None  # for routes the spec gives no success schema

    @property
    def name(self) -> str:
        return f"{self.method} {self.route}"


def _onboarding_headers(sim: SimHandle) -> dict[str, str]:
    signer = OrderSigner(NEWCOMER_KEY, "0x" + "ab" * 31, sim.chain_id)
    return {"PARADEX-STARKNET-ACCOUNT": signer.account, "PARADEX-ETHEREUM-ACCOUNT": "0x0",
            "PARADEX-STARKNET-SIGNATURE": signer.sign_onboarding()}


def _newcomer_key(sim: SimHandle, ids: Ids) -> Any:
    return {"public_key": hex(OrderSigner(NEWCOMER_KEY, "0x" + "ab" * 31, sim.chain_id).public_key)}


def _klines(body: Any) -> None:
    """ccxt and paradex-py read ``{"results": [[ts, open, high, low, close, volume], ...]}``."""
    assert set(body) == {"results"} and body["results"], body
    for candle in body["results"]:
        assert len(candle) == 6 and isinstance(candle[0], int)
        assert all(isinstance(x, int | float) for x in candle[1:]), candle
        assert candle[3] <= min(candle[1], candle[4]) <= max(candle[1], candle[4]) <= candle[2]


def _algo_body(sim: SimHandle, ids: Ids | None = None) -> Any:
    """A signed TWAP (``POST /algo/orders``): signed like a MARKET order of the same size."""
    ts = int(time.time() * 1000)
    return {"algo_type": "TWAP", "market": "BTC-USD-PERP", "side": "BUY", "type": "MARKET", "size": "0.04",
            "duration_seconds": 120, "frequency": 30, "signature_timestamp": ts,
            "signature": sim.signer.sign_order("BTC-USD-PERP", "BUY", "MARKET", "0.04", "0", ts)}


NOW = "{now}"
PROBES: list[Probe] = [
    Probe("GET", "/system/config", "/system/config", 200),
    Probe("GET", "/system/time", "/system/time", 200),
    Probe("GET", "/system/state", "/system/state", 200),
    Probe("GET", "/markets", "/markets", 200),
    Probe("GET", "/markets/summary", "/markets/summary?market=ALL", 200),
    Probe("GET", "/orderbook/{market}", "/orderbook/BTC-USD-PERP", 200),
    Probe("GET", "/bbo/{market}", "/bbo/BTC-USD-PERP", 200),
    Probe("GET", "/trades", "/trades?market=BTC-USD-PERP", 200),
    Probe("GET", "/onboarding", "/onboarding?account_signer_type=starknet&public_key=0x1", 200),
    Probe("POST", "/onboarding", "/onboarding", 200, body=_newcomer_key, headers=_onboarding_headers),
    Probe("POST", "/auth", "/auth", 200, headers=lambda sim: sim.auth_headers()),
    Probe("POST", "/auth/{public_key}", "/auth/{public_key}", 200, headers=lambda sim: sim.auth_headers()),
    Probe("POST", "/orders", "/orders", 201, body=lambda sim, ids: sim.order(client_id="new")),
    Probe("POST", "/orders/batch", "/orders/batch", 201,
          body=lambda sim, ids: [sim.order(), sim.order(client_id="m")]),
    Probe("DELETE", "/orders/batch", "/orders/batch", 200,
          body=lambda sim, ids: {"order_ids": [ids["maker"], ids["taker"], "1"]}),
    Probe("DELETE", "/orders/by_client_id/{client_id}", "/orders/by_client_id/m", 204),
    Probe("GET", "/orders/by_client_id/{client_id}", "/orders/by_client_id/m", 200),
    Probe("DELETE", "/orders", "/orders", 200),
    Probe("GET", "/orders", "/orders", 200),
    Probe("PUT", "/orders/{order_id}", "/orders/{maker}", 200,
          body=lambda sim, ids: sim.modify(ids["maker"], "BUY", "0.02", "60000")),
    Probe("DELETE", "/orders/{order_id}", "/orders/{maker}", 204),
    Probe("GET", "/orders/{order_id}", "/orders/{maker}", 200),
    Probe("GET", "/orders-history", "/orders-history", 200),
    Probe("GET", "/fills", "/fills", 200),
    Probe("GET", "/positions", "/positions", 200),
    Probe("GET", "/account", "/account", 200),
    Probe("GET", "/balance", "/balance", 200),
    Probe("GET", "/markets/klines",
          "/markets/klines?symbol=BTC-USD-PERP&resolution=1&start_at=0&end_at={now}", 200, check=_klines),
    Probe("GET", "/orderbook/{market}/impact-price", "/orderbook/BTC-USD-PERP/impact-price?size=0.5", 200),
    Probe("GET", "/orderbook/{market}/interactive", "/orderbook/BTC-USD-PERP/interactive", 200),
    Probe("GET", "/bbo/{market}/interactive", "/bbo/BTC-USD-PERP/interactive", 200),
    Probe("GET", "/funding/data", "/funding/data?market=BTC-USD-PERP", 200),
    Probe("GET", "/account/info", "/account/info", 200),
    Probe("GET", "/account/history", "/account/history?type=value", 200),
    Probe("GET", "/account/summary", "/account/summary", 200),
    Probe("GET", "/account/subaccounts", "/account/subaccounts", 200),
    Probe("GET", "/account/margin", "/account/margin?market=BTC-USD-PERP", 200),
    Probe("POST", "/account/margin/{market}", "/account/margin/BTC-USD-PERP", 200,
          body=lambda sim, ids: {"leverage": 10, "margin_type": "CROSS"}),
    Probe("GET", "/tradebusts", "/tradebusts", 200),
    Probe("GET", "/funding/payments", "/funding/payments?market=BTC-USD-PERP", 200),
    Probe("GET", "/liquidations", "/liquidations", 200),
    Probe("POST", "/algo/orders", "/algo/orders", 201, body=_algo_body),
    Probe("GET", "/algo/orders", "/algo/orders", 200),
    Probe("GET", "/algo/orders-history", "/algo/orders-history", 200),
    Probe("GET", "/algo/orders/{algo_id}", "/algo/orders/{algo}", 200),
    Probe("DELETE", "/algo/orders/{algo_id}", "/algo/orders/{algo}", 204),
]


def _served_routes(sim: SimHandle) -> set[str]:
    routes: set[str] = set()
    for route in sim.sim.rest.app.routes:
        path = getattr(route, "path", "")
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                routes.add(f"{method} {path.removeprefix('/v1')}")
    return routes


def test_probes_are_unique() -> None:
    names = [p.name for p in PROBES]
    assert len(names) == len(set(names))


async def test_every_served_route_is_probed(simulator: SimHandle) -> None:
    served = _served_routes(simulator)
    probed = {p.name for p in PROBES}
    assert served - probed == set(), "routes without a spec-walk probe"
    assert probed - served == set(), "probes of routes the simulator does not serve"


async def _state(sim: SimHandle, c: httpx.AsyncClient) -> Ids:
    _, ask = sim.best()
    taker = (await c.post("/orders", json=sim.order("BUY", "0.01", str(ask), client_id="t"))).json()
    maker = (await c.post("/orders", json=sim.order("BUY", "0.01", "60000", client_id="m"))).json()
    algo = (await c.post("/algo/orders", json=_algo_body(sim))).json()
    sim.venue.process_now()
    ex = sim.exchange
    sim.venue.publish([ex.funding_data(m) for m in ex.markets])
    sim.venue.publish(ex.bust_fill(ex.list_fills(sim.account)[-1].id, sim.venue.now_ms()))
    return {"taker": taker["id"], "maker": maker["id"], "algo": algo["id"],
            "public_key": hex(sim.signer.public_key), "now": str(int(time.time() * 1000))}


def _response_schema(spec: dict[str, Any], probe: Probe, status: int) -> dict[str, Any] | None:
    route = "/auth" if probe.route == "/auth/{public_key}" else probe.route
    operation = spec["paths"][route][probe.method.lower()]
    response = operation["responses"].get(str(status))
    assert response is not None, f"{probe.name}: status {status} is not documented"
    content = response.get("content", {}).get("application/json")
    return None if content is None else content["schema"]


@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.name)
async def test_route_answers_complete_per_spec(simulator: SimHandle, probe: Probe) -> None:
    sim = simulator
    spec = load_spec("openapi.json")
    walker = SchemaWalker(spec, "#/components/schemas/")
    async with sim.authed() as c:
        ids = await _state(sim, c)
        headers = probe.headers(sim) if probe.headers else None
        if probe.route in ("/onboarding", "/auth", "/auth/{public_key}") and probe.method == "POST":
            del c.headers["Authorization"]
        body = probe.body(sim, ids) if probe.body else None
        resp = await c.request(probe.method, probe.url.format(**ids), json=body, headers=headers)
    assert resp.status_code == probe.status, resp.text
    if probe.check is not None:
        probe.check(resp.json())
        return
    schema = _response_schema(spec, probe, resp.status_code)
    if schema is None:
        assert resp.content == b"", f"{probe.name}: the spec documents no body"
        return
    walker.check(schema, resp.json(), probe.name, NULLABLE)


def test_the_walker_reports_missing_and_unknown_fields() -> None:
    spec = load_spec("openapi.json")
    walker = SchemaWalker(spec, "#/components/schemas/")
    schema = {"$ref": "#/components/schemas/responses.BBOResp"}
    complete = {"market": "X", "seq_no": 1, "bid": "1", "bid_size": "1", "ask": "2", "ask_size": "1",
                "last_updated_at": 1}
    walker.check(schema, complete, "bbo")
    found = walker.walk(schema, {**{k: v for k, v in complete.items() if k != "bid"}, "colour": "red"})
    assert (found.missing, found.extra) == (["$.bid"], ["$.colour"])
