"""End to end: a REST snapshot served from a stale venue cache never overwrites fresher WS data.

The simulator serves private GETs from a cache (control API ``PUT /control/rest/stale``) while the
truth moves on; the fresher truth reaches the ACCOUNT stream as a WS-like ``OrderEvent``. Folding
the stream with the state core keeps the fresher order and counts the stale REST record.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from services.simulator.engine import convert
from services.state.core import CLOSED, StateCore
from shared.bus import OrderEvent, SnapshotFinished, decode_event, subjects
from shared.paradex.rest import ParadexRest
from tests.feed.helpers import until
from tests.reconciler.helpers import BTC, RecFactory
from tests.simfixture import SimHandle


async def fold_stream(js: Any, token: str, finished: int) -> tuple[StateCore, list[Any]]:
    """Fold the account's ACCOUNT-stream events (in stream order) until ``finished`` snapshots ended."""
    core = StateCore()
    events: list[Any] = []
    sub = await js.subscribe(subjects.account_filter(token), ordered_consumer=True)
    try:
        done = 0
        deadline = time.monotonic() + 10
        while done < finished and time.monotonic() < deadline:
            try:
                msg = await sub.next_msg(timeout=0.5)
            except Exception:  # nats TimeoutError: nothing yet
                continue
            event = decode_event(msg.data)
            events.append(event)
            core.apply(msg.metadata.sequence.stream, event)
            done += isinstance(event, SnapshotFinished)
    finally:
        await sub.unsubscribe()
    return core, events


async def test_stale_rest_snapshot_does_not_overwrite_fresher_ws_order(
        simulator: SimHandle, start_reconciler: RecFactory) -> None:
    rec = await start_reconciler(simulator, run_at_startup=False)
    async with ParadexRest(simulator.rest_url, signer=simulator.signer) as rest:
        bid, _ = simulator.best(BTC)
        placed = await rest.place_order(market=BTC, side="BUY", type="LIMIT", size="0.01",
                                        price=str(bid - 500), client_id="stale-1")
        simulator.venue.process_now()
        async with httpx.AsyncClient() as control:
            resp = await control.put(f"{simulator.control_url}/rest/stale", json={"ms": 60_000})
            assert resp.status_code == 200, resp.text

        rec.service.submit("state_startup")  # run 1 fills the venue's cache: the order is OPEN
        await until(lambda: len(rec.service.reports) >= 1, 10, "first snapshot")

        await rest.cancel_order(placed.id)  # the truth moves on...
        simulator.venue.process_now()
        truth = convert.order(simulator.exchange.get_order(simulator.account, placed.id))
        assert truth.status == "CLOSED"
        # ...and the WebSocket tells us first (as the feed would publish it).
        await rec.service.publisher.publish(OrderEvent(
            source="ws", conn_epoch=1, venue_ts_ms=truth.last_updated_at, recv_ns=time.time_ns(),
            order=truth))

        rec.service.submit("feed_reconnect")  # run 2: REST answers from the stale cache
        await until(lambda: len(rec.service.reports) >= 2, 10, "second snapshot")

    second = rec.service.reports[1]
    stale = [e for e in rec.events_of(second.snapshot_id)
             if isinstance(e, OrderEvent) and e.order.id == placed.id and e.order.status == "OPEN"]
    assert stale, "the venue cache did serve the stale OPEN order"
    assert stale[0].venue_ts_ms < truth.last_updated_at

    core, events = await fold_stream(rec.nc.jetstream(), rec.token, finished=2)
    assert sum(isinstance(e, SnapshotFinished) for e in events) == 2
    order = core.get_order(order_id=placed.id).value
    assert order is not None and order.status == CLOSED
    assert core.counters.get("stale_rest_suppressed") >= 1
    assert placed.id not in {o.id for o in core.open_orders().value}
