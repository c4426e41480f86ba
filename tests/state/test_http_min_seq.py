"""Read-your-writes on the state HTTP API: ``?min_seq=`` waits for the ACCOUNT sequence, or 503s."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from services.state.seqgate import SeqGate
from tests.state.test_service_harness import instance, order, order_ev, publish_all, settings_for


async def test_read_with_min_seq_above_applied_waits_for_the_event_and_then_shows_it(
        nats_url: str, redis_url: str, js: Any, unique: str) -> None:
    account = f"acct{unique}"
    async with instance(settings_for(nats_url, redis_url, account)) as inst:
        seqs = await publish_all(js, account, [order_ev(order("1", account=account))])
        await inst.wait_seq(seqs[-1])
        t0 = time.monotonic()
        pending = asyncio.ensure_future(inst.get("/v1/orders/by_client_id/c2", min_seq=seqs[-1] + 1,
                                                 min_seq_timeout_ms=5000))
        await asyncio.sleep(0.3)
        assert not pending.done()  # parked, not answered 404
        assert inst.service.seq_gate.waiting == 1
        later = await publish_all(js, account, [order_ev(order("2", account=account, client_id="c2"))])
        r = await pending
        assert time.monotonic() - t0 >= 0.3
        assert r.status_code == 200
        assert r.json()["value"]["id"] == "2"
        assert int(r.headers["X-Stream-Seq"]) >= later[-1]
        assert inst.service.seq_gate.waiting == 0


async def test_read_with_min_seq_never_reached_answers_503_seq_not_reached_after_the_timeout(
        nats_url: str, redis_url: str, js: Any, unique: str) -> None:
    account = f"acct{unique}"
    async with instance(settings_for(nats_url, redis_url, account)) as inst:
        seqs = await publish_all(js, account, [order_ev(order("1", account=account))])
        await inst.wait_seq(seqs[-1])
        far = 10**12
        t0 = time.monotonic()
        for path in ("/v1/orders", "/v1/orders/1", "/v1/positions", "/v1/account", "/v1/balances",
                     "/v1/fills"):
            r = await inst.get(path, min_seq=far, min_seq_timeout_ms=50)
            assert r.status_code == 503, path
            assert r.json()["error"] == "SEQ_NOT_REACHED"
            assert r.json()["min_seq"] == far
            assert r.json()["seq"] == seqs[-1] == int(r.headers["X-Stream-Seq"])
            assert r.headers["Retry-After"] == "1"
        assert time.monotonic() - t0 >= 6 * 0.05
        assert inst.service.seq_gate.waiting == 0  # timed-out waiters removed themselves
        assert (await inst.get("/v1/orders", min_seq=far, min_seq_timeout_ms=20_000)).status_code == 422
        assert (await inst.get("/v1/orders", min_seq=-1)).status_code == 422


async def test_read_with_min_seq_already_applied_answers_without_waiting(
        nats_url: str, redis_url: str, js: Any, unique: str) -> None:
    account = f"acct{unique}"
    async with instance(settings_for(nats_url, redis_url, account)) as inst:
        seqs = await publish_all(js, account, [order_ev(order("1", account=account))])
        await inst.wait_seq(seqs[-1])
        # a zero timeout would 503 at once if the gate had to wait
        for path in ("/v1/orders", "/v1/orders/1", "/v1/orders/by_client_id/c1", "/v1/fills"):
            r = await inst.get(path, min_seq=seqs[-1], min_seq_timeout_ms=0)
            assert r.status_code == 200, path
        r = await inst.get("/v1/orders", min_seq=seqs[-1], min_seq_timeout_ms=0)
        assert [o["id"] for o in r.json()["value"]] == ["1"]


async def test_market_data_endpoints_ignore_min_seq(
        nats_url: str, redis_url: str, unique: str) -> None:
    async with instance(settings_for(nats_url, redis_url, f"acct{unique}")) as inst:
        r = await inst.get(f"/v1/book/NONE-{unique}", min_seq=10**12, min_seq_timeout_ms=5000)
        assert r.status_code == 404
        r = await inst.get(f"/v1/bbo/NONE-{unique}", min_seq=10**12, min_seq_timeout_ms=5000)
        assert r.status_code == 404
        assert inst.service.seq_gate.waiting == 0


async def test_seq_gate_wakes_only_satisfied_waiters_and_cancelled_ones_leave_no_entry() -> None:
    gate = SeqGate()
    gate.advance(10)
    low = asyncio.ensure_future(gate.wait(12, 5))
    high = asyncio.ensure_future(gate.wait(20, 5))
    gone = asyncio.ensure_future(gate.wait(30, 5))
    await asyncio.sleep(0)
    assert gate.waiting == 3
    gone.cancel()
    await asyncio.gather(gone, return_exceptions=True)
    assert gate.waiting == 2
    gate.advance(15)
    assert await low is True
    assert not high.done()
    gate.advance(14)  # never goes back
    assert gate.seq == 15
    gate.advance(25)
    assert await high is True
    assert gate.waiting == 0
    assert await gate.wait(25, 0) is True
    assert await gate.wait(26, 0) is False
    assert await gate.wait(26, 0.01) is False
    assert gate.waiting == 0
