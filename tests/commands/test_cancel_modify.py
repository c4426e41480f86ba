"""Cancel of an order the venue does not know, and modify rules (simulator with signature
verification, real NATS and Redis)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from shared.bus import CmdCancelRequested, CmdModifyRequested, CmdRejected, subjects
from shared.bus.requests import decode_request
from tests.commands.helpers import Factory, M, Running, auth
from tests.commands.stack import Tap, until
from tests.simfixture import SimHandle


async def lookup_requests(nc: Any) -> list[Any]:
    seen: list[Any] = []

    async def on_req(msg: Any) -> None:
        seen.append(decode_request(msg.data))

    await nc.subscribe(subjects.RECONCILE_REQUEST, cb=on_req)
    return seen


async def test_cancel_of_an_order_the_venue_does_not_know_is_404_with_its_code_and_a_lookup(
    simulator: SimHandle, start_commands: Factory, nc: Any, unique: str
) -> None:
    cmd = await start_commands(simulator)
    tap = await Tap().start(nc, cmd.service.settings.account_token)
    requests = await lookup_requests(nc)
    missing = f"999{int(unique, 16) % 10**9}"
    r = await cmd.client.delete(f"/v1/orders/{missing}", headers=auth("boss"))
    assert r.status_code == 404, r.text
    body = r.json()
    assert (body["status"], body["error"], body["order_id"]) == ("rejected", "ORDER_ID_NOT_FOUND", missing)
    await until(lambda: bool(requests), 3.0, "the lookup request")
    assert [(q.reason, q.order_ids) for q in requests] == [("cancel_not_found", (missing,))]
    assert [e.order_id for e in tap.of(CmdCancelRequested)] == [missing]
    assert tap.of(CmdRejected) == []  # a failed cancel is not a refused order


async def test_cancel_by_client_id_the_venue_does_not_know_is_404(
    simulator: SimHandle, start_commands: Factory, nc: Any, unique: str
) -> None:
    cmd = await start_commands(simulator)
    requests = await lookup_requests(nc)
    cid = f"ghost-{unique}"
    r = await cmd.client.delete(f"/v1/orders/by_client_id/{cid}", headers=auth("boss"))
    assert r.status_code == 404 and r.json()["error"] == "CLIENT_ORDER_ID_NOT_FOUND", r.text
    await until(lambda: bool(requests), 3.0, "the lookup request")
    assert [(q.reason, q.client_ids) for q in requests] == [("cancel_not_found", (cid,))]


async def test_cancel_of_a_closed_order_is_400_with_the_venues_code(
    simulator: SimHandle, start_commands: Factory
) -> None:
    cmd = await start_commands(simulator)
    oid = (await cmd.place()).json()["order_id"]
    assert (await cmd.client.delete(f"/v1/orders/{oid}", headers=auth("mm"))).status_code == 202
    simulator.venue.process_now()
    r = await cmd.client.delete(f"/v1/orders/{oid}", headers=auth("mm"))
    assert r.status_code == 400 and r.json()["error"] == "ORDER_IS_CLOSED", r.text


async def modify(cmd: Running, order_id: str, **change: Any) -> Any:
    body = {"market": M, "side": "BUY", "type": "LIMIT", "size": "0.02", "price": "50000", **change}
    return await cmd.client.put(f"/v1/orders/{order_id}", headers=auth("mm"), json=body)


async def test_modify_changing_side_type_or_market_is_422_before_the_venue(
    simulator: SimHandle, start_commands: Factory, nc: Any
) -> None:
    cmd = await start_commands(simulator)
    tap = await Tap().start(nc, cmd.service.settings.account_token)
    oid = (await cmd.place()).json()["order_id"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"side": "SELL"}, "MODIFY_SIDE_MISMATCH"),
        ({"type": "MARKET", "price": None}, "MODIFY_TYPE_MISMATCH"),
        ({"market": "ETH-USD-PERP", "price": "3000"}, "MODIFY_MARKET_MISMATCH"),
    ]
    for change, error in cases:
        r = await modify(cmd, oid, **change)
        assert r.status_code == 422, (change, r.text)
        assert (r.json()["error"], r.json()["rule"]) == (error, "modify_unchanged_fields")
    assert tap.of(CmdModifyRequested) == []
    venue = simulator.exchange.orders_history(simulator.account)
    assert [(str(o.side), Decimal(o.size)) for o in venue if o.id == oid] == [("BUY", Decimal("0.01"))]
    ok = await modify(cmd, oid)
    assert ok.status_code == 200, ok.text
    await until(lambda: bool(tap.of(CmdModifyRequested)), 3.0, "CmdModifyRequested")
