"""An unknown outcome resolved through the reconciler (both in-process on the simulator with
signature verification, real NATS JetStream and Redis): the venue executes the order but its answer
never arrives; the lookup finds the truth and the stored reply is corrected from it."""

from __future__ import annotations

from typing import Any

import httpx

from shared.bus import CmdUnknown, LookupResult, decode_event, subjects
from tests.commands.helpers import Factory, Running, auth
from tests.commands.stack import Tap, eventually, until
from tests.simfixture import SimHandle


async def hang_next_post(sim: SimHandle, path: str) -> None:
    """The next POST on ``path`` is carried out by the venue but answered only after 3 s (past the
    service's 1 s read timeout): the outcome is unknown to the service."""
    async with httpx.AsyncClient(base_url=sim.control_url) as ctl:
        fault = {"kind": "hang", "path": path, "method": "POST", "execute": True, "hang_ms": 3000}
        assert (await ctl.post("/rest/errors", json=fault)).status_code == 200


async def record(cmd: Running, cid: str, strategy: str = "mm") -> httpx.Response:
    return await cmd.client.get(f"/v1/commands/{cid}", headers=auth(strategy))


async def test_unknown_place_is_looked_up_by_the_reconciler_and_the_stored_reply_becomes_the_truth(
    simulator: SimHandle, start_commands: Factory, start_reconciler: Any, nc: Any, js: Any, unique: str
) -> None:
    await start_reconciler(simulator)
    cmd = await start_commands(simulator)
    account = cmd.service.settings.account_token
    tap = await Tap().start(nc, account)
    await hang_next_post(simulator, "/v1/orders")
    cid = f"mm-lookup-{unique}"
    r = await cmd.place(client_id=cid)
    assert r.status_code == 202 and r.json()["status"] == "unknown", r.text

    await until(lambda: bool(tap.of(LookupResult, cid)), 5.0, "the reconciler's LookupResult")
    assert len(tap.of(CmdUnknown, cid)) == 1
    venue = [o for o in simulator.exchange.orders_history(simulator.account) if o.client_id == cid]
    assert len(venue) == 1  # executed exactly once, never resent
    found = tap.of(LookupResult, cid)[0]
    assert found.found and not found.error and found.order is not None
    assert (found.order.id, found.order.status) == (venue[0].id, str(venue[0].status))
    # stored on the ACCOUNT stream (not only published): the last lookup_result there is this one
    subject = subjects.account_subject(account, "lookup_result")
    stored = await js.get_last_msg(subjects.ACCOUNT_STREAM, subject)
    on_stream = decode_event(stored.data)
    assert isinstance(on_stream, LookupResult) and on_stream.client_id == cid and on_stream.found

    # the idempotency record is corrected from the venue's record
    async def corrected() -> bool:
        return bool((await record(cmd, cid)).json()["reply"]["status"] != "unknown")

    await eventually(corrected, 5.0, "the stored reply corrected")
    rec = (await record(cmd, cid)).json()
    assert rec["state"] == "done" and rec["http_status"] == 201
    assert rec["reply"]["status"] == "accepted" and rec["reply"]["order_id"] == venue[0].id
    assert rec["reply"]["resolved_by"] == "venue_record"
    again = await cmd.place(client_id=cid)
    assert again.status_code == 201 and again.json()["order_id"] == venue[0].id
    assert again.headers.get("Idempotent-Replay") == "true"
    # the exchange id now has its owner: the strategy can cancel it by id; another cannot
    assert (await cmd.client.delete(f"/v1/orders/{venue[0].id}", headers=auth("arb"))).status_code == 403
    assert (await cmd.client.delete(f"/v1/orders/{venue[0].id}", headers=auth("mm"))).status_code == 202
    assert len([o for o in simulator.exchange.orders_history(simulator.account) if o.client_id == cid]) == 1


async def test_unknown_batch_items_are_each_resolved_by_one_lookup_request(
    simulator: SimHandle, start_commands: Factory, start_reconciler: Any, nc: Any, unique: str
) -> None:
    await start_reconciler(simulator)
    cmd = await start_commands(simulator)
    tap = await Tap().start(nc, cmd.service.settings.account_token)
    await hang_next_post(simulator, "/v1/orders/batch")
    cids = [f"mm-blookup-{i}-{unique}" for i in range(3)]
    orders = [
        {"market": "BTC-USD-PERP", "side": "BUY", "size": "0.01", "price": "50000", "client_id": c}
        for c in cids
    ]
    r = await cmd.client.post("/v1/orders/batch", headers=auth("mm"), json={"orders": orders})
    assert [x["reply"]["status"] for x in r.json()["results"]] == ["unknown"] * 3
    await until(lambda: all(tap.of(LookupResult, c) for c in cids), 5.0, "a LookupResult per item")
    truth = {o.client_id: o.id for o in simulator.exchange.orders_history(simulator.account)}

    async def all_corrected() -> bool:
        recs = [(await record(cmd, c)).json() for c in cids]
        return all(x["reply"]["status"] == "accepted" for x in recs)

    await eventually(all_corrected, 5.0, "every stored reply corrected")
    recs = [(await record(cmd, c)).json() for c in cids]
    assert [x["reply"]["order_id"] for x in recs] == [truth[c] for c in cids]


async def test_command_record_is_404_when_unknown_and_403_for_another_strategy(
    simulator: SimHandle, start_commands: Factory, unique: str
) -> None:
    cmd = await start_commands(simulator)
    assert (await record(cmd, f"mm-none-{unique}")).status_code == 404
    placed = await cmd.place(client_id=f"mm-rec-{unique}")
    rec = await record(cmd, f"mm-rec-{unique}")
    assert rec.status_code == 200 and rec.json()["http_status"] == 201
    assert rec.json()["reply"] == placed.json() and rec.json()["state"] == "done"
    assert (await record(cmd, f"mm-rec-{unique}", "arb")).status_code == 403
    assert (await record(cmd, f"mm-rec-{unique}", "boss")).status_code == 200
