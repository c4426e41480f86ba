"""Reads that scale: 50 concurrent readers of the paginated ``GET /v1/orders`` (issue 18 item 4).

``python -m bench.state_reads`` starts nats-server, redis-server and the state service as its own
process (as ``bench.state_service`` does), loads ``ORDERS`` orders (a third closed) into it, then
runs ``READERS`` keep-alive HTTP/1.1 clients (a minimal asyncio client in a child process, so the
readers never share a GIL with the service) for ``SECONDS`` in two phases:

1. ``quiet``: no events arrive: every reader asks for the default page (``GET /v1/orders``);
2. ``flow``: ``FLOW_RATE`` order events/s keep arriving (each new sequence invalidates the cached
   bodies); readers alternate between the default page, a page further in (by cursor) and
   ``status=OPEN``.

Each phase prints requests/s and latency percentiles; the last line is JSON with ``p99_ms`` (the
quiet phase: the issue's target p99 <= 50 ms), ``flow_p99_ms``, ``rps``, ``page_bytes`` and, for
comparison, ``full_list_bytes`` (what one unpaginated answer of every order would weigh).
Environment: ``BENCH_ORDERS``, ``BENCH_READERS``, ``BENCH_SECONDS``, ``BENCH_FLOW_RATE``.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import nats
from msgspec.structs import replace

from bench.state_service import _cpu_s, _Http, _order_event, _pct, _Service
from shared.bus import EventPublisher, ensure_streams
from shared.localservers import NatsServer, RedisServer

ORDERS = int(os.environ.get("BENCH_ORDERS", "20000"))
READERS = int(os.environ.get("BENCH_READERS", "50"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
FLOW_RATE = int(os.environ.get("BENCH_FLOW_RATE", "200"))


async def _readers(port: int, readers: int, seconds: float, paths: list[str]) -> dict[str, Any]:
    lat: list[float] = []
    errors = 0
    size = 0
    stop_at = time.perf_counter() + seconds

    async def reader(n: int) -> None:
        nonlocal errors, size
        c = _Http("127.0.0.1", port)
        await c.open()
        i = n
        while time.perf_counter() < stop_at:
            path = paths[i % len(paths)]
            i += 1
            t = time.perf_counter()
            status, _, body = await c.get(path)
            lat.append((time.perf_counter() - t) * 1000)
            errors += status != 200
            size = max(size, len(body))
        c.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(reader(n) for n in range(readers)))
    el = time.perf_counter() - t0
    return {"rps": len(lat) / el, "p50": _pct(lat, 50), "p99": _pct(lat, 99), "max": max(lat, default=0.0),
            "errors": errors, "bytes": size, "requests": len(lat)}


def _child(args: tuple[Any, ...], out: Any) -> None:
    out.put(asyncio.run(_readers(*args)))


def _in_child(*args: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(args, q))
    p.start()
    try:
        res: dict[str, Any] = q.get(timeout=SECONDS * 4 + 120)
    finally:
        p.join(10)
        if p.is_alive():
            p.terminate()
    return res


async def _load(nats_url: str, account: str, n: int) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    pub = EventPublisher(js, account)
    futs = []
    for i in range(n):
        ev = _order_event(i, account)
        if i % 3 == 0:
            ev = replace(ev, order=replace(ev.order, status="CLOSED", remaining_size=Decimal(0)))
        subject, payload, headers = pub.prepare(ev)
        futs.append(await js.publish_async(subject, payload, headers=headers))
        if len(futs) >= 2000:
            await asyncio.gather(*futs)
            futs = []
    await asyncio.gather(*futs)
    await nc.drain()


async def _flow(nats_url: str, account: str, rate: int, seconds: float, base: int) -> int:
    nc = await nats.connect(nats_url)
    pub = EventPublisher(nc.jetstream(), account)
    sent = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        due = int((time.perf_counter() - start) * rate)
        while sent < due:
            subject, payload, headers = pub.prepare(_order_event(base + sent, account))
            await nc.publish(subject, payload, headers=headers)
            sent += 1
        await asyncio.sleep(0.005)
    await nc.drain()
    return sent


async def main() -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-reads-"))
    nats_srv = NatsServer(tmp / "nats").start()
    redis_srv = RedisServer(tmp / "redis").start()
    account = "benchreads"
    try:
        nc = await nats.connect(nats_srv.url)
        await ensure_streams(nc.jetstream())
        await nc.drain()
        svc = _Service(nats_srv.url, redis_srv.url, account, {})
        try:
            c = await svc.ready()
            t0 = time.perf_counter()
            await _load(nats_srv.url, account, ORDERS)
            c.close()
            c = await svc.ready()
            while True:
                _, headers, _ = await c.get("/v1/orders/by_client_id/none")
                if int(headers[b"x-stream-seq"]) >= ORDERS:
                    break
                await asyncio.sleep(0.1)
            print(f"loaded {ORDERS} orders in {time.perf_counter() - t0:.1f} s")
            c.close()
            c = await svc.ready()  # a fresh connection: uvicorn closes one idle for 5 s
            _, _, first = await c.get("/v1/orders")
            cursor = json.loads(first)["next_cursor"]
            full = 0
            cur: str | None = None
            while True:  # what one unpaginated answer would weigh: every page, added up
                _, _, body = await c.get("/v1/orders?limit=1000" + (f"&cursor={cur}" if cur else ""))
                full += len(body)
                cur = json.loads(body)["next_cursor"]
                if cur is None:
                    break
            c.close()
            cpu0, wall0 = _cpu_s(svc.proc.pid), time.perf_counter()
            quiet = await asyncio.to_thread(_in_child, svc.port, READERS, SECONDS, ["/v1/orders"])
            quiet["cpu"] = (_cpu_s(svc.proc.pid) - cpu0) / (time.perf_counter() - wall0) * 100
            print(f"quiet: {READERS} readers of GET /v1/orders (default page, {quiet['bytes']} B): "
                  f"{quiet['rps']:.0f} req/s, p50 {quiet['p50']:.2f} p99 {quiet['p99']:.2f} "
                  f"max {quiet['max']:.1f} ms, errors {quiet['errors']}; service CPU {quiet['cpu']:.0f}% "
                  f"(~{quiet['cpu'] * 10 / max(quiet['rps'], 1):.2f} ms CPU per request)")
            paths = ["/v1/orders", f"/v1/orders?cursor={cursor}", "/v1/orders?status=OPEN"]
            flow_task = asyncio.create_task(_flow(nats_srv.url, account, FLOW_RATE, SECONDS + 1, ORDERS))
            flow = await asyncio.to_thread(_in_child, svc.port, READERS, SECONDS, paths)
            sent = await flow_task
            print(f"flow ({sent} events at {FLOW_RATE}/s): {READERS} readers (default page, page 2, "
                  f"status=OPEN): {flow['rps']:.0f} req/s, p50 {flow['p50']:.2f} p99 {flow['p99']:.2f} "
                  f"max {flow['max']:.1f} ms, errors {flow['errors']}")
        finally:
            svc.stop()
    finally:
        redis_srv.stop()
        nats_srv.stop()
    return {"orders": ORDERS, "readers": READERS, "p50_ms": round(quiet["p50"], 3),
            "p99_ms": round(quiet["p99"], 3), "rps": round(quiet["rps"]),
            "flow_p50_ms": round(flow["p50"], 3), "flow_p99_ms": round(flow["p99"], 3),
            "flow_rps": round(flow["rps"]), "page_bytes": quiet["bytes"], "full_list_bytes": full,
            "service_cpu_pct": round(quiet["cpu"]), "errors": quiet["errors"] + flow["errors"]}


if __name__ == "__main__":
    result = asyncio.run(main())
    print(json.dumps(result))
    sys.stdout.flush()
