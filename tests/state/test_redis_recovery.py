"""Redis losing data under a running state service (a real redis-server of the test's own, wiped
with FLUSHALL or restarted empty): connections recover by themselves and every current entity is
written again, not only those that change afterwards."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import nats
import pytest
import redis.asyncio as aioredis

from services.state.__main__ import redis_client as service_redis_client
from services.state.runner import running
from shared.bus import BboEvent
from shared.bus.subjects import market_subject
from shared.localservers import RedisServer
from shared.paradex.models.market_data import Bbo
from shared.rediskeys import Keys
from tests.state import builders as b
from tests.state.test_service_harness import (
    T0,
    Instance,
    order,
    order_ev,
    publish_all,
    settings_for,
    wait_for,
)

N = 60


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    server = await asyncio.to_thread(RedisServer(tmp_path / "redis").start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


@contextlib.asynccontextmanager
async def _run(nats_url: str, redis_url: str, account: str) -> AsyncIterator[Instance]:
    """The service on ``redis_url`` with the same Redis client settings as ``python -m services.state``."""
    settings = settings_for(nats_url, redis_url, account, health_interval_s=0.1)
    nc = await nats.connect(nats_url)
    redis = service_redis_client(redis_url)
    try:
        async with running(settings, nc, redis) as (service, http), \
                httpx.AsyncClient(base_url=http.url, timeout=10.0) as client:
            yield Instance(service, http, client)
    finally:
        with contextlib.suppress(Exception):
            await nc.drain()
        await redis.aclose()


def _events(account: str) -> list[Any]:
    evs: list[Any] = [order_ev(order(str(i), account=account, seq=1, lua=T0 + i)) for i in range(N)]
    evs += [order_ev(order(str(i), account=account, seq=2, status="CLOSED", remaining="0", lua=T0 + N + i))
            for i in range(0, N, 3)]
    evs += [b.fill_ev(b.fill(f"f{i}", str(i), ts=T0 + i)) for i in range(10)]
    evs += [b.position_ev(b.position("BTC-USD-PERP", "2")), b.balance_rec("1000", ts=T0)]
    return evs


async def _entity_keys(r: Any, account: str) -> set[str]:
    keys = Keys(account)
    out = set()
    for pattern in keys.entity_patterns():
        out |= {k.decode() async for k in r.scan_iter(match=pattern)}
    return out


async def _redis_matches_http(inst: Instance, r: Any, account: str) -> None:
    keys = Keys(account)
    orders = (await inst.get("/v1/orders", limit=1000)).json()["value"]
    assert len(orders) == N
    for o in orders:
        raw = await r.get(keys.order(o["key"]))
        assert raw is not None, o["key"]
        assert msgspec.json.decode(raw)["value"] == o
    assert {k.decode(): v.decode() for k, v in (await r.hgetall(keys.orders)).items()} == {
        o["key"]: o["status"] for o in orders}
    assert await r.smembers(keys.positions) == {b"BTC-USD-PERP"}
    assert await r.zcard(keys.fills) == 10


async def test_flushall_under_a_running_service_rewrites_every_entity(
        nats_url: str, js: Any, own_redis: RedisServer, unique: str) -> None:
    account = f"acct{unique}"
    r = aioredis.from_url(own_redis.url)
    market = f"WIPE{unique.upper()}-USD-PERP"
    try:
        async with _run(nats_url, own_redis.url, account) as inst:
            seqs = await publish_all(js, account, _events(account))
            await inst.wait_seq(seqs[-1])
            bbo = Bbo(market=market, bid="1", bid_size="1", ask="2", ask_size="1", last_updated_at=T0,
                      seq_no=1)
            await inst.service.nc.publish(market_subject("bbo", market), msgspec.json.encode(
                BboEvent(source="ws", venue_ts_ms=T0, bbo=bbo)))
            await wait_for(lambda: _exists(r, Keys.md("venue_bbo", market)), 5, "market data in Redis")
            before = await _entity_keys(r, account)
            assert len(before) == N + 10 + 2

            await r.flushall()  # no new event arrives: the periodic probe must notice
            await wait_for(lambda: _exists(r, Keys(account).seq), 10, "seq rewritten")
            assert int(await r.get(Keys(account).seq)) == seqs[-1]
            assert await _entity_keys(r, account) == before
            await _redis_matches_http(inst, r, account)
            entries = await r.xrange(Keys(account).changes)
            assert [(e[b"kind"], e[b"key"]) for _, e in entries] == [(b"resync", b"redis")]
            resync = msgspec.json.decode(entries[0][1][b"value"])
            assert resync == {"reason": "redis_wiped", "entities": len(before) + 1, "redis_seq_before": -1}
            await wait_for(lambda: _exists(r, Keys.md("venue_bbo", market)), 5, "market data rewritten")
            await wait_for(lambda: _exists(r, inst.service.checkpoint_key), 10, "a new checkpoint")
            assert inst.service.rewrite.rewrites == 1

            # later events are written as usual, after the resync entry
            closed = order("0", account=account, seq=3, status="CLOSED", remaining="0", lua=T0 + 10_000)
            more = await publish_all(js, account, [order_ev(closed)])
            await inst.wait_seq(more[-1])
            entries = await r.xrange(Keys(account).changes)
            assert [e[b"kind"] for _, e in entries] == [b"resync", b"order"]
            assert (await inst.get("/healthz")).status_code == 200
    finally:
        await r.aclose()


async def test_redis_restarted_empty_reconnects_and_rewrites_every_entity(
        nats_url: str, js: Any, own_redis: RedisServer, unique: str) -> None:
    account = f"acct{unique}"
    async with _run(nats_url, own_redis.url, account) as inst:
        seqs = await publish_all(js, account, _events(account))
        await inst.wait_seq(seqs[-1])
        port = own_redis.port
        await asyncio.to_thread(own_redis.stop)
        more = await publish_all(js, account, [order_ev(order("x", account=account, seq=1, lua=T0 + 9000))])
        await asyncio.sleep(0.5)  # writes fail meanwhile and are retried
        assert (await inst.get("/healthz")).status_code == 503  # Redis unreachable: not healthy
        await asyncio.to_thread(own_redis.start, port)
        r = aioredis.from_url(own_redis.url)
        try:
            async def caught_up() -> bool:
                raw = await r.get(Keys(account).seq)
                return raw is not None and int(raw) >= more[-1]

            await wait_for(caught_up, 15, "the service writing again after the restart")
            orders = (await inst.get("/v1/orders", limit=1000)).json()["value"]
            assert len(orders) == N + 1
            assert {f"pdx:{account}:order:{o['key']}" for o in orders} <= await _entity_keys(r, account)
            await wait_for(lambda: _healthy(inst), 10, "healthy again")
        finally:
            await r.aclose()


async def test_redis_restored_from_an_older_state_drops_stale_keys(
        nats_url: str, js: Any, own_redis: RedisServer, unique: str) -> None:
    account = f"acct{unique}"
    keys = Keys(account)
    r = aioredis.from_url(own_redis.url)
    try:
        async with _run(nats_url, own_redis.url, account) as inst:
            seqs = await publish_all(js, account, _events(account))
            await inst.wait_seq(seqs[-1])
            # as if Redis came back from an old file: seq behind, an entity the state no longer has
            await r.set(keys.seq, seqs[0])
            await r.set(keys.order("ghost"), b'{"seq":1,"value":{}}')
            await r.hset(keys.orders, "ghost", "OPEN")
            await wait_for(lambda: _rewritten(inst), 10, "a rewrite")
            assert int(await r.get(keys.seq)) == seqs[-1]
            assert await r.exists(keys.order("ghost")) == 0 and await r.hget(keys.orders, "ghost") is None
            await _redis_matches_http(inst, r, account)
            last = (await r.xrevrange(keys.changes, count=1))[0][1]
            assert last[b"kind"] == b"resync"
            assert msgspec.json.decode(last[b"value"])["reason"] == "redis_lost_writes"
    finally:
        await r.aclose()


async def _exists(r: Any, key: str) -> bool:
    return bool(await r.exists(key))


async def _healthy(inst: Instance) -> bool:
    return (await inst.get("/healthz")).status_code == 200


async def _rewritten(inst: Instance) -> bool:
    return inst.service.rewrite.rewrites >= 1
