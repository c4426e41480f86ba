"""The ACCOUNT stream evicting what a restart would need: detected loudly on start (health, a full
reconciliation) and prevented while running (a checkpoint as soon as the stream passes it)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from services.state.horizon import Horizon
from shared.bus.requests import decode_request
from shared.bus.subjects import ACCOUNT_STREAM, RECONCILE_REQUEST
from shared.localservers import NatsServer
from tests.state.test_service_harness import (
    T0,
    instance,
    order,
    order_ev,
    publish_all,
    settings_for,
    wait_for,
)


async def test_horizon_finds_the_gap_and_what_is_covered(js: Any, unique: str) -> None:
    name, subject = f"H{unique}", f"h{unique}.x"
    await js.add_stream(StreamConfig(name=name, subjects=[f"h{unique}.>"]))
    try:
        for i in range(10):
            await js.publish(subject, str(i).encode())
        await js.add_consumer(name, ConsumerConfig(durable_name="d", ack_policy=AckPolicy.ALL))
        h = Horizon(js, name, "d")
        assert await h.gap_at_start(0, had_checkpoint=False) is None  # the stream still begins at 1
        assert await h.covered_now(4, buffered=0) == 4  # 10 pending: nothing beyond what is applied
        sub = await js.pull_subscribe(subject, durable="d", stream=name)
        msgs = await sub.fetch(10)
        await msgs[-1].ack_sync()
        assert await h.covered_now(4, buffered=0) == 10  # nothing pending: the whole stream is covered
        assert await h.covered_now(4, buffered=1) == 4
        await js.purge_stream(name, seq=7)  # evicts 1..6
        gap = await h.gap_at_start(5, had_checkpoint=True)
        assert gap is not None and (gap.covered, gap.first_seq) == (5, 7)
        assert await h.gap_at_start(6, had_checkpoint=True) is None
        assert await h.needs_checkpoint(5) and not await h.needs_checkpoint(6)
        assert h.early_checkpoints == 1
    finally:
        await js.delete_stream(name)


@pytest.fixture
async def own_nats(tmp_path: Path) -> AsyncIterator[NatsServer]:
    server = await asyncio.to_thread(NatsServer(tmp_path / "nats").start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


async def test_restart_after_the_stream_evicted_past_the_checkpoint_is_loud_and_reconciles(
        own_nats: NatsServer, redis_url: str, unique: str, caplog: pytest.LogCaptureFixture) -> None:
    account = f"acct{unique}"
    nc = await nats.connect(own_nats.url)
    js = nc.jetstream()
    requests: list[Any] = []

    async def on_request(msg: Any) -> None:
        requests.append(decode_request(msg.data))

    await nc.subscribe(RECONCILE_REQUEST, cb=on_request)
    settings = settings_for(own_nats.url, redis_url, account, replica_id="r1", startup_reconcile=False,
                            checkpoint_interval_s=3600, checkpoint_every_events=100_000)
    try:
        async with instance(settings) as inst:
            seqs = await publish_all(js, account, [order_ev(order(str(i), account=account, lua=T0 + i))
                                                   for i in range(5)])
            await inst.wait_seq(seqs[-1])
            assert inst.service.history_gap is None
        # while the replica is away, more events arrive and the stream evicts past its checkpoint
        later = await publish_all(js, account, [order_ev(order(str(i), account=account, lua=T0 + i))
                                                for i in range(5, 10)])
        await js.purge_stream(ACCOUNT_STREAM, seq=later[2])
        caplog.set_level(logging.ERROR, logger="state.horizon")
        async with instance(settings) as inst:
            gap = inst.service.history_gap
            assert gap is not None and gap.had_checkpoint
            assert (gap.covered, gap.first_seq) == (seqs[-1], later[2])
            assert any("evicted" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
            await wait_for(lambda: _asked(requests, "stream_evicted_past_checkpoint"), 5, "reconcile request")
            health = (await inst.get("/v1/health")).json()["value"]
            assert health["history_gap"] == {"covered": seqs[-1], "first_seq": later[2],
                                             "had_checkpoint": True}
            await inst.wait_seq(later[-1])  # what is left is replayed
            orders = {o["id"] for o in (await inst.get("/v1/orders")).json()["value"]}
            assert orders == {str(i) for i in range(5)} | {"7", "8", "9"}
    finally:
        await nc.drain()


async def test_a_running_replica_checkpoints_once_the_stream_passes_its_checkpoint(
        own_nats: NatsServer, redis_url: str, unique: str) -> None:
    account = f"acct{unique}"
    nc = await nats.connect(own_nats.url)
    js = nc.jetstream()
    settings = settings_for(own_nats.url, redis_url, account, replica_id="r1", startup_reconcile=False,
                            checkpoint_interval_s=3600, checkpoint_every_events=100_000,
                            health_interval_s=0.05, horizon_check_s=0.05)
    try:
        async with instance(settings) as inst:
            svc = inst.service
            seqs = await publish_all(js, account, [order_ev(order(str(i), account=account, lua=T0 + i))
                                                   for i in range(3)])
            await inst.wait_seq(seqs[-1])
            await svc.checkpoint()
            first = svc.checkpoint_covered
            # another account's traffic, then eviction past our checkpoint (nothing of ours pending)
            other = await publish_all(js, "someoneelse", [order_ev(order(str(i), account="someoneelse"))
                                                          for i in range(4)])
            await js.purge_stream(ACCOUNT_STREAM, seq=other[2])
            await wait_for(lambda: _later(svc, first), 15, "an early checkpoint")
            assert svc.horizon.early_checkpoints >= 1 and svc.checkpoint_covered >= other[-1]
    finally:
        await nc.drain()


async def _asked(requests: list[Any], reason: str) -> bool:
    return any(r.reason == reason for r in requests)


async def _later(svc: Any, covered: int) -> bool:
    return bool(svc.checkpoint_covered > covered)
