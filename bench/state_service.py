"""End-to-end latency and HTTP throughput of the state service.

``python -m bench.state_service`` starts nats-server and redis-server (shared.localservers) and
the state service as its own process (``python -m services.state``, configured through the
environment, default checkpointing), so the load generator and the observers below never share
an event loop (or a GIL) with the service they measure. This process then:

1. publishes order events to the ACCOUNT stream at ``rate_per_s`` for ``seconds`` (core NATS
   publishes with ``Nats-Msg-Id``, which the stream stores; paced every 1 ms) and observes, per
   event, time from publish to:
   - visible in the Redis change stream: ``XREAD BLOCK`` on a dedicated Redis connection,
     timestamped when the reply arrives (every event);
   - visible over HTTP: one keep-alive connection polls ``GET /v1/orders/by_client_id/none``
     (a 404 whose ``X-Stream-Seq`` is the applied sequence) back to back with a
     ``POLL_GAP_S`` pause; an event counts as visible at the END of the first poll that was sent
     after its publish and reflects its sequence (an upper bound: includes up to one poll
     round trip and gap). Every event is sampled this way.
   ``p50_ms``/``p99_ms`` are over the worse of the two per event.
2. with 200 open orders on a fresh account, ``clients`` concurrent keep-alive HTTP/1.1 clients
   GET /v1/orders?limit=200 (all 200 in one page, ~145 kB bodies) for ``seconds``:
   ``http_orders_rps`` and ``http_orders_p99_ms``
   (a minimal asyncio client in a child process: httpx costs ~1.3 ms of CPU per 145 kB body).

``service_cpu_pct``: CPU time of the service process (user+sys, /proc) over each phase's wall
time, in percent of one core; ``service_gc_max_pause_ms``: the service's longest garbage collection
in the latency phase (its /metrics). Prints human lines, then LAST one JSON line.
"""

from __future__ import annotations

import asyncio
import gc
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import nats
import redis.asyncio as aioredis

from shared.bus import EventPublisher, OrderEvent, ensure_streams
from shared.localservers import NatsServer, RedisServer, free_port
from shared.paradex.models.account import Order

RATE = 5000
SECONDS = 3.0
CLIENTS = 16
RUNS = 1
POLL_GAP_S = 0.0005
T0 = 1_700_000_000_000
_TICK = os.sysconf("SC_CLK_TCK")


def _order_event(i: int, account: str) -> OrderEvent:
    o = Order(id=str(i), account=account, market="BTC-USD-PERP", side="BUY", type="LIMIT",
              size=Decimal("1"), remaining_size=Decimal("1"), price=Decimal("100"), status="OPEN",
              created_at=T0, last_updated_at=T0 + i, timestamp=T0, cancel_reason="", client_id=f"c{i}",
              seq_no=1, instruction="GTC", avg_fill_price="", received_at=T0, published_at=T0 + i,
              flags=[], trigger_price="")
    return OrderEvent(source="ws", venue_ts_ms=T0 + i, recv_ns=(T0 + i) * 1_000_000, conn_epoch=1, order=o)


def _pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


class _Http:
    """A minimal keep-alive HTTP/1.1 GET client: (status, headers, body) per request."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def get(self, path: str) -> tuple[int, dict[bytes, bytes], bytes]:
        self.writer.write(b"GET %s HTTP/1.1\r\nHost: bench\r\n\r\n" % path.encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            headers[k.strip().lower()] = v.strip()
        data = await self.reader.readexactly(int(headers.get(b"content-length", b"0")))
        return int(lines[0].split()[1]), headers, data

    def close(self) -> None:
        self.writer.close()


class _Service:
    """``python -m services.state`` as a child process."""

    def __init__(self, nats_url: str, redis_url: str, account: str, extra: dict[str, str]) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("STATE_")}
        env.update(NATS_URL=nats_url, REDIS_URL=redis_url, PARADEX_ACCOUNT=account, LOG_LEVEL="WARNING",
                   STATE_HTTP_PORT=str(self.port), STATE_STARTUP_RECONCILE="false", **extra)
        self.proc = subprocess.Popen([sys.executable, "-m", "services.state"], env=env)

    async def ready(self) -> _Http:
        deadline = time.monotonic() + 30
        while True:
            try:
                c = _Http("127.0.0.1", self.port)
                await c.open()
                if (await c.get("/healthz"))[0] == 200:
                    return c
                c.close()
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("state service did not become healthy")
            await asyncio.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def _latency(nats_url: str, redis_url: str, svc: _Service, account: str, rate: int,
                   seconds: float) -> dict[str, Any]:
    nc = await nats.connect(nats_url)
    r = aioredis.from_url(redis_url)
    poll = await svc.ready()
    pub = EventPublisher(nc.jetstream(), account)
    stream = f"pdx:{account}:changes"
    n = int(rate * seconds)
    prepared = [pub.prepare(_order_event(i, account)) for i in range(n)]
    t_pub: dict[str, float] = {}
    t_redis: dict[str, float] = {}
    seq_of: dict[str, int] = {}
    polls: list[tuple[float, float, int]] = []  # (sent, answered, seq)
    done = asyncio.Event()

    async def reader() -> None:
        last: Any = "$"
        while len(t_redis) < n:
            got: Any = await r.xread({stream: last}, block=2000, count=5000)
            now = time.perf_counter()
            if not got:
                if done.is_set():
                    return
                continue
            for eid, fields in got[0][1]:
                last = eid
                if fields[b"kind"] == b"order":
                    key = fields[b"key"].decode()
                    t_redis.setdefault(key, now)
                    seq_of.setdefault(key, int(fields[b"seq"]))

    async def poller() -> None:
        while not done.is_set() or len(t_redis) < n:
            t = time.perf_counter()
            _, headers, _ = await poll.get("/v1/orders/by_client_id/none")
            polls.append((t, time.perf_counter(), int(headers[b"x-stream-seq"])))
            if done.is_set() and polls[-1][2] >= max(seq_of.values(), default=0) and len(t_redis) >= n:
                return
            await asyncio.sleep(POLL_GAP_S)

    # The observers' own garbage collections would delay their timestamps: none while measuring.
    gc.collect()
    gc.disable()
    tasks = [asyncio.create_task(reader()), asyncio.create_task(poller())]
    await asyncio.sleep(0.3)
    cpu0, wall0 = _cpu_s(svc.proc.pid), time.perf_counter()
    start = time.perf_counter()
    i = 0
    while i < n:
        due = min(int((time.perf_counter() - start) * rate) + 1, n)
        while i < due:
            subject, payload, headers = prepared[i]
            t_pub[str(i)] = time.perf_counter()
            await nc.publish(subject, payload, headers=headers)
            i += 1
        await nc.flush()
        await asyncio.sleep(0.001)
    sent_s = time.perf_counter() - start
    try:
        await asyncio.wait_for(tasks[0], 30)
    finally:
        done.set()
    await asyncio.wait_for(tasks[1], 30)
    gc.enable()
    cpu = (_cpu_s(svc.proc.pid) - cpu0) / (time.perf_counter() - wall0) * 100
    gc_max = max((float(line.rsplit(b" ", 1)[1]) for line in (await poll.get("/metrics"))[2].splitlines()
                  if line.startswith(b"state_gc_pause_seconds_max{")), default=float("nan")) * 1000
    poll.close()
    await nc.drain()
    await r.aclose()
    redis_ms = [(t_redis[k] - t_pub[k]) * 1000 for k in t_pub if k in t_redis]
    http_ms: list[float] = []
    both: list[float] = []
    j = 0
    for k in sorted(t_pub, key=lambda k: seq_of.get(k, 0)):
        if k not in seq_of:
            continue
        s = seq_of[k]
        while j < len(polls) and (polls[j][2] < s or polls[j][0] < t_pub[k]):
            j += 1
        if j == len(polls):
            break
        h = (polls[j][1] - t_pub[k]) * 1000
        http_ms.append(h)
        both.append(max(h, (t_redis[k] - t_pub[k]) * 1000))
    return {"events": n, "received": len(t_redis), "send_rate": n / sent_s, "redis_p50": _pct(redis_ms, 50),
            "redis_p99": _pct(redis_ms, 99), "http_p50": _pct(http_ms, 50), "http_p99": _pct(http_ms, 99),
            "p50": _pct(both, 50), "p99": _pct(both, 99), "max": max(both, default=float("nan")),
            "polls": len(polls), "cpu": cpu, "gc_max": gc_max}


async def _http_load(port: int, clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` keep-alive connections, each GETting /v1/orders back to back."""
    lat: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal errors
        c = _Http("127.0.0.1", port)
        await c.open()
        while time.perf_counter() < stop_at:
            t = time.perf_counter()
            status, _, _ = await c.get("/v1/orders?limit=200")
            errors += status != 200
            lat.append((time.perf_counter() - t) * 1000)
        c.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    el = time.perf_counter() - t0
    return {"rps": len(lat) / el, "p50": _pct(lat, 50), "p99": _pct(lat, 99), "errors": errors}


def _child(args: tuple[Any, ...], out: Any) -> None:
    out.put(asyncio.run(_http_load(*args)))


def _in_child(*args: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(args, q))
    p.start()
    try:
        res: dict[str, Any] = q.get(timeout=120)
    finally:
        p.join(10)
        if p.is_alive():
            p.terminate()
    return res


async def _orders_phase(nats_url: str, svc: _Service, account: str, clients: int,
                        seconds: float) -> dict[str, Any]:
    c = await svc.ready()
    nc = await nats.connect(nats_url)
    pub = EventPublisher(nc.jetstream(), account)
    for i in range(200):
        await pub.publish(_order_event(i, account))
    await nc.drain()
    while (await c.get("/v1/orders?status=OPEN&limit=1000"))[2].count(b'"key"') < 200:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    c.close()
    cpu0, wall0 = _cpu_s(svc.proc.pid), time.perf_counter()
    res = await asyncio.to_thread(_in_child, svc.port, clients, seconds)
    res["cpu"] = (_cpu_s(svc.proc.pid) - cpu0) / (time.perf_counter() - wall0) * 100
    return res


async def run_once(nats_url: str, redis_url: str, n: int, rate: int, seconds: float,
                   clients: int) -> dict[str, Any]:
    """One latency phase and one /v1/orders phase, each against a fresh service process."""
    account = f"benchlat{n}"
    svc = _Service(nats_url, redis_url, account, {})
    try:
        lat = await _latency(nats_url, redis_url, svc, account, rate, seconds)
    finally:
        svc.stop()
    print(f"latency: {lat['received']}/{lat['events']} events at {lat['send_rate']:.0f}/s; "
          f"redis p50 {lat['redis_p50']:.2f} p99 {lat['redis_p99']:.2f} ms; http p50 {lat['http_p50']:.2f} "
          f"p99 {lat['http_p99']:.2f} ms ({lat['polls']} polls); both p50 {lat['p50']:.2f} "
          f"p99 {lat['p99']:.2f} max {lat['max']:.1f} ms; service CPU {lat['cpu']:.0f}%, "
          f"longest GC pause {lat['gc_max']:.1f} ms")
    svc = _Service(nats_url, redis_url, f"benchhttp{n}", {})
    try:
        web = await _orders_phase(nats_url, svc, f"benchhttp{n}", clients, seconds)
    finally:
        svc.stop()
    print(f"GET /v1/orders (200 open) x{clients} clients: {web['rps']:.0f} req/s, "
          f"p50 {web['p50']:.2f} p99 {web['p99']:.2f} ms, errors {web['errors']}, "
          f"service CPU {web['cpu']:.0f}%")
    return {"p50_ms": lat["p50"], "p99_ms": lat["p99"], "redis_p99_ms": lat["redis_p99"],
            "http_p99_ms": lat["http_p99"], "max_ms": lat["max"], "service_cpu_pct": lat["cpu"],
            "service_gc_max_pause_ms": lat["gc_max"],
            "http_orders_rps": web["rps"], "http_orders_p99_ms": web["p99"],
            "http_service_cpu_pct": web["cpu"]}


async def main(rate: int = RATE, seconds: float = SECONDS, clients: int = CLIENTS,
               runs: int = RUNS) -> dict[str, Any]:
    """``runs`` rounds; each figure reported is the median over the rounds."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-state-"))
    nats_srv = NatsServer(tmp / "nats").start()
    redis_srv = RedisServer(tmp / "redis").start()
    try:
        nc = await nats.connect(nats_srv.url)
        await ensure_streams(nc.jetstream())
        await nc.drain()
        results = [await run_once(nats_srv.url, redis_srv.url, n, rate, seconds, clients)
                   for n in range(runs)]
    finally:
        redis_srv.stop()
        nats_srv.stop()
    out: dict[str, Any] = {"rate_per_s": rate, "runs": runs}
    for k in results[0]:
        out[k] = round(statistics.median(r[k] for r in results), 3)
    out["http_orders_rps"] = round(out["http_orders_rps"])
    return out


if __name__ == "__main__":
    result = asyncio.run(main(runs=int(os.environ.get("BENCH_RUNS", RUNS))))
    print(json.dumps(result))
    sys.stdout.flush()
