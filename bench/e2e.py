"""End-to-end latency: a venue event -> visible in the state service over HTTP.

The whole system in one process (tests/system/harness.py: simulator, local NATS and Redis, feed,
reconciler, state, commands), the simulator's latency faults off. An order is placed directly at
the simulator's REST API (not through our commands service, so nothing of ours knows it first);
its venue timestamp ``last_updated_at`` (wall clock, ms) starts the clock; a tight HTTP poller on
``/v1/orders/by_client_id`` (every 1 ms) stops it when the state shows the venue's OPEN.

- ``ws_p50_ms`` / ``ws_p99_ms``: the WebSocket path (push -> feed -> JetStream -> state -> HTTP);
- ``rest_poll_p50_ms``: the same events seen by a strategy polling the venue's REST ``/orders``
  once a second instead (what the hub replaces).

Resolution: the venue stamps in whole ms, so each sample carries up to +1 ms. Prints, LAST, one
JSON line. Run: ``python -m bench.e2e``.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from shared.localservers import NatsServer, RedisServer
from tests.system.harness import M, System, full_system

WS_SAMPLES = 200
REST_SAMPLES = 20
REST_PERIOD_S = 1.0


def pct(xs: list[float], q: float) -> float:
    ys = sorted(xs)
    return ys[min(len(ys) - 1, int(q * len(ys)))]


async def place_at_venue(s: System, client: httpx.AsyncClient, cid: str) -> tuple[int, str]:
    """A resting BUY far from the touch: the venue's ``last_updated_at`` of its acceptance (ms)
    and its id (cancel it after: the venue caps open orders per account)."""
    bid, _ = s.sim.best()
    body = s.sim.order("BUY", "0.001", str(bid - 500), client_id=cid)
    resp = await client.post("/orders", json=body)
    resp.raise_for_status()
    return int(resp.json()["last_updated_at"]), str(resp.json()["id"])


async def ws_path(s: System) -> list[float]:
    out: list[float] = []
    async with s.sim.authed() as venue, httpx.AsyncClient(base_url=s.state_url, timeout=5) as state:
        for i in range(WS_SAMPLES):
            cid = f"ws-{i}"
            t_venue, oid = await place_at_venue(s, venue, cid)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                r = await state.get(f"/v1/orders/by_client_id/{cid}")
                if r.status_code == 200 and r.json()["value"].get("venue_status") == "OPEN":
                    out.append(time.time() * 1000 - t_venue)
                    break
                await asyncio.sleep(0.001)
            else:
                raise RuntimeError(f"{cid} never reached the state")
            (await venue.delete(f"/orders/{oid}")).raise_for_status()
    return out


async def rest_path(s: System) -> list[float]:
    """A strategy polling ``GET /orders`` once a second: when does it first see each order?"""
    created: dict[str, int] = {}
    seen: dict[str, float] = {}
    stop = asyncio.Event()

    async def poll() -> None:
        async with s.sim.authed() as c:
            while not stop.is_set():
                r = await c.get("/orders", params={"market": M})
                now = time.time() * 1000
                for o in r.json()["results"]:
                    seen.setdefault(o["client_id"], now)
                try:
                    await asyncio.wait_for(stop.wait(), REST_PERIOD_S)
                except TimeoutError:
                    pass

    task = asyncio.create_task(poll())
    async with s.sim.authed() as venue:
        for i in range(REST_SAMPLES):
            cid = f"rest-{i}"
            created[cid], _ = await place_at_venue(s, venue, cid)
            await asyncio.sleep(0.37)  # not a divisor of the poll period: spreads the phase
    await asyncio.sleep(REST_PERIOD_S + 0.2)
    stop.set()
    await task
    return [seen[c] - t for c, t in created.items()]


async def run(tmp: Path) -> dict[str, float | int]:
    ns, rs = NatsServer(tmp / "nats").start(), RedisServer(tmp / "redis").start()
    try:
        async with full_system(ns.url, rs.url) as s:
            await s.fault("POST", "/reset")  # no latency faults
            for i in range(20):  # warm-up: connections, JIT-less caches, JetStream consumer
                async with s.sim.authed() as venue:
                    _, oid = await place_at_venue(s, venue, f"warm-{i}")
                    await venue.delete(f"/orders/{oid}")
            ws = await ws_path(s)
            rest = await rest_path(s)
    finally:
        rs.stop()
        ns.stop()
    return {"ws_p50_ms": round(statistics.median(ws), 2), "ws_p99_ms": round(pct(ws, 0.99), 2),
            "ws_samples": len(ws), "rest_poll_p50_ms": round(statistics.median(rest), 1),
            "rest_poll_p99_ms": round(pct(rest, 0.99), 1), "rest_samples": len(rest),
            "rest_poll_period_s": REST_PERIOD_S}


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(run(Path(tmp)))
    print(f"venue event -> state HTTP: WebSocket p50 {result['ws_p50_ms']} ms p99 {result['ws_p99_ms']} ms; "
          f"REST polled 1/s p50 {result['rest_poll_p50_ms']} ms", file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
