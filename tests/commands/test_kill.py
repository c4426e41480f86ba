"""The kill switch, per-strategy order rate and max loss (simulator with signatures verified, real
NATS JetStream and Redis)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from shared.bus import KillSwitch
from shared.settings import Secret
from tests.commands.helpers import STRATEGIES, Factory, M, Running, auth
from tests.commands.stack import Tap, until
from tests.simfixture import SimHandle

ADMIN = "admin-token-0123456789"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def open_cids(sim: SimHandle) -> set[str]:
    sim.venue.process_now()
    return {o.client_id for o in sim.exchange.open_orders(sim.account)}


async def kill(cmd: Running, headers: dict[str, str], path: str = "/v1/kill", **body: Any) -> httpx.Response:
    return await cmd.client.post(path, json=body, headers=headers)


async def test_the_admin_kill_cancels_everything_refuses_every_strategy_on_every_replica_until_resumed(
    simulator: SimHandle, start_commands: Factory, nc: Any, unique: str
) -> None:
    cmd = await start_commands(simulator, admin_token=Secret(ADMIN))
    tap = await Tap().start(nc, cmd.service.settings.account_token)
    mm = (await cmd.place("mm", client_id=f"mm-k-{unique}")).json()
    arb = (await cmd.place("arb", client_id=f"arb-k-{unique}", price="10000")).json()
    assert {mm["client_id"], arb["client_id"]} <= open_cids(simulator)

    r = await kill(cmd, bearer(ADMIN), reason="drill")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["active"], body["scope"], body["cancel"]["status"]) == (True, "account", "cancel_requested")
    assert body["seq"] > 0 and r.headers["X-Stream-Seq"] == str(body["seq"])
    assert open_cids(simulator) == set()
    await until(lambda: bool(tap.of(KillSwitch)), 3.0, "the KillSwitch event")
    assert [(e.active, e.strategy, e.by, e.reason) for e in tap.of(KillSwitch)] == [
        (True, "", "admin", "drill")
    ]
    for strategy in ("mm", "arb", "boss"):
        refused = await cmd.place(strategy, price="10000")
        assert refused.status_code == 403 and refused.json()["error"] == "KILL_SWITCH", refused.text
    r = await cmd.client.put(
        f"/v1/orders/{mm['order_id']}",
        headers=auth("mm"),
        json={"market": M, "side": "BUY", "size": "0.02", "price": "50000"},
    )
    assert r.status_code == 403 and r.json()["error"] == "KILL_SWITCH", r.text
    assert (await cmd.client.get("/healthz")).json()["kill_switch"] == {"global": True, "strategies": []}
    # another replica, started now, folds the switch from the stream before serving
    second = await start_commands(simulator, admin_token=Secret(ADMIN))
    assert (await second.place("mm")).json()["error"] == "KILL_SWITCH"

    r = await kill(cmd, bearer(ADMIN), "/v1/resume")
    assert r.status_code == 200 and r.json()["active"] is False, r.text
    assert (await cmd.place("mm", client_id=f"mm-k2-{unique}")).status_code == 201
    await until(lambda: second.service.kill_state.global_active is False, 3.0, "the resume on the replica")
    assert (await second.place("mm", client_id=f"mm-k3-{unique}")).status_code == 201


async def test_a_strategy_kills_and_resumes_only_itself(
    simulator: SimHandle, start_commands: Factory, unique: str
) -> None:
    cmd = await start_commands(simulator, admin_token=Secret(ADMIN))
    await cmd.place("mm", client_id=f"mm-s-{unique}")
    await cmd.place("arb", client_id=f"arb-s-{unique}", price="10000")
    r = await kill(cmd, auth("mm"), strategy="arb")
    assert r.status_code == 403 and r.json()["error"] == "NOT_STRATEGY_OWNER", r.text
    r = await kill(cmd, auth("mm"))
    assert (r.status_code, r.json()["scope"], r.json()["strategy"]) == (200, "strategy", "mm"), r.text
    assert open_cids(simulator) == {f"arb-s-{unique}"}
    assert (await cmd.place("mm")).json()["error"] == "KILL_SWITCH"
    assert (await cmd.place("arb", price="10000")).status_code == 201
    # the admin kill of one strategy, and its resume, name it
    r = await kill(cmd, bearer(ADMIN), strategy="arb")
    assert r.status_code == 200 and (await cmd.place("arb", price="10000")).json()["error"] == "KILL_SWITCH"
    assert (await kill(cmd, bearer(ADMIN), "/v1/resume", strategy="arb")).status_code == 200
    assert (await kill(cmd, auth("mm"), "/v1/resume")).status_code == 200
    assert (await cmd.place("mm")).status_code == 201
    # no longer killed (without a state service here, arb's cancelled orders still count in its limits)
    assert (await cmd.place("arb", price="10000")).json().get("error") != "KILL_SWITCH"
    assert (await cmd.client.post("/v1/kill", headers=bearer("not-the-admin-token-000"))).status_code == 401


async def test_a_strategy_max_order_rate_is_429_for_it_alone(
    simulator: SimHandle, start_commands: Factory
) -> None:
    slow = [{**STRATEGIES[0], "max_order_rate": 0.5, "max_order_burst": 2}, *STRATEGIES[1:]]
    cmd = await start_commands(simulator, strategies=Secret(json.dumps(slow)))
    codes = [(await cmd.place("mm")).status_code for _ in range(3)]
    assert codes[:2] == [201, 201] and codes[2] == 429, codes
    r = await cmd.place("mm")
    assert r.json()["rule"] == "max_order_rate" and int(r.headers["Retry-After"]) >= 1
    assert (await cmd.place("boss")).status_code == 201


async def test_max_loss_refuses_new_orders_but_reduce_only_once_the_day_loss_reaches_it(
    simulator: SimHandle, start_commands: Factory, start_feed: Any, unique: str
) -> None:
    await start_feed(simulator)
    losing = [{**STRATEGIES[0], "max_loss": "0.2"}, *STRATEGIES[1:]]
    cmd = await start_commands(simulator, strategies=Secret(json.dumps(losing)))
    bid, ask = simulator.best()
    buy = await cmd.place("mm", client_id=f"mm-l-b-{unique}", price=str(ask), instruction="IOC")
    assert buy.status_code == 201, buy.text  # buy at the ask: half the spread and the fee are lost
    sell = await cmd.place("mm", client_id=f"mm-l-s-{unique}", side="SELL", price=str(bid), instruction="IOC")
    assert sell.status_code in (201, 403), sell.text
    await until(
        lambda: cmd.service.pnl.loss("mm", cmd.service.exposure.exposure.prices) >= 0.2,
        5.0,
        "the day's loss past max_loss",
    )
    refused = await cmd.place("mm", price="10000")
    assert refused.status_code == 403 and refused.json()["error"] == "LOSS_LIMIT", refused.text
    assert (await cmd.place("mm", price="10000", flags=["REDUCE_ONLY"])).status_code != 403
    assert (await cmd.place("boss", price="10000")).status_code == 201  # other strategies trade on
