"""Bounded memory of the state service (issue 18 item 3): a million orders, a million fills, then a
steady flow, with default settings.

``python -m bench.memory`` starts nats-server, redis-server and the state service as its own
process (``python -m services.state``, default settings: age retention 6 h, at most 20 000 closed
orders and 20 000 fills), then:

1. **bulk**: ``ORDERS`` orders (each one CLOSED record, filled) and ``FILLS`` fills, published as
   fast as JetStream takes them, with venue times paced like a 20 orders/s flow (so both the count
   limits and, past 6 h of venue time, the age horizon act); waits until the service applied the
   last one and prints ``rss_mb`` (the service's resident memory, from /proc, 5 s after it caught
   up) and ``rss_peak_bulk_mb`` (sampled every second while it was catching up);
2. **steady**: ``RATE`` orders/s for ``STEADY_S`` seconds (each order OPEN, one fill, CLOSED:
   three events), venue time following the wall clock; an SSE client that connects and never
   reads stays connected all along (it must be cut off, not buffered). RSS is sampled every
   ``SAMPLE_S``; ``growth_mb_per_min`` is the least-squares slope of the samples in the second half
   of the phase (once retention holds), ``growth_all_mb_per_min`` over the whole phase.

The last line is JSON (``rss_mb``, ``growth_mb_per_min``, ``sse_clients_end`` (0: the stalled
client was cut off), ...). Targets: rss_mb <= 400, growth ~0 once retention holds: the entity limits
are reached first, the tombstones (up to twice the limits) later, so a short run with a small
bulk still shows a little growth (~2 MB/min) while tombstones accumulate.
Environment: ``BENCH_ORDERS`` (1 000 000), ``BENCH_FILLS`` (1 000 000), ``BENCH_STEADY_S`` (600),
``BENCH_RATE`` (20), ``BENCH_SAMPLE_S`` (5); e.g. ``BENCH_ORDERS=100000 BENCH_FILLS=100000
BENCH_STEADY_S=60`` for a quick run; ``BENCH_STATE_ENV`` (``STATE_X=1,STATE_Y=2``) sets service settings.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import nats
import redis.asyncio as aioredis
from msgspec.structs import replace

from bench.state_service import _Http, _order_event, _Service
from shared.bus import EventPublisher, FillEvent, ensure_streams
from shared.localservers import NatsServer, RedisServer
from shared.paradex.models.account import Fill

ORDERS = int(os.environ.get("BENCH_ORDERS", "1000000"))
FILLS = int(os.environ.get("BENCH_FILLS", "1000000"))
STEADY_S = float(os.environ.get("BENCH_STEADY_S", "600"))
RATE = float(os.environ.get("BENCH_RATE", "20"))
SAMPLE_S = float(os.environ.get("BENCH_SAMPLE_S", "5"))
PRINT_EVERY = int(os.environ.get("BENCH_PRINT_EVERY", "200000"))
#: extra settings of the service, e.g. ``STATE_MAX_FILLS=10000,STATE_MAX_CLOSED_ORDERS=10000``
STATE_ENV = dict(kv.split("=", 1) for kv in os.environ.get("BENCH_STATE_ENV", "").split(",") if "=" in kv)
T0 = 1_700_000_000_000
ACCOUNT = "benchmem"
Z = Decimal(0)


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def slope_per_min(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) samples, in MB per minute."""
    if len(samples) < 2:
        return float("nan")
    n = len(samples)
    mx = sum(t for t, _ in samples) / n
    my = sum(v for _, v in samples) / n
    var = sum((t - mx) ** 2 for t, _ in samples)
    return sum((t - mx) * (v - my) for t, v in samples) / var * 60 if var else float("nan")


def _closed(i: int, ts: int) -> Any:
    ev = _order_event(i, ACCOUNT)
    o = replace(ev.order, status="CLOSED", remaining_size=Z, last_updated_at=ts, created_at=ts - 40,
                seq_no=2)
    return replace(ev, venue_ts_ms=ts, recv_ns=ts * 1_000_000, order=o)


def _open(i: int, ts: int) -> Any:
    ev = _order_event(i, ACCOUNT)
    o = replace(ev.order, last_updated_at=ts, created_at=ts)
    return replace(ev, venue_ts_ms=ts, recv_ns=ts * 1_000_000, order=o)


def _fill(i: int, order_id: int, ts: int) -> FillEvent:
    f = Fill(id=f"f{i}", side="BUY", liquidity="TAKER", market="BTC-USD-PERP", order_id=str(order_id),
             price=Decimal("100"), size=Decimal("1"), fee=Z, fee_currency="USDC", created_at=ts,
             remaining_size=Z, client_id=f"c{order_id}", fill_type="FILL", realized_pnl=Z,
             realized_funding=Z, account=ACCOUNT, underlying_price="0", flags=[])
    return FillEvent(source="ws", venue_ts_ms=ts, recv_ns=ts * 1_000_000, conn_epoch=1, fill=f)


async def _applied(c: _Http) -> int:
    _, headers, _ = await c.get("/v1/orders/by_client_id/none")
    return int(headers[b"x-stream-seq"])


async def _bulk(js: Any, svc: _Service) -> tuple[int, float]:
    """Publish the bulk load; returns (last stream seq, seconds until applied)."""
    pub = EventPublisher(js, ACCOUNT)
    t0 = time.perf_counter()
    pending: list[Any] = []
    last = 0
    step = 1000 / RATE  # venue ms between orders
    n = max(ORDERS, FILLS)
    for i in range(n):
        ts = T0 + int(i * step)
        evs = [_closed(i, ts)] if i < ORDERS else []
        if i < FILLS:
            evs.append(_fill(i, i % max(ORDERS, 1), ts))
        for ev in evs:
            subject, payload, headers = pub.prepare(ev)
            pending.append(await js.publish_async(subject, payload, headers=headers))
        if len(pending) >= 4000:
            last = max(last, max(a.seq for a in await asyncio.gather(*pending)))
            pending = []
        if i and i % PRINT_EVERY == 0:
            print(f"  published {i} orders ({time.perf_counter() - t0:.0f} s); service rss "
                  f"{rss_mb(svc.proc.pid):.0f} MB")
    if pending:
        last = max(last, max(a.seq for a in await asyncio.gather(*pending)))
    c = await svc.ready()
    while await _applied(c) < last:
        await asyncio.sleep(1.0)
        c.close()
        c = await svc.ready()
    c.close()
    return last, time.perf_counter() - t0


async def _steady(nats_url: str, svc: _Service, base_ts: int, seconds: float) -> list[tuple[float, float]]:
    """RATE orders/s (open, fill, closed), RSS sampled; a stalled SSE client connected throughout."""
    nc = await nats.connect(nats_url)
    pub = EventPublisher(nc.jetstream(), ACCOUNT)
    stalled = socket.create_connection(("127.0.0.1", svc.port))
    stalled.sendall(b"GET /v1/events HTTP/1.1\r\nHost: bench\r\n\r\n")  # and never reads
    samples: list[tuple[float, float]] = []
    start = time.perf_counter()
    next_sample = start
    i = 0
    base = 10_000_000
    while (now := time.perf_counter()) - start < seconds:
        due = int((now - start) * RATE)
        while i < due:
            ts = base_ts + int((now - start) * 1000)
            k = base + i
            for ev in (_open(k, ts), _fill(k, k, ts + 1), _closed(k, ts + 2)):
                subject, payload, headers = pub.prepare(ev)
                await nc.publish(subject, payload, headers=headers)
            i += 1
        if now >= next_sample:
            samples.append((now - start, rss_mb(svc.proc.pid)))
            next_sample += SAMPLE_S
        await asyncio.sleep(0.01)
    await nc.drain()
    stalled.close()
    return samples


async def main() -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    nats_srv = NatsServer(tmp / "nats").start()
    redis_srv = RedisServer(tmp / "redis").start()
    try:
        nc = await nats.connect(nats_srv.url)
        js = nc.jetstream()
        await ensure_streams(js)
        svc = _Service(nats_srv.url, redis_srv.url, ACCOUNT, STATE_ENV)
        try:
            (await svc.ready()).close()
            start_rss = rss_mb(svc.proc.pid)
            peak = [start_rss]

            async def sample_peak() -> None:
                while True:
                    peak.append(rss_mb(svc.proc.pid))
                    await asyncio.sleep(1.0)

            sampler = asyncio.create_task(sample_peak())
            last, took = await _bulk(js, svc)
            sampler.cancel()
            await asyncio.sleep(5.0)
            bulk_rss = rss_mb(svc.proc.pid)
            c = await svc.ready()
            _, _, body = await c.get("/v1/health")
            counters = json.loads(body)["value"]["core"]["counters"]
            c.close()
            print(f"bulk: {ORDERS} orders + {FILLS} fills ({last} events) applied in {took:.0f} s; "
                  f"rss {start_rss:.0f} -> {bulk_rss:.0f} MB (peak {max(peak):.0f} MB while catching up); "
                  f"evicted orders "
                  f"{counters.get('evicted_orders', 0)}, fills {counters.get('evicted_fills', 0)}")
            base_ts = T0 + int(max(ORDERS, FILLS) * 1000 / RATE) + 1000
            samples = await _steady(nats_srv.url, svc, base_ts, STEADY_S)
            half = [s for s in samples if s[0] >= STEADY_S / 2]
            growth, growth_all = slope_per_min(half), slope_per_min(samples)
            end_rss = rss_mb(svc.proc.pid)
            c = await svc.ready()
            _, _, text = await c.get("/metrics")
            c.close()
            sse = next((float(line.split()[-1]) for line in text.decode().splitlines()
                        if line.startswith("state_sse_clients ")), float("nan"))
            r = aioredis.from_url(redis_srv.url)
            xlen = await r.xlen(f"pdx:{ACCOUNT}:changes")
            await r.aclose()
            print(f"steady: {RATE:g} orders/s for {STEADY_S:.0f} s, rss {samples[0][1]:.0f} -> "
                  f"{end_rss:.0f} MB; growth {growth:+.2f} MB/min (second half), {growth_all:+.2f} MB/min "
                  f"(all); Redis change stream {xlen} entries; SSE clients left {sse:.0f} (the stalled one "
                  f"is cut off once {10_000} changes wait for it)")
        finally:
            svc.stop()
        await nc.drain()
    finally:
        redis_srv.stop()
        nats_srv.stop()
    return {"orders": ORDERS, "fills": FILLS, "rss_mb": round(bulk_rss, 1),
            "rss_start_mb": round(start_rss, 1), "rss_peak_bulk_mb": round(max(peak), 1),
            "rss_end_mb": round(end_rss, 1), "growth_mb_per_min": round(growth, 3),
            "growth_all_mb_per_min": round(growth_all, 3), "steady_s": STEADY_S, "rate_per_s": RATE,
            "bulk_s": round(took, 1), "redis_changes_len": xlen, "sse_clients_end": sse}


if __name__ == "__main__":
    result = asyncio.run(main())
    print(json.dumps(result))
    sys.stdout.flush()
