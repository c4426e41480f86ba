"""Batch place through the venue's ``POST /orders/batch`` (simulator with signature verification,
real NATS and Redis): one venue request per 10 items, idempotency per item."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from shared.bus import CmdAccepted, CmdRejected, CmdSubmitted, CmdUnknown, subjects
from shared.bus.requests import decode_request
from tests.commands.helpers import Factory, M, Running, auth
from tests.commands.stack import Tap, until
from tests.simfixture import SimHandle


def count_requests(cmd: Running) -> list[tuple[str, str]]:
    """Every (method, path) the service's REST client sends from now on."""
    seen: list[tuple[str, str]] = []
    session = cmd.service.rest.session
    before = session.on_request

    def hook(method: str, path: str, attempt: int) -> None:
        seen.append((method, path))
        if before is not None:
            before(method, path, attempt)

    session.on_request = hook
    return seen


def order_writes(sent: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The order POSTs among ``sent`` (not the JWT's ``POST /auth``)."""
    return [p for p in sent if p[0] == "POST" and p[1].startswith("/orders")]


def item(cid: str, price: str = "50000") -> dict[str, Any]:
    return {"market": M, "side": "BUY", "type": "LIMIT", "size": "0.01", "price": price, "client_id": cid}


async def batch(cmd: Running, orders: list[dict[str, Any]], **extra: Any) -> httpx.Response:
    return await cmd.client.post("/v1/orders/batch", headers=auth("mm"), json={"orders": orders, **extra})


def venue_cids(sim: SimHandle) -> list[str]:
    return [o.client_id for o in sim.exchange.orders_history(sim.account)]


async def test_batch_of_five_is_one_venue_batch_request_with_a_result_and_events_per_item(
    simulator: SimHandle, start_commands: Factory, nc: Any, unique: str
) -> None:
    cmd = await start_commands(simulator)
    tap = await Tap().start(nc, cmd.service.settings.account_token)
    sent = count_requests(cmd)
    cids = [f"mm-b5-{i}-{unique}" for i in range(5)]
    r = await batch(cmd, [item(c) for c in cids])
    assert r.status_code == 201, r.text
    results = r.json()["results"]
    assert [x["http_status"] for x in results] == [201] * 5
    assert [x["reply"]["client_id"] for x in results] == cids
    assert all(x["reply"]["status"] == "accepted" and x["reply"]["order_id"] for x in results)
    assert order_writes(sent) == [("POST", "/orders/batch")]
    assert sorted(c for c in venue_cids(simulator) if c in cids) == sorted(cids)
    await until(lambda: len(tap.of(CmdAccepted)) >= 5, 3.0, "five CmdAccepted")
    for c in cids:
        kinds = [type(e) for e in tap.events if getattr(e, "client_id", None) == c]
        assert kinds == [CmdSubmitted, CmdAccepted], (c, kinds)
    ids = {x["reply"]["client_id"]: x["reply"]["order_id"] for x in results}
    assert {e.client_id: e.order_id for e in tap.of(CmdAccepted)} == ids


async def test_batch_item_with_a_known_client_id_is_replayed_not_resent(
    simulator: SimHandle, start_commands: Factory, unique: str
) -> None:
    cmd = await start_commands(simulator)
    old = f"mm-bdup-old-{unique}"
    first = await cmd.place(client_id=old)
    assert first.status_code == 201
    sent = count_requests(cmd)
    fresh = [f"mm-bdup-{i}-{unique}" for i in range(2)]
    r = await batch(cmd, [item(fresh[0]), item(old), item(fresh[1])])
    results = r.json()["results"]
    assert [x["http_status"] for x in results] == [201, 201, 201], r.text
    assert results[1]["reply"] == first.json()  # the stored reply, byte for byte the same outcome
    assert order_writes(sent) == [("POST", "/orders/batch")]
    assert venue_cids(simulator).count(old) == 1
    assert all(venue_cids(simulator).count(c) == 1 for c in fresh)


async def test_batch_of_twelve_is_split_into_two_venue_requests_and_refuses_repeated_ids(
    simulator: SimHandle, start_commands: Factory, unique: str
) -> None:
    cmd = await start_commands(simulator)
    sent = count_requests(cmd)
    cids = [f"mm-b12-{i}-{unique}" for i in range(12)]
    r = await batch(cmd, [item(c) for c in cids] + [item(cids[0]), item("x", price="50000.05")])
    assert r.status_code == 207
    statuses = [x["http_status"] for x in r.json()["results"]]
    assert statuses == [201] * 12 + [422, 422]
    assert r.json()["results"][12]["reply"]["error"] == "DUPLICATE_CLIENT_ID"
    assert order_writes(sent) == [("POST", "/orders/batch")] * 2
    assert sorted(c for c in venue_cids(simulator) if c in cids) == sorted(cids)


async def test_batch_timeout_gives_unknown_per_item_and_one_lookup_request_never_a_resend(
    simulator: SimHandle, start_commands: Factory, nc: Any, unique: str
) -> None:
    cmd = await start_commands(simulator)
    tap = await Tap().start(nc, cmd.service.settings.account_token)
    requests: list[Any] = []

    async def on_req(msg: Any) -> None:
        requests.append(decode_request(msg.data))

    await nc.subscribe(subjects.RECONCILE_REQUEST, cb=on_req)
    async with httpx.AsyncClient(base_url=simulator.control_url) as ctl:
        fault = {"kind": "hang", "path": "/v1/orders/batch", "method": "POST", "execute": True}
        fault["hang_ms"] = 3000  # past the service's 1 s read timeout
        assert (await ctl.post("/rest/errors", json=fault)).status_code == 200
    cids = [f"mm-bto-{i}-{unique}" for i in range(3)]
    r = await batch(cmd, [item(c) for c in cids])
    assert r.status_code == 202, r.text
    assert [x["reply"]["status"] for x in r.json()["results"]] == ["unknown"] * 3
    await until(lambda: len(tap.of(CmdUnknown)) >= 3, 3.0, "three CmdUnknown")
    assert sorted(e.client_id for e in tap.of(CmdUnknown)) == sorted(cids)
    await until(lambda: bool(requests), 3.0, "the lookup request")
    assert [sorted(q.client_ids) for q in requests] == [sorted(cids)]
    assert sorted(c for c in venue_cids(simulator) if c in cids) == sorted(cids)  # executed once each
    again = await batch(cmd, [item(c) for c in cids])
    assert [x["reply"]["status"] for x in again.json()["results"]] == ["unknown"] * 3
    assert sorted(c for c in venue_cids(simulator) if c in cids) == sorted(cids)


async def test_batch_refused_whole_by_the_venue_rejects_every_item_with_its_error(
    simulator: SimHandle, start_commands: Factory, nc: Any, unique: str
) -> None:
    cmd = await start_commands(simulator)
    tap = await Tap().start(nc, cmd.service.settings.account_token)
    async with httpx.AsyncClient(base_url=simulator.control_url) as ctl:
        fault = {"kind": "status", "status": 400, "path": "/v1/orders/batch", "method": "POST"}
        assert (await ctl.post("/rest/errors", json=fault)).status_code == 200
    cids = [f"mm-brej-{i}-{unique}" for i in range(2)]
    r = await batch(cmd, [item(c) for c in cids])
    results = r.json()["results"]
    assert [(x["http_status"], x["reply"]["status"], x["reply"]["http_status"]) for x in results] == [
        (400, "rejected", 400)
    ] * 2
    await until(lambda: len(tap.of(CmdRejected)) >= 2, 3.0, "two CmdRejected")
    assert sorted(e.client_id for e in tap.of(CmdRejected)) == sorted(cids)
    assert not [c for c in venue_cids(simulator) if c in cids]
    await asyncio.sleep(0)
