"""Redis killed and restarted empty under a 20 orders/s flow, everything as processes (issue 14
item 2, state side): the state's Redis connections recover by themselves and every current
entity is back in Redis afterwards (not only those that changed), equal to what HTTP serves.

What commands answers while Redis is down and the idempotency of re-sent client ids are the
commands side of the issue, tested there; here the flow only has to keep the state busy."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
import redis.asyncio as aioredis

from shared.client import CommandsClient, ServiceError, ServiceUnreachable
from shared.localservers import RedisServer
from shared.rediskeys import Keys
from tests.system.procs import M, ProcSystem, process_system, wait_until


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    server = await asyncio.to_thread(RedisServer(tmp_path / "redis").start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


async def _flow(ps: ProcSystem, cmd: CommandsClient, stop: asyncio.Event, counts: dict[str, int]) -> None:
    state = ps.state_client()
    i = 0
    resting: list[str] = []
    while not stop.is_set():
        t = time.monotonic()
        i += 1
        try:
            if resting and i % 3 == 0:
                await cmd.cancel(resting.pop(0))
            else:
                bid = (await state.bbo(M)).value.bid
                assert bid is not None
                r = await cmd.place(M, "BUY", Decimal("0.001"), (bid - Decimal(100 + i % 50)).quantize(
                    Decimal("0.1")), client_id=f"rl{i}")
                if r.order_id:
                    resting.append(r.order_id)
            counts["ok"] += 1
        except (ServiceError, ServiceUnreachable):
            counts["errors"] += 1
        await asyncio.sleep(max(0.0, 0.05 - (time.monotonic() - t)))


async def test_redis_killed_and_restarted_empty_under_flow_gets_every_entity_back(
        nats_url: str, own_redis: RedisServer, tmp_path: Path) -> None:
    async with process_system(nats_url, own_redis.url, tmp_path / "sys") as ps:
        keys = Keys(ps.account)
        stop = asyncio.Event()
        counts = {"ok": 0, "errors": 0}
        flow = asyncio.create_task(_flow(ps, ps.commands_client(), stop, counts))
        try:
            await asyncio.sleep(5.0)
            port = own_redis.port
            assert own_redis.proc is not None
            own_redis.proc.kill()  # kill -9: no persistence, it comes back empty
            await asyncio.to_thread(own_redis.proc.wait, 10)
            await asyncio.sleep(2.0)
            await asyncio.to_thread(own_redis.start, port)
            await asyncio.sleep(5.0)
        finally:
            stop.set()
            await flow
        assert counts["ok"] > 50, counts
        r = aioredis.from_url(own_redis.url)
        state = ps.state_client()
        try:
            async def caught_up() -> bool:
                raw = await r.get(keys.seq)
                health = await state.health()
                return raw is not None and int(raw) >= health.value.account.applied_seq > 0

            await wait_until(caught_up, 30.0, "Redis reflecting what the state applied")
            orders = await state.orders()
            assert len(orders.value) > 50
            raw_orders = await r.hgetall(keys.orders)
            assert {k.decode(): v.decode() for k, v in raw_orders.items()} == {
                o.key: o.status for o in orders.value}
            for o in orders.value:  # every entity, including those that never changed after the loss
                stored = await r.get(keys.order(o.key))
                assert stored is not None, o.key
            markets = await r.smembers(keys.market_specs)
            assert M.encode() in markets
            entries = await r.xrange(keys.changes)
            resync = [msgspec.json.decode(e[b"value"]) for _, e in entries if e[b"kind"] == b"resync"]
            assert resync and resync[0]["reason"] == "redis_wiped", resync
            print(f"\nredis loss: flow {counts}; {len(orders.value)} orders back in Redis; "
                  f"resync {resync[0]}")
        finally:
            await r.aclose()
