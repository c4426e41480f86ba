"""End-to-end latency and HTTP throughput of the state service.

``python -m bench.state_service`` starts nats-server and redis-server (shared.localservers) and the
state service in THIS process (its HTTP server on a free port). A child process (as the feed and
strategies would be) then:

1. publishes order events to the ACCOUNT stream at ``rate_per_s`` for ``seconds`` (core NATS
   publishes with ``Nats-Msg-Id``, which the stream stores, as a paced producer), while reading
   the Redis change stream (XREAD BLOCK) and polling HTTP (``X-Stream-Seq`` of a tiny endpoint).
   Per event: publish -> visible in the Redis change stream, and publish -> first HTTP answer
   reflecting its sequence (an upper bound: includes the poll interval). ``p50_ms``/``p99_ms`` are
   over both (the worse of the two per event).
2. with 200 open orders on a fresh account, ``clients`` concurrent keep-alive HTTP/1.1 clients
   GET /v1/orders (~145 kB bodies) for ``seconds``: ``http_orders_rps`` and ``http_orders_p99_ms``.
   The load client is a minimal asyncio one, not httpx (see :func:`_http_load`).

Prints human lines, then LAST one JSON line. Clocks: time.perf_counter (CLOCK_MONOTONIC, shared by
both processes on Linux).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import nats
import redis.asyncio as aioredis

from services.state.runner import running
from services.state.settings import Settings
from shared.bus import EventPublisher, OrderEvent, ensure_streams
from shared.localservers import NatsServer, RedisServer
from shared.paradex.models.account import Order
from shared.settings import load

RATE = 5000
SECONDS = 3.0
CLIENTS = 16
CHECKPOINT_EVERY = 100_000  # a checkpoint dumps the whole core synchronously (see report)
T0 = 1_700_000_000_000


def _order_event(i: int, account: str) -> OrderEvent:
    from decimal import Decimal

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


# ---------------------------------------------------------------------------------- child side

async def _latency(nats_url: str, redis_url: str, http_url: str, account: str, rate: int,
                   seconds: float) -> dict[str, Any]:
    nc = await nats.connect(nats_url)
    r = aioredis.from_url(redis_url)
    pub = EventPublisher(nc.jetstream(), account)
    stream = f"pdx:{account}:changes"
    n = int(rate * seconds)
    prepared = [pub.prepare(_order_event(i, account)) for i in range(n)]
    t_pub: dict[str, float] = {}
    t_redis: dict[str, float] = {}
    seq_of: dict[str, int] = {}
    polls: list[tuple[float, int]] = []
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
        async with httpx.AsyncClient(base_url=http_url) as c:
            while not done.is_set() or len(t_redis) < n:
                resp = await c.get("/v1/orders/by_client_id/none")
                polls.append((time.perf_counter(), int(resp.headers["X-Stream-Seq"])))
                if done.is_set() and polls[-1][1] >= max(seq_of.values(), default=0) and len(t_redis) >= n:
                    return

    tasks = [asyncio.create_task(reader()), asyncio.create_task(poller())]
    await asyncio.sleep(0.2)
    start = time.perf_counter()
    step = 0.001
    i = 0
    while i < n:
        due = int((time.perf_counter() - start) * rate) + 1
        while i < min(due, n):
            subject, payload, headers = prepared[i]
            t_pub[str(i)] = time.perf_counter()
            await nc.publish(subject, payload, headers=headers)
            i += 1
        await nc.flush()
        await asyncio.sleep(step)
    sent_s = time.perf_counter() - start
    try:
        await asyncio.wait_for(tasks[0], 30)
    finally:
        done.set()
    await asyncio.wait_for(tasks[1], 30)
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
        while j < len(polls) and (polls[j][1] < s or polls[j][0] < t_pub[k]):
            j += 1
        if j == len(polls):
            break
        h = (polls[j][0] - t_pub[k]) * 1000
        http_ms.append(h)
        both.append(max(h, (t_redis[k] - t_pub[k]) * 1000))
    return {"events": n, "received": len(t_redis), "send_rate": n / sent_s, "redis_p50": _pct(redis_ms, 50),
            "redis_p99": _pct(redis_ms, 99), "http_p50": _pct(http_ms, 50), "http_p99": _pct(http_ms, 99),
            "p50": _pct(both, 50), "p99": _pct(both, 99), "polls": len(polls)}


async def _http_load(http_url: str, clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` keep-alive HTTP/1.1 connections, each GETting /v1/orders back to back.

    A minimal asyncio client (write request, read head, read Content-Length bytes): httpx needs
    ~1.3 ms of CPU to receive a 145 kB body through h11, so on 2 cores it measured the client
    (~730 req/s), not the server.
    """
    host, port = http_url.removeprefix("http://").split(":")
    lat: list[float] = []
    stop_at = time.perf_counter() + seconds
    errors = 0
    request = b"GET /v1/orders HTTP/1.1\r\nHost: bench\r\n\r\n"

    async def client() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        while time.perf_counter() < stop_at:
            t = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                errors += 1
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            lat.append((time.perf_counter() - t) * 1000)
        writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    el = time.perf_counter() - t0
    return {"rps": len(lat) / el, "p50": _pct(lat, 50), "p99": _pct(lat, 99), "errors": errors}


def _child(kind: str, args: tuple[Any, ...], out: Any) -> None:
    fn = _latency if kind == "latency" else _http_load
    out.put(asyncio.run(fn(*args)))


def _in_child(kind: str, *args: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(kind, args, q))
    p.start()
    try:
        res: dict[str, Any] = q.get(timeout=120)
    finally:
        p.join(10)
        if p.is_alive():
            p.terminate()
    return res


# --------------------------------------------------------------------------------- main side

async def _service_phase(nats_url: str, redis_url: str, account: str, fn: Any) -> dict[str, Any]:
    settings = load(Settings, env={}, nats_url=nats_url, redis_url=redis_url, paradex_account=account,
                    http_port=0, startup_reconcile=False, checkpoint_every_events=CHECKPOINT_EVERY)
    nc = await nats.connect(nats_url)
    redis = aioredis.from_url(redis_url)
    try:
        async with running(settings, nc, redis) as (svc, http):
            result: dict[str, Any] = await fn(svc, http, nc)
    finally:
        await nc.drain()
        await redis.aclose()
    return result


async def main(rate: int = RATE, seconds: float = SECONDS, clients: int = CLIENTS) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-state-"))
    nats_srv = NatsServer(tmp / "nats").start()
    redis_srv = RedisServer(tmp / "redis").start()
    try:
        nc = await nats.connect(nats_srv.url)
        await ensure_streams(nc.jetstream())
        await nc.drain()

        async def latency(svc: Any, http: Any, _nc: Any) -> dict[str, Any]:
            return await asyncio.to_thread(_in_child, "latency", nats_srv.url, redis_srv.url, http.url,
                                           "benchlat", rate, seconds)

        async def load_orders(svc: Any, http: Any, nc: Any) -> dict[str, Any]:
            pub = EventPublisher(nc.jetstream(), "benchhttp")
            for i in range(200):
                await pub.publish(_order_event(i, "benchhttp"))
            while len(svc.core.open_orders().value) < 200:  # noqa: ASYNC110 (bench setup poll)
                await asyncio.sleep(0.05)
            return await asyncio.to_thread(_in_child, "http", http.url, clients, seconds)

        lat = await _service_phase(nats_srv.url, redis_srv.url, "benchlat", latency)
        print(f"latency: {lat['received']}/{lat['events']} events at {lat['send_rate']:.0f}/s; "
              f"redis p50 {lat['redis_p50']:.2f} p99 {lat['redis_p99']:.2f} ms; "
              f"http p50 {lat['http_p50']:.2f} p99 {lat['http_p99']:.2f} ms ({lat['polls']} polls)")
        web = await _service_phase(nats_srv.url, redis_srv.url, "benchhttp", load_orders)
        print(f"GET /v1/orders (200 open) x{clients} clients: {web['rps']:.0f} req/s, "
              f"p50 {web['p50']:.2f} p99 {web['p99']:.2f} ms, errors {web['errors']}")
    finally:
        redis_srv.stop()
        nats_srv.stop()
    return {"rate_per_s": rate, "p50_ms": round(lat["p50"], 3), "p99_ms": round(lat["p99"], 3),
            "redis_p99_ms": round(lat["redis_p99"], 3), "http_p99_ms": round(lat["http_p99"], 3),
            "http_orders_rps": round(web["rps"]), "http_orders_p99_ms": round(web["p99"], 3)}


if __name__ == "__main__":
    result = asyncio.run(main())
    print(json.dumps(result))
    sys.stdout.flush()
