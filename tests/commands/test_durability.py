"""Idempotency that outlives Redis, and Redis outages (in-process commands on the simulator, real
NATS JetStream, a private redis-server per test so it can be wiped, cut or stopped)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.commands.__main__ import connect_redis
from services.commands.service import CommandsService
from shared.bus import ensure_streams
from shared.localservers import RedisServer
from tests.commands.helpers import TOKENS, M, auth, settings_for
from tests.commands.proxy import Proxy
from tests.commands.stack import eventually, until
from tests.simfixture import SimHandle


class Stack:
    """A commands service whose Redis is reached through a proxy that the test can cut."""

    def __init__(
        self,
        redis: RedisServer,
        proxy: Proxy,
        service: CommandsService,
        client: httpx.AsyncClient,
        redis_client: Any,
    ) -> None:
        self.redis, self.proxy, self.service, self.client, self.redis_client = (
            redis,
            proxy,
            service,
            client,
            redis_client,
        )

    async def place(self, cid: str, **body: Any) -> httpx.Response:
        order = {
            "market": M,
            "side": "BUY",
            "type": "LIMIT",
            "size": "0.01",
            "price": "50000",
            "client_id": cid,
            **body,
        }
        return await self.client.post("/v1/orders", json=order, headers=auth("mm"))


@pytest.fixture
async def stack(
    simulator: SimHandle, nc: Any, js: Any, nats_url: str, tmp_path: Path
) -> AsyncIterator[Stack]:
    await ensure_streams(js)
    redis = RedisServer(tmp_path / "redis").start()
    proxy = await Proxy(f"redis://127.0.0.1:{redis.port}").accept()
    url = f"redis://127.0.0.1:{proxy.port}/0"
    redis_client = connect_redis(url)
    settings = settings_for(simulator, nats_url, url, index_settle_s=0.3)
    service = CommandsService(settings, nc, js, redis_client)
    await service.start()
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}", timeout=15.0)
    try:
        yield Stack(redis, proxy, service, client, redis_client)
    finally:
        await client.aclose()
        if not proxy.listening:
            await proxy.accept()
        await service.stop()
        await redis_client.aclose()
        await proxy.refuse()
        redis.stop()


def venue_count(sim: SimHandle, cid: str) -> int:
    return sum(1 for o in sim.exchange.orders_history(sim.account) if o.client_id == cid)


async def fault(sim: SimHandle, **body: Any) -> None:
    async with httpx.AsyncClient(base_url=sim.control_url) as ctl:
        assert (await ctl.post("/rest/errors", json=body)).status_code == 200


async def test_a_wiped_redis_is_rebuilt_from_the_stream_and_no_client_id_is_placed_twice(
    stack: Stack, simulator: SimHandle, unique: str
) -> None:
    first: dict[str, httpx.Response] = {}
    for i in range(5):
        first[f"mm-wipe-ok{i}-{unique}"] = await stack.place(f"mm-wipe-ok{i}-{unique}")
    await fault(simulator, kind="status", status=400, path="/v1/orders", method="POST")
    first[f"mm-wipe-rej-{unique}"] = await stack.place(f"mm-wipe-rej-{unique}")
    await fault(simulator, kind="status", status=503, path="/v1/orders", method="POST", execute=True)
    first[f"mm-wipe-unk-{unique}"] = await stack.place(f"mm-wipe-unk-{unique}")
    assert [r.status_code for r in first.values()] == [201] * 5 + [400, 202]

    await stack.redis_client.flushall()  # every record, the index marker and the budget are gone
    r = await stack.place(f"mm-wipe-ok0-{unique}")
    assert r.status_code == 503 and r.json()["error"] == "IDEMPOTENCY_INDEX_REBUILDING", r.text
    assert int(r.headers["Retry-After"]) >= 1
    health = await stack.client.get("/healthz")
    assert health.status_code == 503 and health.json()["idempotency_index"] == "rebuilding"
    await until(lambda: stack.service.index.ready, 10.0, "the index rebuilt from the stream")
    marker = stack.service.index.last
    assert marker is not None and marker.records >= 7

    for cid, answer in first.items():
        again = await stack.place(cid)
        assert (again.status_code, again.json()) == (answer.status_code, answer.json()), cid
        assert again.content == answer.content and again.headers["Idempotent-Replay"] == "true", cid
        assert venue_count(simulator, cid) == (0 if "rej" in cid else 1), cid
    fresh = await stack.place(f"mm-wipe-new-{unique}")
    assert fresh.status_code == 201 and venue_count(simulator, f"mm-wipe-new-{unique}") == 1


async def test_redis_unreachable_is_503_with_retry_after_and_unhealthy_then_recovers_by_itself(
    stack: Stack, simulator: SimHandle, unique: str
) -> None:
    oid = (await stack.place(f"mm-cut-0-{unique}")).json()["order_id"]
    await stack.proxy.refuse()  # every pooled connection dies; new ones are refused
    r = await stack.place(f"mm-cut-1-{unique}")
    assert r.status_code == 503 and r.json()["error"] == "REDIS_UNAVAILABLE", r.text
    assert int(r.headers["Retry-After"]) >= 1 and venue_count(simulator, f"mm-cut-1-{unique}") == 0
    r = await stack.client.get(f"/v1/commands/mm-cut-0-{unique}", headers=auth("mm"))
    assert r.status_code == 503, r.text

    async def unhealthy() -> bool:
        h = await stack.client.get("/healthz")
        return h.status_code == 503 and h.json()["redis_connected"] is False

    await eventually(unhealthy, 5.0, "/healthz unhealthy while Redis is unreachable")
    # a cancel still goes out: the budget falls back to this replica's share, the owner comes from
    # the live-order view
    r = await stack.client.delete(f"/v1/orders/{oid}", headers={"Authorization": f"Bearer {TOKENS['boss']}"})
    assert r.status_code == 202 and r.json()["status"] == "cancel_requested", r.text
    simulator.venue.process_now()
    assert oid not in {o.id for o in simulator.exchange.open_orders(simulator.account)}
    await stack.proxy.accept()
    again = await stack.place(f"mm-cut-1-{unique}")  # the first request after Redis returns: no 500
    assert again.status_code == 201, again.text
    assert venue_count(simulator, f"mm-cut-1-{unique}") == 1

    async def healthy() -> bool:
        return (await stack.client.get("/healthz")).status_code == 200

    await eventually(healthy, 5.0, "/healthz healthy again")


async def test_an_outcome_that_could_not_be_stored_is_stored_when_redis_returns(
    stack: Stack, simulator: SimHandle, unique: str
) -> None:
    cid = f"mm-backlog-{unique}"
    await fault(simulator, kind="hang", path="/v1/orders", method="POST", execute=True, hang_ms=600)
    # the venue holds its answer; meanwhile Redis becomes unreachable, so the outcome cannot be stored
    sending = asyncio.ensure_future(stack.place(cid, wait="none"))
    r = await sending
    assert r.status_code == 202, r.text
    await stack.proxy.refuse()
    await until(lambda: len(stack.service.backlog) == 1, 5.0, "the outcome queued in the backlog")
    await stack.proxy.accept()
    await until(lambda: len(stack.service.backlog) == 0, 5.0, "the backlog written")
    stored = json.loads(await stack.redis_client.get(stack.service.store.keys.cmd_client_id(cid)))
    assert stored["st"] == "done"
    again = await stack.place(cid)
    assert again.headers["Idempotent-Replay"] == "true" and again.status_code == 202  # the venue's 503
    assert venue_count(simulator, cid) == 1
