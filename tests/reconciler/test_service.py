"""The reconciler against the in-process simulator and real NATS (JetStream).

Each test gets a fresh simulator and a reconciler publishing under its own account token, tapped
with core NATS subscriptions (JetStream publishes reach them too, in publish order).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from services.simulator.faults import RestFault
from shared.bus import (
    FillEvent,
    LookupResult,
    OrderEvent,
    SnapshotFinished,
    SnapshotPart,
    SnapshotStarted,
    subjects,
)
from shared.bus.requests import ReconcileRequest, encode_request
from shared.paradex.models.account import Order
from shared.paradex.rest import ParadexRest, RequestTiming, build_order
from tests.feed.helpers import until
from tests.reconciler.helpers import BTC, Rec, RecFactory, ack_of
from tests.simfixture import SimHandle


def order_of(result: LookupResult) -> Order:
    assert result.order is not None, result
    return result.order


PARTS = {"open_orders", "positions", "account", "balances", "order_history", "fills"}


async def resting_and_filled(rest: ParadexRest, sim: SimHandle) -> str:
    """A resting BUY (client id ``rest-1``) and a filled market BUY; the resting order's id."""
    bid, _ = sim.best(BTC)
    order = await rest.place_order(market=BTC, side="BUY", type="LIMIT", size="0.01",
                                   price=str(bid - 1000), client_id="rest-1")
    await rest.place_order(market=BTC, side="BUY", type="MARKET", size="0.001", instruction="IOC",
                           client_id="taker-1")
    sim.venue.process_now()
    return order.id


def check_snapshot_shape(rec: Rec, snapshot_id: str) -> list[Any]:
    """Events of one snapshot in order started → records → parts → finished; returns them."""
    events = rec.events_of(snapshot_id)
    kinds = [type(e).__name__ for e in events]
    assert isinstance(events[0], SnapshotStarted), kinds
    assert isinstance(events[-1], SnapshotFinished), kinds
    parts_at = [i for i, e in enumerate(events) if isinstance(e, SnapshotPart)]
    assert len(parts_at) == 6 and parts_at == list(range(len(events) - 7, len(events) - 1)), kinds
    records = events[1:parts_at[0]]
    assert all(e.source == "rest" and e.recv_ns > 0 for e in records)
    assert events[-1].records == len(records) == sum(p.count for p in events[1 + len(records):-1])
    return events


async def test_startup_snapshot_publishes_started_records_parts_finished_complete(
        simulator: SimHandle, start_reconciler: RecFactory) -> None:
    async with ParadexRest(simulator.rest_url, signer=simulator.signer) as rest:
        resting_id = await resting_and_filled(rest, simulator)
    rec = await start_reconciler(simulator)
    await until(lambda: len(rec.service.reports) >= 1 and any(
        isinstance(e, SnapshotFinished) for _, e, _ in rec.tap.items), 10, "start-up snapshot")
    report = rec.service.reports[0]
    assert report.plan.reasons == ("startup",)
    events = check_snapshot_shape(rec, report.snapshot_id)
    started, finished = events[0], events[-1]
    assert started.reason == "startup" and set(started.parts) == PARTS and started.since_ms > 0
    assert started.venue_ts_ms > 0 and started.recv_ns > 0
    assert finished.complete and finished.errors == () and finished.records > 0
    parts = {e.part: e for e in events if isinstance(e, SnapshotPart)}
    assert set(parts) == PARTS and all(p.complete and p.error == "" for p in parts.values())
    orders = [e for e in events if isinstance(e, OrderEvent)]
    resting = [e for e in orders if e.order.id == resting_id]
    assert resting and all(e.venue_ts_ms == e.order.last_updated_at for e in resting)
    assert parts["open_orders"].count == 1 and parts["account"].count == 1
    fills = [e for e in events if isinstance(e, FillEvent)]
    assert fills and all(e.venue_ts_ms == e.fill.created_at for e in fills)
    # The marker went out before the run's first account request.
    first_pub = next(i for i, (k, e) in enumerate(rec.timeline) if k == "pub"
                     and isinstance(e, SnapshotStarted))
    account_reqs = [i for i, (k, p) in enumerate(rec.timeline)
                    if k == "req" and p not in ("/system/time", "/auth", "/system/config")]
    assert account_reqs and first_pub < min(account_reqs)


async def test_periodic_runs_happen_every_interval(simulator: SimHandle,
                                                   start_reconciler: RecFactory) -> None:
    rec = await start_reconciler(simulator, interval_s=0.2)
    await until(lambda: len(rec.service.reports) >= 3, 10, "three runs")
    reasons = [r.plan.reasons for r in rec.service.reports]
    assert reasons[0] == ("startup",) and ("periodic",) in reasons[1:]
    assert all(r.complete for r in rec.service.reports)
    # The cursor advanced: later runs ask for history since the previous start minus the overlap.
    first, second = rec.service.reports[0], rec.service.reports[1]
    assert second.since_ms == first.started_venue_ms - 60_000


async def test_twenty_simultaneous_requests_are_coalesced_into_one_run(
        simulator: SimHandle, start_reconciler: RecFactory) -> None:
    rec = await start_reconciler(simulator, run_at_startup=False)
    payload = encode_request(ReconcileRequest(reason="feed_reconnect"))
    replies = await asyncio.gather(*(rec.nc.request(subjects.RECONCILE_REQUEST, payload, timeout=5)
                                     for _ in range(20)))
    assert all(ack_of(r.data)["accepted"] for r in replies)
    await until(lambda: sum(r.plan.requests for r in rec.service.reports) == 20, 10, "20 requests answered")
    await asyncio.sleep(0.3)
    runs = rec.service.reports
    assert 1 <= len(runs) <= 2, [r.plan.requests for r in runs]
    assert sum(isinstance(e, SnapshotStarted) for _, e, _ in rec.tap.items) == len(runs)
    assert rec.service.lanes.coalesced >= 20 - len(runs)


async def test_bad_request_is_refused_in_the_ack_and_runs_nothing(
        simulator: SimHandle, start_reconciler: RecFactory) -> None:
    rec = await start_reconciler(simulator, run_at_startup=False)
    reply = await rec.nc.request(subjects.RECONCILE_REQUEST, b'{"order_ids": 5}', timeout=5)
    ack = ack_of(reply.data)
    assert ack["accepted"] is False and ack["error"]
    await asyncio.sleep(0.2)
    assert rec.service.reports == []


async def test_history_of_250_orders_is_fetched_across_pages(simulator: SimHandle,
                                                            start_reconciler: RecFactory) -> None:
    async with ParadexRest(simulator.rest_url, signer=simulator.signer) as rest:
        assert rest.signer is not None
        for batch in range(25):
            orders = [build_order(rest.signer, market=BTC, side="BUY", type="LIMIT", size="0.01",
                                  price="1000", now_ms=rest.now_ms(), instruction="IOC",
                                  client_id=f"h-{batch}-{i}") for i in range(10)]
            assert (await rest.create_orders(orders)).errors == []
        simulator.venue.process_now()
    rec = await start_reconciler(simulator, page_size=40)
    await until(lambda: len(rec.service.reports) >= 1, 15, "snapshot")
    report = rec.service.reports[0]
    assert report.complete and report.parts["order_history"].count == 250
    history_pages = [t for t in rec.responses if t.path == "/orders-history"]
    assert len(history_pages) == 7  # ceil(250 / 40)
    ids = {e.order.id for e in rec.events_of(report.snapshot_id) if isinstance(e, OrderEvent)}
    assert len(ids) == 250


async def test_rest_5xx_on_one_endpoint_gives_incomplete_part_and_snapshot(
        simulator: SimHandle, start_reconciler: RecFactory) -> None:
    simulator.sim.faults.rest_errors.append(RestFault(count=50, status=503, path="/v1/fills"))
    rec = await start_reconciler(simulator)
    await until(lambda: len(rec.service.reports) >= 1, 10, "snapshot")
    report = rec.service.reports[0]
    events = check_snapshot_shape(rec, report.snapshot_id)
    parts = {e.part: e for e in events if isinstance(e, SnapshotPart)}
    assert not parts["fills"].complete and "503" in parts["fills"].error
    assert all(p.complete for name, p in parts.items() if name != "fills")
    assert not events[-1].complete and any(err.startswith("fills:") for err in events[-1].errors)
    assert rec.service.cursor.last_success_start_ms is None  # the cursor does not advance


async def test_rest_timeout_on_one_endpoint_gives_incomplete_part(simulator: SimHandle,
                                                                 start_reconciler: RecFactory) -> None:
    simulator.sim.faults.rest_errors.append(
        RestFault(count=5, kind="hang", hang_ms=3000, path="/v1/positions"))
    rec = await start_reconciler(simulator, request_timeout_s=0.2)
    await until(lambda: len(rec.service.reports) >= 1, 10, "snapshot")
    report = rec.service.reports[0]
    assert not report.complete and not report.parts["positions"].complete
    assert report.parts["positions"].error
    assert report.parts["open_orders"].complete and report.parts["fills"].complete


async def test_failure_after_first_history_page_is_partial_never_complete(
        simulator: SimHandle, start_reconciler: RecFactory) -> None:
    async with ParadexRest(simulator.rest_url, signer=simulator.signer) as rest:
        assert rest.signer is not None
        for _ in range(10):
            orders = [build_order(rest.signer, market=BTC, side="BUY", type="LIMIT", size="0.01",
                                  price="1000", now_ms=rest.now_ms(), instruction="IOC") for _ in range(10)]
            assert (await rest.create_orders(orders)).errors == []
        simulator.venue.process_now()

    def break_after_first_page(t: RequestTiming) -> None:
        if t.path == "/orders-history" and t.status == 200 and not simulator.sim.faults.rest_errors:
            simulator.sim.faults.rest_errors.append(
                RestFault(count=50, status=500, path="/v1/orders-history"))

    rec = await start_reconciler(simulator, page_size=30, on_response=break_after_first_page)
    await until(lambda: len(rec.service.reports) >= 1, 10, "snapshot")
    part = rec.service.reports[0].parts["order_history"]
    assert part.count == 30 and not part.complete and "500" in part.error
    published = [e for e in rec.events_of(rec.service.reports[0].snapshot_id)
                 if isinstance(e, SnapshotPart) and e.part == "order_history"]
    assert published[0].count == 30 and not published[0].complete


async def test_lookups_by_id_and_client_id_found_and_not_found(simulator: SimHandle,
                                                              start_reconciler: RecFactory) -> None:
    async with ParadexRest(simulator.rest_url, signer=simulator.signer) as rest:
        resting_id = await resting_and_filled(rest, simulator)
        closed = await rest.place_order(market=BTC, side="BUY", type="LIMIT", size="0.01", price="1000",
                                        instruction="IOC", client_id="gone-1")
        simulator.venue.process_now()
    rec = await start_reconciler(simulator, run_at_startup=False)
    req = ReconcileRequest(reason="unknown_command", order_ids=(resting_id, closed.id, "999999"),
                           client_ids=("rest-1", "gone-1", "never-sent"))
    reply = await rec.nc.request(subjects.RECONCILE_REQUEST, encode_request(req), timeout=5)
    assert ack_of(reply.data)["accepted"]
    await until(lambda: len([e for _, e, _ in rec.tap.items if isinstance(e, LookupResult)]) == 6, 10,
                "six lookup results")
    results = {(e.order_id or e.client_id): e for _, e, _ in rec.tap.items if isinstance(e, LookupResult)}
    assert results[resting_id].found and order_of(results[resting_id]).status == "OPEN"
    assert results[closed.id].found and order_of(results[closed.id]).status == "CLOSED"
    assert not results["999999"].found and results["999999"].error == ""
    assert results["rest-1"].found and order_of(results["rest-1"]).id == resting_id
    assert results["gone-1"].found and order_of(results["gone-1"]).id == closed.id
    assert not results["never-sent"].found and results["never-sent"].error == ""
    assert not any(isinstance(e, SnapshotStarted) for _, e, _ in rec.tap.items)  # lookups only


async def test_failed_lookup_is_reported_as_error_not_as_not_found(simulator: SimHandle,
                                                                  start_reconciler: RecFactory) -> None:
    rec = await start_reconciler(simulator, run_at_startup=False)
    simulator.sim.faults.rest_errors.append(RestFault(count=50, status=502, path="/v1/orders/"))
    rec.service.submit("unknown_command", order_ids=("123",))
    await until(lambda: any(isinstance(e, LookupResult) for _, e, _ in rec.tap.items), 10, "lookup result")
    result = next(e for _, e, _ in rec.tap.items if isinstance(e, LookupResult))
    assert not result.found and "502" in result.error


async def test_metrics_and_healthz_report_runs(simulator: SimHandle, start_reconciler: RecFactory) -> None:
    simulator.sim.faults.rest_errors.append(RestFault(count=50, status=503, path="/v1/balance"))
    rec = await start_reconciler(simulator)
    await until(lambda: len(rec.service.reports) >= 1, 10, "snapshot")
    rec.service.submit("operator", client_ids=("nope",))
    await until(lambda: len(rec.service.reports) >= 2, 10, "lookup run")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{rec.service.http.port}") as client:
        metrics = (await client.get("/metrics")).text
        health = await client.get("/healthz")
    assert 'reconciler_runs_total{outcome="incomplete"} 1.0' in metrics
    assert 'reconciler_runs_total{outcome="lookups_only"} 1.0' in metrics
    assert 'reconciler_errors_total{part="balances"} 1.0' in metrics
    assert 'reconciler_lookups_total{outcome="not_found"} 1.0' in metrics
    assert "reconciler_run_duration_seconds_count 2.0" in metrics
    assert health.status_code == 200 and health.json()["last_run"]["reasons"] == ["operator"]
