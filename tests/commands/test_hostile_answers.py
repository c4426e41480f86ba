"""Garbage in the venue's REST answers never becomes truth (issue 13 item 5, commands side): the
simulator executes the order, then a corrupting transport under the service's REST client
rewrites its answer. Each class of garbage: the reply is ``unknown`` (202, never 201), CmdUnknown
is published with the reason, no CmdAccepted, the order is looked up, the refusal is counted."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from services.commands.service import CommandsService
from shared.bus import CmdAccepted, CmdModifyUnknown, CmdUnknown, ensure_streams, subjects
from shared.bus.requests import decode_request
from tests.commands.helpers import M, Running, auth, settings_for
from tests.commands.stack import Tap, until
from tests.simfixture import SimHandle

Rewrite = Callable[[dict[str, Any]], Any]


class Corrupting(httpx.AsyncBaseTransport):
    """Forwards to the simulator; the answer of the next matching request is rewritten."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.armed: tuple[str, str, Rewrite | bytes] | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        armed = self.armed
        if armed is None or request.method != armed[0] or not request.url.path.endswith(armed[1]):
            return response
        self.armed = None
        body = await response.aread()
        rewrite = armed[2]
        content = rewrite if isinstance(rewrite, bytes) else json.dumps(rewrite(json.loads(body))).encode()
        return httpx.Response(
            response.status_code, headers={"content-type": "application/json"}, content=content
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def hostile(
    simulator: SimHandle, nc: Any, js: Any, redis_client: Any, nats_url: str, redis_url: str
) -> AsyncIterator[tuple[Running, Corrupting]]:
    await ensure_streams(js)
    corrupt = Corrupting()
    service = CommandsService(
        settings_for(simulator, nats_url, redis_url), nc, js, redis_client, venue_transport=corrupt
    )
    await service.start()
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}", timeout=15.0)
    try:
        yield Running(service, client), corrupt
    finally:
        await client.aclose()
        await service.stop()


def field(name: str, value: Any) -> Rewrite:
    return lambda order: {**order, name: value}


GARBAGE: dict[str, Rewrite | bytes] = {
    "nan_size": field("size", "NaN"),
    "infinite_price": field("price", "Infinity"),
    "unknown_status": field("status", "EXPLODED"),
    "negative_seq": field("seq_no", -1),
    "foreign_account": field("account", "0x1234"),
    "another_order": field("client_id", "someone-else"),
    "wrong_type": field("size", {"no": "number"}),
    "not_json": b"<html>surprise</html>",
}


@pytest.mark.parametrize("kind", list(GARBAGE))
async def test_a_garbage_place_answer_is_unknown_and_looked_up_never_accepted(
    hostile: tuple[Running, Corrupting], simulator: SimHandle, nc: Any, unique: str, kind: str
) -> None:
    cmd, corrupt = hostile
    tap = await Tap().start(nc, cmd.service.settings.account_token)
    lookups: list[Any] = []

    async def on_req(msg: Any) -> None:
        lookups.append(decode_request(msg.data))

    await nc.subscribe(subjects.RECONCILE_REQUEST, cb=on_req)
    corrupt.armed = ("POST", "/orders", GARBAGE[kind])
    cid = f"mm-g-{kind}-{unique}"
    r = await cmd.place(client_id=cid)
    assert r.status_code == 202 and r.json()["status"] == "unknown", r.text
    await until(lambda: bool(tap.of(CmdUnknown, cid)) and bool(lookups), 3.0, "CmdUnknown and a lookup")
    assert tap.of(CmdAccepted, cid) == []
    assert any(cid in q.client_ids for q in lookups)
    metrics = (await cmd.client.get("/metrics")).text
    assert "commands_venue_answer_invalid_total{" in metrics, metrics
    assert sum(1 for o in simulator.exchange.orders_history(simulator.account) if o.client_id == cid) == 1


async def test_a_garbage_batch_item_is_unknown_and_its_neighbours_accepted(
    hostile: tuple[Running, Corrupting], nc: Any, unique: str
) -> None:
    cmd, corrupt = hostile
    tap = await Tap().start(nc, cmd.service.settings.account_token)

    def spoil_second(answer: dict[str, Any]) -> dict[str, Any]:
        orders = answer["orders"]
        orders[1] = {**orders[1], "remaining_size": "-5"}
        return answer

    corrupt.armed = ("POST", "/orders/batch", spoil_second)
    cids = [f"mm-gb-{i}-{unique}" for i in range(3)]
    orders = [{"market": M, "side": "BUY", "size": "0.01", "price": "50000", "client_id": c} for c in cids]
    r = await cmd.client.post("/v1/orders/batch", headers=auth("mm"), json={"orders": orders})
    assert [x["reply"]["status"] for x in r.json()["results"]] == ["accepted", "unknown", "accepted"], r.text
    await until(
        lambda: len(tap.of(CmdAccepted)) == 2 and bool(tap.of(CmdUnknown, cids[1])), 3.0, "the events"
    )


async def test_a_garbage_modify_answer_is_unknown_and_looked_up(
    hostile: tuple[Running, Corrupting], nc: Any
) -> None:
    cmd, corrupt = hostile
    oid = (await cmd.place()).json()["order_id"]
    tap = await Tap().start(nc, cmd.service.settings.account_token)
    corrupt.armed = ("PUT", f"/orders/{oid}", field("price", "1e400"))
    r = await cmd.client.put(
        f"/v1/orders/{oid}",
        headers=auth("mm"),
        json={"market": M, "side": "BUY", "size": "0.02", "price": "50000"},
    )
    assert r.status_code == 202 and r.json()["status"] == "unknown", r.text
    await until(lambda: bool(tap.of(CmdModifyUnknown)), 3.0, "CmdModifyUnknown")
    assert "invalid venue answer" in tap.of(CmdModifyUnknown)[0].reason
