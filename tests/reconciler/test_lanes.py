"""Targeted runs, the fast check, the two lanes and the request budget (simulator + real NATS)."""

from __future__ import annotations

import asyncio
import time

import httpx

from services.simulator.faults import RestFault
from shared.bus import FillEvent, PositionEvent, SnapshotFinished, SnapshotPart, SnapshotStarted, subjects
from shared.bus.requests import ReconcileRequest, encode_request
from shared.paradex.rest import ParadexRest
from tests.feed.helpers import until
from tests.reconciler.helpers import BTC, RecFactory, ack_of
from tests.simfixture import SimHandle


async def fills(rest: ParadexRest, sim: SimHandle, n: int) -> None:
    for i in range(n):
        await rest.place_order(market=BTC, side="BUY" if i % 2 else "SELL", type="MARKET", size="0.001",
                               instruction="IOC", client_id=f"t-{i}")
        sim.venue.process_now()


def started(rec: object) -> list[SnapshotStarted]:
    return [e for _, e, _ in rec.tap.items if isinstance(e, SnapshotStarted)]  # type: ignore[attr-defined]


async def test_targeted_request_fetches_only_its_parts_from_its_since(
        simulator: SimHandle, start_reconciler: RecFactory) -> None:
    async with ParadexRest(simulator.rest_url, signer=simulator.signer) as rest:
        await fills(rest, simulator, 3)
        await asyncio.sleep(0.01)  # the first 3 fills strictly before ``since`` (not in its ms)
        since = (await rest.system_time()).server_time_ms
        await asyncio.sleep(0.01)
        await fills(rest, simulator, 2)
    rec = await start_reconciler(simulator, run_at_startup=False)
    req = ReconcileRequest(reason="missed_push", parts=("positions", "fills"), since_ms=since)
    reply = await rec.nc.request(subjects.RECONCILE_REQUEST, encode_request(req), timeout=5)
    assert ack_of(reply.data)["accepted"]
    await until(lambda: any(isinstance(e, SnapshotFinished) for _, e, _ in rec.tap.items), 10, "run")
    (marker,) = started(rec)
    assert marker.parts == ("positions", "fills") and marker.since_ms == since
    events = rec.events_of(marker.snapshot_id)
    assert {e.part for e in events if isinstance(e, SnapshotPart)} == {"positions", "fills"}
    got = [e.fill for e in events if isinstance(e, FillEvent)]
    assert len(got) == 2 and all(f.created_at >= since for f in got)  # only the window asked for
    assert any(isinstance(e, PositionEvent) for e in events)
    paths = [p for k, p in rec.timeline if k == "req"]
    assert "/orders" not in paths and "/balance" not in paths and "/orders-history" not in paths
    assert rec.service.limiter.counts == {"targeted": 2}


async def test_a_repair_does_not_wait_behind_a_hanging_full_run(
        simulator: SimHandle, start_reconciler: RecFactory) -> None:
    simulator.sim.faults.rest_errors.append(RestFault(count=1, kind="hang", hang_ms=4000,
                                                      path="/v1/orders-history"))
    rec = await start_reconciler(simulator, request_timeout_s=10.0, shutdown_grace_s=0.2)
    await until(lambda: any(k == "req" and p == "/orders-history" for k, p in rec.timeline), 10,
                "full run stuck on /orders-history")
    t0 = time.monotonic()
    rec.service.submit("missed_push", parts=("balances",))
    await until(lambda: any(isinstance(e, SnapshotFinished) for _, e, _ in rec.tap.items), 5,
                "the targeted run finished while the full one hangs")
    assert time.monotonic() - t0 < 2
    full, targeted = started(rec)
    assert full.reason == "startup" and targeted.parts == ("balances",)


async def test_fast_check_runs_every_fast_interval_with_the_four_cheap_parts(
        simulator: SimHandle, start_reconciler: RecFactory) -> None:
    rec = await start_reconciler(simulator, run_at_startup=False, fast_interval_s=0.3)
    await until(lambda: len(rec.service.reports) >= 3, 10, "three fast checks done")
    fast = started(rec)
    assert all(m.reason == "fast_check" for m in fast)
    assert all(m.parts == ("open_orders", "positions", "account", "balances") for m in fast)
    done = len(rec.service.reports)  # a fourth may be under way: 4 requests each
    assert 4 * done <= rec.service.limiter.counts["fast_check"] <= 4 * (done + 1)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{rec.service.http.port}") as client:
        metrics = (await client.get("/metrics")).text
        health = (await client.get("/healthz")).json()
    assert 'reconciler_venue_requests_total{purpose="fast_check"}' in metrics
    assert health["venue_requests"]["fast_check"] >= 12
    assert set(health["lanes"]) == {"full", "fast"}


async def test_quiet_budget_per_minute_with_default_intervals(
        simulator: SimHandle, start_reconciler: RecFactory) -> None:
    """Default intervals (full 300 s, fast 10 s) scaled down 100x: the private GETs per interval
    are what the README's budget counts (4 per fast check, 6 per quiet full run)."""
    async with ParadexRest(simulator.rest_url, signer=simulator.signer) as rest:
        await fills(rest, simulator, 2)
    rec = await start_reconciler(simulator, interval_s=3.0, fast_interval_s=0.1)
    await asyncio.sleep(3.2)
    await rec.service.stop()  # nothing under way any more: counts and reports agree
    counts = dict(rec.service.limiter.counts)
    fast_runs = sum(1 for r in rec.service.reports if r.plan.reasons == ("fast_check",))
    full_runs = sum(1 for r in rec.service.reports if r.plan.parts and len(r.plan.parts) == 6)
    assert full_runs == 2 and fast_runs >= 10  # startup + one periodic; the fast timer under load
    assert counts["full"] == 6 * full_runs and counts["fast_check"] == 4 * fast_runs
