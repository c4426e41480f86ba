"""TWAP commands against the simulator (signatures verified, real NATS JetStream and Redis): the
venue's answers classified (lost answer = 202 unknown, never resent; refusal; venue down = 503),
ownership of cancels, and the AlgoEvent each accepted place publishes."""

from __future__ import annotations

import json
from typing import Any

import httpx

from shared.bus import AlgoEvent
from shared.settings import Secret
from tests.commands.helpers import STRATEGIES, Factory, M, auth
from tests.commands.stack import Tap, until
from tests.simfixture import SimHandle

TWAP = {"market": M, "side": "BUY", "size": "0.003", "duration_seconds": 90}


async def _fault(sim: SimHandle, **fault: Any) -> None:
    async with httpx.AsyncClient(base_url=sim.control_url) as ctl:
        assert (await ctl.post("/rest/errors", json=fault)).status_code == 200


async def test_an_accepted_twap_publishes_its_record_with_strategy_and_signature_time(
        simulator: SimHandle, start_commands: Factory, nc: Any) -> None:
    cmd = await start_commands(simulator)
    tap = await Tap().start(nc, cmd.service.settings.account_token)
    r = await cmd.client.post("/v1/algo/orders", json=TWAP, headers=auth("mm"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["X-Stream-Seq"] == str(body["seq"])
    await until(lambda: bool(tap.of(AlgoEvent)), 5.0, "the AlgoEvent")
    ev = tap.of(AlgoEvent)[0]
    assert ev.algo.id == body["algo_id"] and ev.strategy == "mm" and ev.source == "cmd"
    venue = simulator.exchange.get_algo(simulator.account, body["algo_id"])
    assert ev.signature_timestamp and ev.signature_timestamp == simulator.exchange.algos[venue.id].timestamp
    # another strategy may not cancel it; "boss" (can_cancel_others) may
    r = await cmd.client.delete(f"/v1/algo/orders/{body['algo_id']}", headers=auth("arb"))
    assert r.status_code == 403 and r.json()["rule"] == "can_cancel_others", r.text
    r = await cmd.client.delete(f"/v1/algo/orders/{body['algo_id']}", headers=auth("boss"))
    assert r.status_code == 200 and r.json()["strategy"] == "mm", r.text


async def test_a_lost_answer_is_202_unknown_and_the_twap_is_not_sent_twice(
        simulator: SimHandle, start_commands: Factory) -> None:
    cmd = await start_commands(simulator)
    await _fault(simulator, kind="hang", path="/v1/algo/orders", method="POST", execute=True, hang_ms=3000)
    r = await cmd.client.post("/v1/algo/orders", json=TWAP, headers=auth("mm"))
    assert r.status_code == 202 and r.json()["status"] == "unknown", r.text
    assert "GET /v1/algo/orders" in r.json()["message"]
    assert len(simulator.exchange.open_algos(simulator.account)) == 1  # executed once, not resent
    listed = (await cmd.client.get("/v1/algo/orders", headers=auth("mm"))).json()
    assert len(listed["results"]) == 1


async def test_a_venue_error_and_a_refusal_are_answered_as_such(
        simulator: SimHandle, start_commands: Factory) -> None:
    cmd = await start_commands(simulator)
    await _fault(simulator, kind="status", status=503, path="/v1/algo/orders", method="POST")
    r = await cmd.client.post("/v1/algo/orders", json=TWAP, headers=auth("mm"))
    assert r.status_code in (202, 503), r.text  # a 5xx may have acted: unknown, or not sent
    assert r.json()["status"] in ("unknown", "not_sent"), r.text
    r = await cmd.client.delete("/v1/algo/orders/999999", headers=auth("boss"))
    assert r.status_code == 404 and r.json()["status"] == "rejected", r.text
    assert r.json()["error"] == "ORDER_ID_NOT_FOUND"


async def test_a_twap_counts_against_the_strategy_max_order_rate_shared_with_its_places(
        simulator: SimHandle, start_commands: Factory) -> None:
    slow = [{**STRATEGIES[0], "max_order_rate": 0.5, "max_order_burst": 2}, *STRATEGIES[1:]]
    cmd = await start_commands(simulator, strategies=Secret(json.dumps(slow)))
    assert (await cmd.place("mm")).status_code == 201
    r = await cmd.client.post("/v1/algo/orders", json=TWAP, headers=auth("mm"))
    assert r.status_code == 201, r.text  # the second order of the burst
    third = await cmd.client.post("/v1/algo/orders", json=TWAP, headers=auth("mm"))
    for refused in (third, await cmd.place("mm")):
        assert refused.status_code == 429 and refused.json()["rule"] == "max_order_rate", refused.text
        assert int(refused.headers["Retry-After"]) >= 1
    assert len(simulator.exchange.open_algos(simulator.account)) == 1  # the refused one was not sent
    r = await cmd.client.post("/v1/algo/orders", json=TWAP, headers=auth("boss"))  # another strategy
    assert r.status_code == 201, r.text
