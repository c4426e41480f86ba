"""End-to-end races: every service in-process, real NATS and Redis, the simulator's faults.

Each scenario runs a strategy-like poller (HTTP, every 20 ms) through its traffic and checks that
it never sees an order status go back, a filled order reported open (or a fill missing) after the
venue published the fill plus an allowance (tests/system/races.py explains 250 ms), or an order it
submitted missing once the commands call returned (strict: every poll reads with ``min_seq`` = the
``seq`` of the poller's latest commands reply, so there is no read-your-write gap); then, the venue
quiet, that the state equals the simulator's ground truth (orders, fills, positions, balances in
canonical form). Each prints events applied, stale REST records suppressed, corrections and the
final comparison (``pytest -s``).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from tests.system.harness import M, System, full_system, wait_until
from tests.system.races import (
    ALLOWANCE_MS,
    Poller,
    check_fills_visible,
    converge,
    report,
)

pytestmark = pytest.mark.slow
TICK = Decimal("0.1")


@contextlib.asynccontextmanager
async def scenario(nats_url: str, redis_url: str, **kw: Any) -> AsyncIterator[tuple[System, Poller, Any]]:
    async with full_system(nats_url, redis_url, **kw) as s:
        poller = Poller(s.state_client())
        task = asyncio.create_task(poller.run())
        try:
            yield s, poller, s.commands_client("poller")
        finally:
            poller.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 5)


async def fills_burst(s: System, poller: Poller, cmd: Any, n: int, tag: str, *, pause_s: float = 0.0,
                      wait: str = "ack") -> list[str]:
    """``n`` orders: crossing ones (fills, alternating sides) and resting ones far from the touch."""
    cids = []
    for i in range(n):
        bid, ask = s.sim.best()
        cid = f"{tag}-{i}"
        if i % 3 == 2:
            await poller.place(cmd, "BUY", "0.01", bid - 200 * TICK, cid, wait=wait)
        elif i % 2 == 0:
            await poller.place(cmd, "BUY", "0.003", ask + 20 * TICK, cid, wait=wait)
        else:
            await poller.place(cmd, "SELL", "0.003", bid - 20 * TICK, cid, wait=wait)
        cids.append(cid)
        if pause_s:
            await asyncio.sleep(pause_s)
    return cids


async def finish(name: str, s: System, poller: Poller, allowance_ms: int = ALLOWANCE_MS,
                 windows: list[tuple[float, float]] | None = None, extra: str = "") -> None:
    state = s.state_client()
    differences, truth = await converge(s, state)
    await asyncio.sleep(0.1)  # a few more polls of the settled state
    poller.stop()
    fill_violations = check_fills_visible(poller, await s.truth(), allowance_ms, windows or [])
    report(name, s, poller, differences, truth, extra)
    assert not poller.violations, poller.violations[:10]
    assert not fill_violations, fill_violations[:10]
    assert not differences, differences[:20]
    assert truth["fills"], "the scenario made no fill: it tested nothing"


async def test_rest_served_2s_stale_while_ws_delivers_fills_never_overwrites_them(
        nats_url: str, redis_url: str) -> None:
    async with scenario(nats_url, redis_url, reconciler={"interval_s": 0.3}) as (s, poller, cmd):
        await s.fault("PUT", "/rest/stale", {"ms": 2000})
        await fills_burst(s, poller, cmd, 18, "stale", pause_s=0.1)
        await asyncio.sleep(2.5)  # periodic snapshots keep arriving from the 2 s old cache
        await s.fault("POST", "/reset")
        await finish("rest 2 s stale", s, poller)
        assert s.state_service.core.metrics().get("stale_rest_suppressed", 0) > 0


async def test_ws_dropped_during_fills_is_repaired_by_reconciliation(nats_url: str, redis_url: str) -> None:
    async with scenario(nats_url, redis_url) as (s, poller, cmd):
        await fills_burst(s, poller, cmd, 4, "pre")
        start = time.time()
        await s.fault("PUT", "/ws/freeze", {"frozen": True})  # fills happen, nothing is pushed...
        await fills_burst(s, poller, cmd, 6, "dark")
        await s.fault("POST", "/ws/drop", {})  # ...and the connection dies with them unsent
        await s.fault("PUT", "/ws/freeze", {"frozen": False})
        await fills_burst(s, poller, cmd, 4, "post")
        await finish("ws dropped during fills", s, poller, windows=[(start, time.time())])
        assert s.state_service.core.metrics().get("corrections", 0) > 0


async def test_duplicated_and_reordered_private_pushes_change_nothing(nats_url: str, redis_url: str) -> None:
    async with scenario(nats_url, redis_url) as (s, poller, cmd):
        await s.fault("PUT", "/ws/private", {"duplicate": {"probability": 0.3},
                                              "reorder": {"probability": 0.3}})
        await fills_burst(s, poller, cmd, 18, "dup")
        cancel = [c for c in poller.submitted if c.endswith(("-2", "-5", "-8"))]
        poller.saw((await cmd.cancel_batch(client_ids=cancel)).seq)
        await asyncio.sleep(0.3)
        await s.fault("POST", "/reset")
        await finish("duplicated + reordered pushes", s, poller)


async def test_reconnect_in_the_middle_of_a_burst(nats_url: str, redis_url: str) -> None:
    async with scenario(nats_url, redis_url) as (s, poller, cmd):
        start = time.time()
        burst = asyncio.create_task(fills_burst(s, poller, cmd, 24, "burst", wait="none"))
        await asyncio.sleep(0.15)
        await s.fault("POST", "/ws/drop", {})
        await burst

        async def reconnected() -> bool:
            return s.feed.status.epoch >= 2

        # The burst can end before the feed's jittered reconnect completes: wait for it (bounded).
        await wait_until(reconnected, 10.0, "the feed's reconnect (epoch 2)")
        epoch = s.feed.status.epoch
        await finish("reconnect mid-burst", s, poller, windows=[(start, time.time())],
                     extra=f"; feed epoch {epoch}")


async def test_tradebust_marks_the_fill_and_restores_position_and_balance(
        nats_url: str, redis_url: str) -> None:
    async with scenario(nats_url, redis_url) as (s, poller, cmd):
        await fills_burst(s, poller, cmd, 6, "bust")
        truth = await s.truth()
        victim = truth["fills"][-1]["id"]
        await s.fault("POST", "/bust", {"fill_id": victim})
        state = s.state_client()
        await wait_until(lambda: _busted(state, victim), 5.0, f"fill {victim} busted in state")
        await finish("tradebust", s, poller, extra=f"; busted {victim}")


async def test_command_timeout_goes_unknown_then_lookup_finds_the_true_status(
        nats_url: str, redis_url: str) -> None:
    async with scenario(nats_url, redis_url, commands={"venue_read_timeout_s": 0.5}) as (s, poller, cmd):
        await fills_burst(s, poller, cmd, 3, "pre")
        # the venue executes the order but its answer never comes back in time, and the WebSocket
        # is frozen: only the reconciler's lookup can tell the state what happened
        await asyncio.sleep(0.3)
        start = time.time()
        await s.fault("PUT", "/ws/freeze", {"frozen": True})
        await s.fault("POST", "/rest/errors", {"kind": "hang", "path": "/v1/orders", "method": "POST",
                                                "execute": True, "hang_ms": 2000, "count": 1})
        bid, _ = s.sim.best()
        status = await poller.place(s.commands_client("poller"), "BUY", "0.01", bid - 300 * TICK, "lost-1")
        assert status == "unknown"
        state = s.state_client()

        async def resolved() -> bool:
            o = await state.find_order("lost-1")
            return o is not None and o.status == "OPEN" and bool(o.id)

        await wait_until(resolved, 10.0, "the lookup resolved lost-1 to its true status OPEN")
        await s.fault("PUT", "/ws/freeze", {"frozen": False})

        async def poller_saw_open() -> bool:
            # another client saw OPEN; the race poller (every 20 ms) must see it by its own poll
            last = next((o.orders["lost-1"] for o in reversed(poller.observations)
                         if "lost-1" in o.orders), None)
            return last is not None and last[0] == "OPEN"

        await wait_until(poller_saw_open, 5.0, "the race poller's own poll showing lost-1 OPEN")
        seen = [st for st, _ in dict.fromkeys(o.orders["lost-1"] for o in poller.observations
                                               if "lost-1" in o.orders)]
        assert "UNKNOWN" in seen and seen[-1] == "OPEN", seen
        await finish("command timeout -> unknown -> lookup", s, poller, windows=[(start, time.time())],
                     extra=f"; lost-1 statuses seen by the poller {seen}")


async def test_rest_polling_once_a_second_is_far_staler_than_the_ws_driven_state(
        nats_url: str, redis_url: str) -> None:
    async with scenario(nats_url, redis_url) as (s, poller, cmd):
        rest_seen: dict[str, float] = {}
        stop = asyncio.Event()

        async def rest_poller() -> None:
            async with s.sim.authed() as c:
                while not stop.is_set():
                    t = time.time()
                    for f in (await c.get("/fills", params={"market": M})).json()["results"]:
                        rest_seen.setdefault(f["id"], t)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 1.0)

        rp = asyncio.create_task(rest_poller())
        ws_seen: dict[str, float] = {}

        async def ws_watch() -> None:
            async for ch in s.state_client().events(kinds=["fill"]):
                ws_seen.setdefault(ch.key, time.time())

        ww = asyncio.create_task(ws_watch())
        await asyncio.sleep(0.3)
        await fills_burst(s, poller, cmd, 12, "cmp", pause_s=0.25)
        await asyncio.sleep(1.5)
        stop.set()
        await rp
        ww.cancel()
        truth = await s.truth()
        made = {f["id"]: f["created_at"] / 1000 for f in truth["fills"]}
        assert made and set(made) <= set(rest_seen) and set(made) <= set(ws_seen)
        rest_ms = sorted((rest_seen[i] - t) * 1000 for i, t in made.items())
        ws_ms = sorted((ws_seen[i] - t) * 1000 for i, t in made.items())
        line = (f"[staleness] fills {len(made)}: REST poll 1/s p50 {statistics.median(rest_ms):.0f} ms "
                f"max {rest_ms[-1]:.0f} ms; WS-driven state p50 {statistics.median(ws_ms):.1f} ms "
                f"max {ws_ms[-1]:.1f} ms")
        print("\n" + line)
        await finish("rest-only comparison", s, poller, extra="; " + line)


async def _busted(state: Any, fill_id: str) -> bool:
    return any(f.fill.id == fill_id and f.busted for f in (await state.fills(market=M)).value)


