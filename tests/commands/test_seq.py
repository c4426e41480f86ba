"""Commands replies carry ``seq``: the ACCOUNT stream sequence of the command event they published."""

from __future__ import annotations

from typing import Any

import httpx

from shared.bus import CmdCancelRequested, CmdModifyRequested, CmdSubmitted, decode_event
from shared.bus.subjects import ACCOUNT_STREAM
from tests.commands.helpers import Factory, M, auth
from tests.simfixture import SimHandle


async def event_at(js: Any, seq: int) -> Any:
    """The event stored at ACCOUNT stream sequence ``seq``."""
    return decode_event((await js.get_msg(ACCOUNT_STREAM, seq)).data)


def seq_of(r: httpx.Response) -> int:
    """The reply's seq, checked equal in body and header."""
    seq = r.json()["seq"]
    assert isinstance(seq, int) and seq > 0 and r.headers["X-Stream-Seq"] == str(seq), r.text
    return seq


async def test_place_replies_carry_increasing_seq_of_their_cmd_submitted_and_replays_the_same(
    simulator: SimHandle, start_commands: Factory, js: Any, unique: str
) -> None:
    cmd = await start_commands(simulator)
    seqs = []
    for i, wait in enumerate(("ack", "none", "ack")):
        r = await cmd.place(client_id=f"mm-seq{i}-{unique}", wait=wait)
        assert r.status_code in (201, 202), r.text
        seqs.append(seq_of(r))
        ev = await event_at(js, seqs[-1])
        assert isinstance(ev, CmdSubmitted) and ev.client_id == f"mm-seq{i}-{unique}"
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    again = await cmd.place(client_id=f"mm-seq0-{unique}")
    assert again.headers["Idempotent-Replay"] == "true"
    assert seq_of(again) == seqs[0]
    stored = await cmd.client.get(f"/v1/commands/mm-seq0-{unique}", headers=auth("mm"))
    assert stored.json()["reply"]["seq"] == seqs[0] and stored.headers["X-Stream-Seq"] == str(seqs[0])


async def test_venue_rejection_reply_carries_the_seq_of_its_cmd_submitted(
    simulator: SimHandle, start_commands: Factory, js: Any, unique: str
) -> None:
    cmd = await start_commands(simulator)
    async with httpx.AsyncClient(base_url=simulator.control_url) as ctl:
        await ctl.post(
            "/rest/errors", json={"kind": "status", "status": 400, "path": "/v1/orders", "method": "POST"}
        )
    r = await cmd.place(client_id=f"mm-rejseq-{unique}")
    assert r.status_code == 400
    ev = await event_at(js, seq_of(r))
    assert isinstance(ev, CmdSubmitted) and ev.client_id == f"mm-rejseq-{unique}"


async def test_refusal_before_the_bus_carries_no_seq(simulator: SimHandle, start_commands: Factory) -> None:
    cmd = await start_commands(simulator)
    r = await cmd.place(price="50000.05")  # off the tick: 422, nothing published
    assert r.status_code == 422 and "seq" not in r.json() and "X-Stream-Seq" not in r.headers


async def test_cancel_and_modify_replies_carry_the_seq_of_their_request_event(
    simulator: SimHandle, start_commands: Factory, js: Any
) -> None:
    cmd = await start_commands(simulator)
    placed = await cmd.place()
    oid = placed.json()["order_id"]
    r = await cmd.client.put(
        f"/v1/orders/{oid}",
        headers=auth("mm"),
        json={"market": M, "side": "BUY", "type": "LIMIT", "size": "0.02", "price": "50000"},
    )
    assert r.status_code == 200, r.text
    modify_seq = seq_of(r)
    assert isinstance(await event_at(js, modify_seq), CmdModifyRequested)
    r = await cmd.client.delete(f"/v1/orders/{oid}", headers=auth("mm"))
    assert r.status_code == 202
    cancel_seq = seq_of(r)
    ev = await event_at(js, cancel_seq)
    assert isinstance(ev, CmdCancelRequested) and ev.order_id == oid
    assert seq_of(placed) < modify_seq < cancel_seq
    second = (await cmd.place()).json()
    r = await cmd.client.request(
        "DELETE", "/v1/orders/batch", headers=auth("mm"), json={"client_ids": [second["client_id"]]}
    )
    ev = await event_at(js, seq_of(r))
    assert isinstance(ev, CmdCancelRequested) and ev.client_id == second["client_id"]


async def test_batch_items_carry_their_own_seq_and_the_top_level_their_max(
    simulator: SimHandle, start_commands: Factory, js: Any
) -> None:
    cmd = await start_commands(simulator)
    r = await cmd.client.post(
        "/v1/orders/batch",
        headers=auth("mm"),
        json={
            "orders": [
                {"market": M, "side": "BUY", "size": "0.01", "price": "50000"},
                {"market": M, "side": "BUY", "size": "0.01", "price": "50000.05"},
                {"market": M, "side": "BUY", "size": "0.01", "price": "49999"},
            ]
        },
    )
    results = r.json()["results"]
    assert [x["http_status"] for x in results] == [201, 422, 201], r.text
    items = [x["reply"] for x in results]
    assert "seq" not in items[1]
    for item in (items[0], items[2]):
        ev = await event_at(js, item["seq"])
        assert isinstance(ev, CmdSubmitted) and ev.client_id == item["client_id"]
    assert items[0]["seq"] != items[2]["seq"]
    assert seq_of(r) == max(items[0]["seq"], items[2]["seq"])


async def test_openapi_documents_the_seq_field(simulator: SimHandle, start_commands: Factory) -> None:
    cmd = await start_commands(simulator)
    spec = (await cmd.client.get("/openapi.json")).json()
    assert "X-Stream-Seq" in spec["info"]["description"] and "`seq`" in spec["info"]["description"]
