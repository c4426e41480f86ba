"""Definite, ambiguous and not-sent outcomes, per class and per operation (place, batch, cancel,
cancel by client id, batch cancel, cancel-all, modify), against the simulator's fault API and a
proxy that refuses connections; real NATS and Redis.

A rejection is only what proves the venue did not act (a 4xx with a venue error body). A 5xx is
ambiguous even when nothing was executed: the answer proves nothing, so a lookup decides.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from shared.bus import (
    CmdAccepted,
    CmdCancelFailed,
    CmdCancelUnknown,
    CmdModifyFailed,
    CmdModifyUnknown,
    CmdNotSent,
    CmdRejected,
    CmdUnknown,
    subjects,
)
from shared.bus.requests import decode_request
from tests.commands.helpers import Factory, M, Running, auth
from tests.commands.proxy import Proxy
from tests.commands.stack import Tap, until
from tests.simfixture import SimHandle


async def fault(sim: SimHandle, method: str, path: str, status: int, *, execute: bool = False) -> None:
    """The next ``method path*`` request is answered ``status`` (after being carried out if
    ``execute``)."""
    body = {"kind": "status", "status": status, "path": path, "method": method, "execute": execute}
    async with httpx.AsyncClient(base_url=sim.control_url) as ctl:
        assert (await ctl.post("/rest/errors", json=body)).status_code == 200


async def lookups(nc: Any) -> list[Any]:
    seen: list[Any] = []

    async def on_req(msg: Any) -> None:
        seen.append(decode_request(msg.data))

    await nc.subscribe(subjects.RECONCILE_REQUEST, cb=on_req)
    return seen


def at_venue(sim: SimHandle, cid: str) -> list[Any]:
    return [o for o in sim.exchange.orders_history(sim.account) if o.client_id == cid]


def is_open(sim: SimHandle, order_id: str) -> bool:
    sim.venue.process_now()
    return any(o.id == order_id for o in sim.exchange.open_orders(sim.account))


@pytest.fixture
async def proxy(simulator: SimHandle) -> AsyncIterator[Proxy]:
    p = await Proxy(simulator.rest_url).accept()
    try:
        yield p
    finally:
        await p.refuse()


async def cut(p: Proxy) -> None:
    await p.refuse()
    await asyncio.sleep(0.05)  # the client's pooled connections see the EOF


# ------------------------------------------------------------------------------------ place


@pytest.mark.parametrize("execute", [True, False])
async def test_place_answered_503_is_unknown_never_rejected_and_looked_up(
    simulator: SimHandle, start_commands: Factory, nc: Any, unique: str, execute: bool
) -> None:
    cmd = await start_commands(simulator)
    tap = await Tap().start(nc, cmd.service.settings.account_token)
    requests = await lookups(nc)
    await fault(simulator, "POST", "/v1/orders", 503, execute=execute)
    cid = f"mm-503-{unique}"
    r = await cmd.place(client_id=cid)
    assert r.status_code == 202 and r.json()["status"] == "unknown", r.text
    await until(lambda: bool(tap.of(CmdUnknown, cid)) and bool(requests), 3.0, "CmdUnknown + lookup")
    assert tap.of(CmdRejected, cid) == [] and tap.of(CmdAccepted, cid) == []
    assert any(q.client_ids == (cid,) for q in requests)
    assert len(at_venue(simulator, cid)) == (1 if execute else 0)
    again = await cmd.place(client_id=cid)  # never re-sent: the stored unknown is replayed
    assert again.json()["status"] == "unknown" and len(at_venue(simulator, cid)) == (1 if execute else 0)


@pytest.mark.parametrize(("status", "code"), [(400, "INTERNAL_ERROR"), (429, "TOO_MANY_REQUESTS")])
async def test_place_refused_with_a_venue_4xx_body_is_a_definite_rejection(
    simulator: SimHandle, start_commands: Factory, nc: Any, unique: str, status: int, code: str
) -> None:
    cmd = await start_commands(simulator)
    tap = await Tap().start(nc, cmd.service.settings.account_token)
    await fault(simulator, "POST", "/v1/orders", status)
    cid = f"mm-4xx-{unique}"
    r = await cmd.place(client_id=cid)
    assert r.status_code == (429 if status == 429 else 400), r.text
    assert (r.json()["status"], r.json()["error"], r.json()["http_status"]) == ("rejected", code, status)
    await until(lambda: bool(tap.of(CmdRejected, cid)), 3.0, "CmdRejected")
    assert tap.of(CmdRejected, cid)[0].http_status == status and tap.of(CmdUnknown, cid) == []


async def test_place_not_sent_is_503_saying_so_and_the_same_client_id_then_places_once(
    simulator: SimHandle, start_commands: Factory, proxy: Proxy, nc: Any, unique: str
) -> None:
    cmd = await start_commands(simulator, paradex_rest_url=proxy.url)
    tap = await Tap().start(nc, cmd.service.settings.account_token)
    await cut(proxy)
    cid = f"mm-ns-{unique}"
    r = await cmd.place(client_id=cid)
    assert r.status_code == 503, r.text
    body = r.json()
    assert (body["status"], body["error"], body["client_id"]) == ("not_sent", "VENUE_NOT_REACHED", cid)
    assert "same client_id" in body["message"] and int(r.headers["Retry-After"]) >= 1
    assert isinstance(body["seq"], int)  # its CmdSubmitted is on the stream, then its CmdNotSent
    await until(lambda: bool(tap.of(CmdNotSent, cid)), 3.0, "CmdNotSent")
    assert tap.of(CmdUnknown, cid) == [] and tap.of(CmdRejected, cid) == []
    assert at_venue(simulator, cid) == []
    await proxy.accept()
    again = await cmd.place(client_id=cid)  # the record was released: this one is sent
    assert again.status_code == 201 and "Idempotent-Replay" not in again.headers, again.text
    assert len(at_venue(simulator, cid)) == 1


# ------------------------------------------------------------------------------------ batch


def items(cids: list[str]) -> list[dict[str, Any]]:
    return [{"market": M, "side": "BUY", "size": "0.01", "price": "50000", "client_id": c} for c in cids]


async def test_batch_answered_503_after_executing_is_unknown_per_item_with_one_lookup(
    simulator: SimHandle, start_commands: Factory, nc: Any, unique: str
) -> None:
    cmd = await start_commands(simulator)
    tap = await Tap().start(nc, cmd.service.settings.account_token)
    requests = await lookups(nc)
    await fault(simulator, "POST", "/v1/orders/batch", 503, execute=True)
    cids = [f"mm-b503-{i}-{unique}" for i in range(3)]
    r = await cmd.client.post("/v1/orders/batch", headers=auth("mm"), json={"orders": items(cids)})
    assert [x["reply"]["status"] for x in r.json()["results"]] == ["unknown"] * 3, r.text
    await until(lambda: len(tap.of(CmdUnknown)) >= 3 and bool(requests), 3.0, "CmdUnknown each + lookup")
    assert [sorted(q.client_ids) for q in requests] == [sorted(cids)]
    assert tap.of(CmdRejected) == [] and all(len(at_venue(simulator, c)) == 1 for c in cids)


async def test_batch_not_sent_is_503_per_item_and_the_same_ids_then_place_once(
    simulator: SimHandle, start_commands: Factory, proxy: Proxy, nc: Any, unique: str
) -> None:
    cmd = await start_commands(simulator, paradex_rest_url=proxy.url)
    tap = await Tap().start(nc, cmd.service.settings.account_token)
    await cut(proxy)
    cids = [f"mm-bns-{i}-{unique}" for i in range(3)]
    r = await cmd.client.post("/v1/orders/batch", headers=auth("mm"), json={"orders": items(cids)})
    assert r.status_code == 503, r.text
    assert [(x["http_status"], x["reply"]["status"]) for x in r.json()["results"]] == [(503, "not_sent")] * 3
    await until(lambda: len(tap.of(CmdNotSent)) == 3, 3.0, "CmdNotSent each")
    await proxy.accept()
    again = await cmd.client.post("/v1/orders/batch", headers=auth("mm"), json={"orders": items(cids)})
    assert [x["http_status"] for x in again.json()["results"]] == [201] * 3, again.text
    assert all(len(at_venue(simulator, c)) == 1 for c in cids)


# ------------------------------------------------------------------------ cancel and modify


async def cancel_by(cmd: Running, how: str, oid: str, cid: str) -> httpx.Response:
    if how == "cancel":
        return await cmd.client.delete(f"/v1/orders/{oid}", headers=auth("mm"))
    if how == "by_client_id":
        return await cmd.client.delete(f"/v1/orders/by_client_id/{cid}", headers=auth("mm"))
    if how == "batch":
        return await cmd.client.request(
            "DELETE", "/v1/orders/batch", headers=auth("mm"), json={"order_ids": [oid]}
        )
    return await cmd.client.delete("/v1/orders", params={"market": M}, headers=auth("boss"))


HOWS = ["cancel", "by_client_id", "batch", "all"]


async def placed(cmd: Running, unique: str, how: str) -> tuple[str, str]:
    r = await cmd.place(client_id=f"mm-c-{how}-{unique}")
    assert r.status_code == 201, r.text
    # the exposure view sees the order before cancel-all (which cancels the live orders it knows)
    await until(lambda: r.json()["client_id"] in cmd.service.exposure.exposure.orders, 3.0, "live order")
    return r.json()["order_id"], r.json()["client_id"]


@pytest.mark.parametrize("how", HOWS)
async def test_cancel_answered_503_after_executing_is_unknown_with_its_event_and_a_lookup(
    simulator: SimHandle, start_commands: Factory, nc: Any, unique: str, how: str
) -> None:
    cmd = await start_commands(simulator)
    tap = await Tap().start(nc, cmd.service.settings.account_token)
    requests = await lookups(nc)
    oid, cid = await placed(cmd, unique, how)
    await fault(simulator, "DELETE", "/v1/orders", 503, execute=True)
    r = await cancel_by(cmd, how, oid, cid)
    assert r.status_code == 202 and r.json()["status"] == "unknown", r.text
    await until(lambda: bool(tap.of(CmdCancelUnknown)) and bool(requests), 3.0, "CmdCancelUnknown + lookup")
    assert tap.of(CmdCancelFailed) == []
    assert {e.order_id or e.client_id for e in tap.of(CmdCancelUnknown)} & {oid, cid}
    assert requests[0].reason == "cancel_unknown"
    if how != "all":
        assert oid in requests[0].order_ids or cid in requests[0].client_ids
    assert not is_open(simulator, oid)  # the venue did cancel it


@pytest.mark.parametrize("how", HOWS)
async def test_cancel_refused_with_a_venue_4xx_publishes_cancel_failed_and_the_order_stays_open(
    simulator: SimHandle, start_commands: Factory, nc: Any, unique: str, how: str
) -> None:
    cmd = await start_commands(simulator)
    tap = await Tap().start(nc, cmd.service.settings.account_token)
    oid, cid = await placed(cmd, unique, how)
    await fault(simulator, "DELETE", "/v1/orders", 400)
    r = await cancel_by(cmd, how, oid, cid)
    assert r.status_code == 400 and r.json()["status"] == "rejected", r.text
    await until(lambda: bool(tap.of(CmdCancelFailed)), 3.0, "CmdCancelFailed")
    failed = tap.of(CmdCancelFailed)
    assert {e.order_id or e.client_id for e in failed} & {oid, cid}
    assert all((e.code, e.http_status) == ("INTERNAL_ERROR", 400) for e in failed)
    assert tap.of(CmdCancelUnknown) == [] and is_open(simulator, oid)
    r = await cancel_by(cmd, how, oid, cid)  # then a real cancel works
    assert r.status_code in (200, 202), r.text
    assert not is_open(simulator, oid)


async def test_cancel_not_sent_is_503_and_publishes_cancel_failed_not_sent(
    simulator: SimHandle, start_commands: Factory, proxy: Proxy, nc: Any, unique: str
) -> None:
    cmd = await start_commands(simulator, paradex_rest_url=proxy.url)
    tap = await Tap().start(nc, cmd.service.settings.account_token)
    oid, _ = await placed(cmd, unique, "ns")
    await cut(proxy)
    r = await cmd.client.delete(f"/v1/orders/{oid}", headers=auth("mm"))
    assert r.status_code == 503 and r.json()["status"] == "not_sent", r.text
    assert r.json()["error"] == "VENUE_NOT_REACHED" and r.headers["Retry-After"]
    await until(lambda: bool(tap.of(CmdCancelFailed)), 3.0, "CmdCancelFailed")
    assert [(e.order_id, e.code) for e in tap.of(CmdCancelFailed)] == [(oid, "NOT_SENT")]
    assert is_open(simulator, oid)
    await proxy.accept()
    assert (await cmd.client.delete(f"/v1/orders/{oid}", headers=auth("mm"))).status_code == 202
    assert not is_open(simulator, oid)


async def modify(cmd: Running, oid: str, size: str = "0.02") -> httpx.Response:
    body = {"market": M, "side": "BUY", "type": "LIMIT", "size": size, "price": "50000"}
    return await cmd.client.put(f"/v1/orders/{oid}", headers=auth("mm"), json=body)


async def test_modify_answered_503_is_unknown_with_its_event_and_a_lookup(
    simulator: SimHandle, start_commands: Factory, nc: Any, unique: str
) -> None:
    cmd = await start_commands(simulator)
    tap = await Tap().start(nc, cmd.service.settings.account_token)
    requests = await lookups(nc)
    oid, _ = await placed(cmd, unique, "m503")
    await fault(simulator, "PUT", "/v1/orders", 503, execute=True)
    r = await modify(cmd, oid)
    assert r.status_code == 202 and r.json()["status"] == "unknown", r.text
    await until(lambda: bool(tap.of(CmdModifyUnknown)) and bool(requests), 3.0, "CmdModifyUnknown")
    assert [e.order_id for e in tap.of(CmdModifyUnknown)] == [oid] and tap.of(CmdModifyFailed) == []
    assert requests[0].reason == "modify_unknown" and requests[0].order_ids == (oid,)


async def test_modify_refused_with_a_venue_4xx_publishes_modify_failed(
    simulator: SimHandle, start_commands: Factory, nc: Any, unique: str
) -> None:
    cmd = await start_commands(simulator)
    tap = await Tap().start(nc, cmd.service.settings.account_token)
    oid, _ = await placed(cmd, unique, "m4xx")
    await fault(simulator, "PUT", "/v1/orders", 400)
    r = await modify(cmd, oid)
    assert r.status_code == 400 and r.json()["status"] == "rejected", r.text
    await until(lambda: bool(tap.of(CmdModifyFailed)), 3.0, "CmdModifyFailed")
    assert [(e.order_id, e.code, e.http_status) for e in tap.of(CmdModifyFailed)] == [
        (oid, "INTERNAL_ERROR", 400)
    ]
    assert tap.of(CmdModifyUnknown) == []


async def test_modify_not_sent_is_503_and_publishes_modify_failed_not_sent(
    simulator: SimHandle, start_commands: Factory, proxy: Proxy, nc: Any, unique: str
) -> None:
    cmd = await start_commands(simulator, paradex_rest_url=proxy.url)
    tap = await Tap().start(nc, cmd.service.settings.account_token)
    oid, _ = await placed(cmd, unique, "mns")
    await cut(proxy)
    r = await modify(cmd, oid)
    assert r.status_code == 503 and r.json()["status"] == "not_sent", r.text
    await until(lambda: bool(tap.of(CmdModifyFailed)), 3.0, "CmdModifyFailed")
    assert [(e.order_id, e.code) for e in tap.of(CmdModifyFailed)] == [(oid, "NOT_SENT")]
