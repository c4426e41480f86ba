"""State replicas on one NATS and one Redis (in one process here; tests/system runs them as
processes): each change written once and in order, equal answers, a durable held by one process."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from services.state.core import StateCore
from services.state.lease import DurableInUse
from shared.rediskeys import Keys
from tests.state import builders as b
from tests.state.test_service_harness import (
    T0,
    instance,
    order,
    order_ev,
    publish_all,
    settings_for,
    wait_for,
)


def _churn(account: str, n: int, base: int = 0) -> list[Any]:
    evs: list[Any] = []
    for i in range(n):
        oid = str(base + i % 25)
        closed = i % 4 == 3
        evs.append(order_ev(order(oid, account=account, seq=base + i + 1, lua=T0 + base + i,
                                  status="CLOSED" if closed else "OPEN", remaining="0" if closed else None)))
        if i % 5 == 0:
            evs.append(b.fill_ev(b.fill(f"f{base + i}", oid, ts=T0 + base + i)))
    return evs


async def test_two_replicas_write_each_change_once_in_order_and_answer_alike(
        nats_url: str, redis_url: str, js: Any, redis_client: Any, unique: str) -> None:
    account = f"acct{unique}"
    keys = Keys(account)
    one = settings_for(nats_url, redis_url, account, replica_id="r1", fetch_batch=7)
    two = settings_for(nats_url, redis_url, account, replica_id="r2", fetch_batch=3)
    assert one.durable != two.durable
    async with instance(one) as a, instance(two) as c:
        seqs: list[int] = []
        events: list[Any] = []
        for burst in range(6):
            evs = _churn(account, 40, burst * 40)
            seqs += await publish_all(js, account, evs)
            events += evs
            await asyncio.sleep(0.01)
        await a.wait_seq(seqs[-1])
        await wait_for(lambda: _applied(c, seqs[-1]), 10, "the second replica caught up")
        entries = await redis_client.xrange(keys.changes)
        got = [(e[b"kind"], e[b"key"], int(e[b"seq"])) for _, e in entries]
        fold = StateCore()  # the settings' defaults
        want = [(c.kind.encode(), c.key.encode(), seq) for seq, ev in zip(seqs, events, strict=True)
                for c in fold.apply(seq, ev).changes]
        assert got == want  # what one fold reports: no duplicate, none missing, in order
        outcomes = [a.service.writer.outcomes, c.service.writer.outcomes]
        assert sum(o[1] for o in outcomes) > 0  # one replica found the other's writes already there
        for path in ("/v1/orders", "/v1/fills", "/v1/positions", "/v1/balances"):
            ra, rc = await a.get(path), await c.get(path)
            assert ra.json() == rc.json(), path
        ck = {k.decode() for k in await redis_client.hkeys(keys.checkpoints)}
        assert ck <= {"r1", "r2"}


async def test_a_second_process_with_the_same_replica_id_refuses_to_start(
        nats_url: str, redis_url: str, js: Any, unique: str) -> None:
    account = f"acct{unique}"
    settings = settings_for(nats_url, redis_url, account, replica_id="same", lease_ttl_s=1.0)
    async with instance(settings) as a:
        t0 = time.monotonic()
        with pytest.raises(DurableInUse) as info:
            async with instance(settings):
                pass
        assert time.monotonic() - t0 < 3.0
        assert settings.durable in str(info.value)
        seqs = await publish_all(js, account, [order_ev(order("1", account=account))])
        await a.wait_seq(seqs[-1])  # the first one kept consuming
        assert (await a.get("/healthz")).status_code == 200


async def test_a_new_replica_starts_from_another_replicas_checkpoint(
        nats_url: str, redis_url: str, js: Any, unique: str) -> None:
    account = f"acct{unique}"
    first = settings_for(nats_url, redis_url, account, replica_id="r1")
    async with instance(first) as a:
        seqs = await publish_all(js, account, _churn(account, 30))
        await a.wait_seq(seqs[-1])
        saved = await a.service.checkpoint()
    async with instance(settings_for(nats_url, redis_url, account, replica_id="r9")) as c:
        assert c.service.restored_seq == saved
        assert c.service.checkpoint_seq == 0  # not its own: it writes its own next
        assert (await c.get("/v1/orders")).json()["value"] != []
        assert await c.service.checkpoint() == saved


async def _applied(inst: Any, seq: int) -> bool:
    return bool(inst.service.core.account_seq >= seq)
