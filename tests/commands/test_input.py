"""Hostile input is refused with a 4xx naming the rule, before anything is published or sent
(simulator with signature verification, real NATS and Redis); replays are the first answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from shared.bus import CmdCancelRequested, CmdModifyRequested, CmdSubmitted
from shared.errors import VenueError
from tests.commands.helpers import Factory, M, Running, auth
from tests.commands.stack import Tap
from tests.simfixture import SimHandle

NUMBERS = [
    ("NaN", "NUMBER_NOT_FINITE", "finite_number"),
    ("sNaN", "NUMBER_NOT_FINITE", "finite_number"),
    ("Infinity", "NUMBER_NOT_FINITE", "finite_number"),
    (1e400, "NUMBER_OUT_OF_RANGE", "number_range"),  # a JSON number: exact Decimal 1E+400
    ("1e300", "NUMBER_OUT_OF_RANGE", "number_range"),
    ("12345678901234567890123456789012", "NUMBER_OUT_OF_RANGE", "number_range"),
    ("0.00000000000000000000000000000001", "NUMBER_TOO_PRECISE", "number_precision"),
    ("50000.0000000000000000000000000001", "NUMBER_TOO_PRECISE", "number_precision"),
]


@pytest.fixture
async def cmd(simulator: SimHandle, start_commands: Factory) -> AsyncIterator[Running]:
    yield await start_commands(simulator)


async def raw_post(cmd: Running, path: str, text: str, strategy: str = "mm") -> httpx.Response:
    headers = {**auth(strategy), "Content-Type": "application/json"}
    return await cmd.client.post(path, content=text, headers=headers)


def order_json(field: str, value: Any) -> str:
    base: dict[str, Any] = {"market": M, "side": "BUY", "type": "LIMIT", "size": "0.01", "price": "50000"}
    body = ",".join(f'"{k}":"{v}"' for k, v in base.items() if k != field)
    literal = repr(value) if isinstance(value, float) else f'"{value}"'
    if isinstance(value, float):  # 1e400 is not a Python float: write the JSON number itself
        literal = "1e400"
    return "{" + body + f',"{field}":{literal}' + "}"


@pytest.mark.parametrize("field", ["size", "price"])
@pytest.mark.parametrize(("value", "error", "rule"), NUMBERS)
async def test_non_finite_out_of_range_or_over_precise_numbers_are_422_naming_the_rule(
    cmd: Running, simulator: SimHandle, nc: Any, field: str, value: Any, error: str, rule: str
) -> None:
    tap = await Tap().start(nc, cmd.service.settings.account_token)
    r = await raw_post(cmd, "/v1/orders", order_json(field, value))
    assert r.status_code == 422, r.text
    assert (r.json()["error"], r.json()["rule"]) == (error, rule) and field in r.json()["message"]
    item = order_json(field, value)
    r = await raw_post(cmd, "/v1/orders/batch", '{"orders":[' + item + "]}")
    assert r.status_code == 422 and r.json()["results"][0]["reply"]["rule"] == rule, r.text
    await asyncio.sleep(0.05)
    assert tap.of(CmdSubmitted) == [] and simulator.exchange.orders_history(simulator.account) == []


async def test_bad_numbers_in_a_modify_are_422_and_nothing_is_published(cmd: Running, nc: Any) -> None:
    oid = (await cmd.place()).json()["order_id"]
    tap = await Tap().start(nc, cmd.service.settings.account_token)
    for value, _, rule in NUMBERS:
        text = order_json("size", value)
        r = await cmd.client.put(
            f"/v1/orders/{oid}", content=text, headers={**auth("mm"), "Content-Type": "application/json"}
        )
        assert r.status_code == 422 and r.json()["rule"] == rule, (value, r.text)
    await asyncio.sleep(0.05)
    assert tap.of(CmdModifyRequested) == []


@pytest.mark.parametrize("bad", ["%3Fmarket%3DETH-USD-PERP", "%01", "12a", "1" * 65, "..%2F..%2Fmarkets"])
async def test_a_malformed_order_id_is_422_and_never_reaches_the_venue(
    cmd: Running, simulator: SimHandle, nc: Any, bad: str
) -> None:
    oid = (await cmd.place()).json()["order_id"]
    tap = await Tap().start(nc, cmd.service.settings.account_token)
    splits = "%2F" in bad  # an encoded "/" splits the path: no route matches (404, our error shape)
    for r, in_path in (
        (await cmd.client.delete(f"/v1/orders/{bad}", headers=auth("boss")), True),
        (
            await cmd.client.put(
                f"/v1/orders/{bad}",
                headers=auth("mm"),
                json={"market": M, "side": "BUY", "size": "0.02", "price": "50000"},
            ),
            True,
        ),
        (
            await cmd.client.request(
                "DELETE",
                "/v1/orders/batch",
                headers=auth("boss"),
                json={"order_ids": [httpx.URL(f"/{bad}").path[1:]]},
            ),
            False,
        ),
    ):
        expected = (404, "NOT_FOUND") if splits and in_path else (422, "INVALID_ORDER_ID")
        assert (r.status_code, r.json()["error"]) == expected, r.text
    await asyncio.sleep(0.05)
    assert tap.of(CmdCancelRequested) == [] and tap.of(CmdModifyRequested) == []
    simulator.venue.process_now()
    assert [o.id for o in simulator.exchange.open_orders(simulator.account)] == [oid]


@pytest.mark.parametrize("bad", ["%3Fmarket%3DETH-USD-PERP", "a%20b", "x" * 65])
async def test_a_malformed_client_id_in_a_path_is_422(cmd: Running, bad: str) -> None:
    r = await cmd.client.delete(f"/v1/orders/by_client_id/{bad}", headers=auth("boss"))
    assert r.status_code == 422 and r.json()["error"] == "INVALID_CLIENT_ID", r.text
    r = await cmd.client.get(f"/v1/commands/{bad}", headers=auth("boss"))
    assert r.status_code == 422 and r.json()["error"] == "INVALID_CLIENT_ID", r.text


async def test_an_unknown_market_parameter_of_a_cancel_is_422(cmd: Running) -> None:
    r = await cmd.client.delete("/v1/orders", params={"market": "NOPE?x=1"}, headers=auth("boss"))
    assert r.status_code == 422 and r.json()["error"] == "MARKET_NOT_FOUND", r.text


async def test_the_rest_client_sends_any_id_as_one_path_segment(cmd: Running, simulator: SimHandle) -> None:
    """Even past our checks, an id can never change the venue path or add a query."""
    oid = (await cmd.place()).json()["order_id"]
    rest = cmd.service.rest
    for bad in ("?market=BTC-USD-PERP", "%3Fmarket%3DBTC-USD-PERP", "../orders", ""):
        with pytest.raises(VenueError):
            await rest.cancel_order(bad)
        with pytest.raises(VenueError):
            await rest.cancel_order_by_client_id(bad or "x")
    simulator.venue.process_now()
    assert [o.id for o in simulator.exchange.open_orders(simulator.account)] == [oid]


async def test_batch_sizes_above_the_venue_limits_are_422_before_anything_is_published(
    cmd: Running, nc: Any
) -> None:
    tap = await Tap().start(nc, cmd.service.settings.account_token)
    ids = [str(10**20 + i) for i in range(10_000)]
    r = await cmd.client.request("DELETE", "/v1/orders/batch", headers=auth("boss"), json={"order_ids": ids})
    assert r.status_code in (413, 422), r.text  # 10 000 ids are more than a body may hold
    r = await cmd.client.request(
        "DELETE",
        "/v1/orders/batch",
        headers=auth("boss"),
        json={"order_ids": ids[:60], "client_ids": [f"c{i}" for i in range(41)]},
    )
    assert r.status_code == 422 and r.json()["error"] == "BATCH_SIZE_OUT_OF_RANGE", r.text
    orders = [{"market": M, "side": "BUY", "size": "0.01", "price": "50000"}] * 51
    r = await cmd.client.post("/v1/orders/batch", headers=auth("mm"), json={"orders": orders})
    assert r.status_code == 422 and r.json()["error"] == "BATCH_SIZE_OUT_OF_RANGE", r.text
    await asyncio.sleep(0.05)
    assert tap.events == []
    r = await cmd.client.request(
        "DELETE", "/v1/orders/batch", headers=auth("boss"), json={"order_ids": ids[:100]}
    )
    assert r.status_code == 200 and len(r.json()["results"]) == 100, r.text


async def test_a_body_above_the_limit_is_413_declared_or_streamed(cmd: Running) -> None:
    big = '{"market":"' + "x" * 200_000 + '"}'
    r = await raw_post(cmd, "/v1/orders", big)
    assert r.status_code == 413 and r.json()["error"] == "BODY_TOO_LARGE", r.text

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b" " * 10_000

    r = await cmd.client.post(
        "/v1/orders", content=chunks(), headers={**auth("mm"), "Content-Type": "application/json"}
    )
    assert r.status_code == 413, r.text


async def test_every_replay_is_the_first_answer_byte_for_byte_with_the_replay_header(
    cmd: Running, simulator: SimHandle, unique: str
) -> None:
    cid = f"mm-replay-{unique}"
    replies = await asyncio.gather(*(cmd.place(client_id=cid) for _ in range(20)))
    assert len({(r.status_code, r.content) for r in replies}) == 1
    assert sum("Idempotent-Replay" not in r.headers for r in replies) == 1  # waiters are marked too
    assert {r.headers["X-Stream-Seq"] for r in replies} == {str(replies[0].json()["seq"])}
    later = await cmd.place(client_id=cid)
    assert (later.status_code, later.content) == (replies[0].status_code, replies[0].content)
    # a definite rejection is replayed as it was answered
    async with httpx.AsyncClient(base_url=simulator.control_url) as ctl:
        fault = {"kind": "status", "status": 400, "path": "/v1/orders", "method": "POST"}
        assert (await ctl.post("/rest/errors", json=fault)).status_code == 200
    first = await cmd.place(client_id=f"{cid}-rej")
    again = await cmd.place(client_id=f"{cid}-rej")
    assert first.status_code == 400 and (again.status_code, again.content) == (400, first.content)
    assert again.headers["Idempotent-Replay"] == "true" and "Idempotent-Replay" not in first.headers
