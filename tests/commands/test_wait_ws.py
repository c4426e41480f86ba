"""``wait=ws``: the reply waits for the feed's WebSocket confirmation of the order (feed running
in-process on the simulator, signatures verified, real NATS and Redis)."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import httpx

from shared.bus import OrderEvent
from tests.commands.helpers import Factory
from tests.commands.stack import Tap
from tests.simfixture import SimHandle


async def test_resting_limit_with_wait_ws_returns_200_open_after_the_ws_confirmation(
    simulator: SimHandle, start_commands: Factory, start_feed: Any, nc: Any, unique: str
) -> None:
    await start_feed(simulator)
    cmd = await start_commands(simulator)
    tap = await Tap().start(nc, cmd.service.settings.account_token)
    bid, _ = simulator.best()
    cid = f"mm-ws-open-{unique}"
    r = await cmd.place(client_id=cid, price=str(bid), wait="ws", timeout_s=5)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "open" and body["client_id"] == cid
    venue = [o for o in simulator.exchange.open_orders(simulator.account) if o.client_id == cid]
    assert len(venue) == 1 and body["order_id"] == venue[0].id
    # the reply came from the feed's WS event, not from the POST answer (which says NEW)
    ws = [e for e in tap.of(OrderEvent) if e.source == "ws" and e.order.client_id == cid]
    assert any(e.order.status == "OPEN" for e in ws)


async def test_ioc_without_liquidity_with_wait_ws_returns_closed(
    simulator: SimHandle, start_commands: Factory, start_feed: Any, unique: str
) -> None:
    await start_feed(simulator)
    cmd = await start_commands(simulator)
    bid, _ = simulator.best()  # a BUY at the best bid crosses nothing: the IOC is cancelled unfilled
    cid = f"mm-ws-ioc-{unique}"
    r = await cmd.place(client_id=cid, price=str(bid), instruction="IOC", wait="ws", timeout_s=5)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "closed" and Decimal(body["order"]["remaining_size"]) == Decimal("0.01")
    venue = [o for o in simulator.exchange.orders_history(simulator.account) if o.client_id == cid]
    assert len(venue) == 1 and venue[0].status == "CLOSED"


async def test_frozen_websocket_makes_wait_ws_time_out_with_202_pending(
    simulator: SimHandle, start_commands: Factory, start_feed: Any, unique: str
) -> None:
    await start_feed(simulator)
    cmd = await start_commands(simulator)
    async with httpx.AsyncClient(base_url=simulator.control_url) as ctl:
        assert (await ctl.put("/ws/freeze", json={"frozen": True})).status_code == 200
    bid, _ = simulator.best()
    cid = f"mm-ws-frozen-{unique}"
    started = time.monotonic()
    r = await cmd.place(client_id=cid, price=str(bid), wait="ws", timeout_s=0.5)
    waited = time.monotonic() - started
    assert r.status_code == 202, r.text
    assert r.headers.get("Wait-Timeout") == "true"
    body = r.json()
    assert body["status"] == "pending" and body["client_id"] == cid and body["order_id"]
    assert waited >= 0.5
    # the venue has the order; a duplicate returns the first answer exactly, not a resend
    assert len([o for o in simulator.exchange.orders_history(simulator.account) if o.client_id == cid]) == 1
    again = await cmd.place(client_id=cid)
    assert (again.status_code, again.content) == (r.status_code, r.content)
    assert again.headers["Wait-Timeout"] == "true" and again.headers["Idempotent-Replay"] == "true"
    assert cid not in cmd.service.watch.waiters
