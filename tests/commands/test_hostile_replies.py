"""Dead letters of hostile venue replies, and the answers test_hostile_answers.py does not cover: the
simulator executes the order writes, a man-in-the-middle transport corrupts the answers
(tests/corrupting.py). A 2xx whose record is garbage never becomes a CmdAccepted; it is
dead-lettered on ``pdx.dlq.commands`` with the record, its reason and the path, counted, and the
outcome is ambiguous. Also: one garbage order in a batch answer leaves the others accepted, and a
batch cancel answer with an unknown status is ambiguous, never a definite refusal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.commands.service import CommandsService
from shared.bus import CmdAccepted, CmdCancelFailed, CmdModifyUnknown, CmdUnknown, ensure_streams, subjects
from shared.bus.deadletter import DeadLetter, decode_dead_letter
from tests.commands.helpers import M, Running, auth, settings_for
from tests.commands.stack import Tap, until
from tests.corrupting import CorruptingTransport
from tests.simfixture import SimHandle


@pytest.fixture
def corrupting() -> CorruptingTransport:
    return CorruptingTransport()


@pytest.fixture
async def dlq(nc: Any) -> AsyncIterator[list[DeadLetter]]:
    got: list[DeadLetter] = []

    async def cb(msg: Any) -> None:
        got.append(decode_dead_letter(msg.data))

    sub = await nc.subscribe(subjects.COMMANDS_DLQ, cb=cb)
    try:
        yield got
    finally:
        await sub.unsubscribe()


@pytest.fixture
async def started(simulator: SimHandle, nc: Any, js: Any, redis_client: Any, nats_url: str, redis_url: str,
                  corrupting: CorruptingTransport) -> AsyncIterator[tuple[Running, Tap]]:
    """The commands service with its REST client over the corrupting transport, and a tap."""
    await ensure_streams(js)
    service = CommandsService(settings_for(simulator, nats_url, redis_url), nc, js, redis_client,
                              venue_transport=corrupting)
    await service.start()
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}", timeout=15.0)
    try:
        yield Running(service, client), await Tap().start(nc, service.settings.account_token)
    finally:
        await client.aclose()
        await service.stop()


def refused_metric(cmd: Running, reason: str) -> float:
    value = cmd.service.metrics.registry.get_sample_value("commands_venue_answer_invalid_total",
                                                          {"reason": reason})
    return value or 0.0


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("size", "NaN", "non_finite"), ("account", "0xdeadbeef", "foreign_account"),
    ("market", "BTC.>*", "unsafe_market"),
])
async def test_a_garbage_place_answer_is_ambiguous_and_dead_lettered(
        started: tuple[Running, Tap], unique: str, corrupting: CorruptingTransport, dlq: list[DeadLetter],
        field: str, value: Any, reason: str) -> None:
    corrupting.rule("/orders", lambda body: {**body, field: value}, "POST")
    cmd, tap = started
    cid = f"mm-hostile-{field}-{unique}"
    r = await cmd.place(client_id=cid)
    assert r.status_code == 202 and r.json()["status"] == "unknown", r.text
    assert "invalid venue answer" in r.text and reason in r.text
    await until(lambda: bool(tap.of(CmdUnknown, cid)), 5.0, "CmdUnknown")
    assert tap.of(CmdAccepted, cid) == []  # the garbage never became an accepted order
    await until(lambda: any(d.reason == reason and d.where == "POST /orders" for d in dlq), 5.0, "the DLQ")
    letter = next(d for d in dlq if d.reason == reason)
    assert letter.service == "commands" and letter.source == "rest" and letter.field == field
    assert refused_metric(cmd, reason) == 1


async def test_a_batch_answer_with_one_garbage_order_keeps_the_others(
        started: tuple[Running, Tap], unique: str, corrupting: CorruptingTransport,
        dlq: list[DeadLetter]) -> None:
    cids = [f"mm-hb-{i}-{unique}" for i in range(3)]

    def poison_second(body: Any) -> Any:
        for order in body["orders"]:
            if order["client_id"] == cids[1]:
                order["remaining_size"] = "-1"
        return body

    corrupting.rule("/orders/batch", poison_second, "POST")
    cmd, tap = started
    orders = [{"market": M, "side": "BUY", "type": "LIMIT", "size": "0.01", "price": str(50000 - i),
               "client_id": cid} for i, cid in enumerate(cids)]
    r = await cmd.client.post("/v1/orders/batch", json={"orders": orders}, headers=auth("mm"))
    assert r.status_code < 500, r.text
    await until(lambda: len(tap.of(CmdAccepted)) >= 2 and bool(tap.of(CmdUnknown, cids[1])), 5.0, "outcomes")
    assert [cid for cid in cids if tap.of(CmdAccepted, cid)] == [cids[0], cids[2]]
    await until(lambda: any(d.reason == "negative" and d.where == "POST /orders/batch" for d in dlq), 5.0,
                "the DLQ")


async def test_a_garbage_modify_answer_is_ambiguous(
        started: tuple[Running, Tap], unique: str, corrupting: CorruptingTransport,
        dlq: list[DeadLetter]) -> None:
    cmd, tap = started
    cid = f"mm-hm-{unique}"
    placed = await cmd.place(client_id=cid)
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["order_id"]
    corrupting.rule(f"/orders/{order_id}", lambda body: {**body, "price": "1E+9999"}, "PUT")
    r = await cmd.client.put(f"/v1/orders/{order_id}", json={"market": M, "side": "BUY", "size": "0.02",
                                                              "price": "50001"},
                             headers=auth("mm"))
    assert r.status_code == 202 and "invalid venue answer: out_of_range" in r.text, r.text
    await until(lambda: bool(tap.of(CmdModifyUnknown, cid)), 5.0, "CmdModifyUnknown")
    await until(lambda: any(d.reason == "out_of_range" for d in dlq), 5.0, "the DLQ")


async def test_a_batch_cancel_answer_with_an_unknown_status_is_ambiguous_never_a_refusal(
        started: tuple[Running, Tap], unique: str, corrupting: CorruptingTransport,
        dlq: list[DeadLetter]) -> None:
    cmd, tap = started
    cid = f"mm-hc-{unique}"
    assert (await cmd.place(client_id=cid)).status_code == 201

    def explode(body: Any) -> Any:
        for item in body["results"]:
            item["status"] = "EXPLODED"
        return body

    corrupting.rule("/orders/batch", explode, "DELETE")
    r = await cmd.client.request("DELETE", "/v1/orders/batch", json={"client_ids": [cid]}, headers=auth("mm"))
    assert r.status_code == 202 and "invalid venue answer: unknown_enum" in r.text, r.text
    assert tap.of(CmdCancelFailed, cid) == []  # "EXPLODED" never cleared the pending cancel as a refusal
    await until(lambda: any(d.reason == "unknown_enum" and d.where == "DELETE /orders/batch" for d in dlq),
                5.0, "the DLQ")
