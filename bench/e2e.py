"""End-to-end latency in the deployed shape, with a per-hop breakdown and the physical reference.

The simulator and the four services run as separate processes, started the way the launcher runs
them (:mod:`shared.procs`), on local NATS JetStream and Redis. The simulator stamps every JSON
WebSocket frame with its send time (``SIM_WS_SEND_STAMP``); the feed and the state trace each
account event through their hops (``FEED_TRACE`` / ``STATE_TRACE``, :mod:`shared.trace`). The
venue's traffic is its benchmark order flow (``/control/order_flow``: resting orders placed and
cancelled, every push a faithful venue push; about 5 pushes per order: NEW, OPEN, account, CLOSED,
account), so "events/s" are venue pushes per second.

The strategy side, each in its own process (a strategy is one; none slows the others):

- an SSE client of ``/v1/events?kinds=order`` (its receive time ends ``internal``: feed receive ->
  SSE delivered, and ``venue_to_sse``: simulator send -> SSE delivered);
- a reader of the Redis change stream (``XREAD BLOCK``; ``venue_to_redis``);
- an HTTP poller of ``/v1/orders/by_client_id/<cid>`` for a sample of orders (1k phase only:
  a tight poll hammers the state), back to back until it shows OPEN (``venue_to_http``);
- the physical reference: a bare WebSocket client subscribed directly to the simulator
  (``orders.ALL`` and ``account``), receiving the same pushes on its own connection
  (``direct_ws``; ``added_over_direct`` is, per order push, SSE delivery minus direct delivery:
  the hub's own cost);
- beside the idle phase, a strategy polling the venue's REST ``GET /orders`` once a second
  (``rest_poll``: what the hub replaces).

Phases: warm-up, then 1 000 events/s, 5 000 events/s, and an idle path (one venue action at a
time, ``IDLE_GAP_S`` apart). Samples are the order pushes (NEW, OPEN, CLOSED) whose send stamp
falls in the phase. Hops (:data:`shared.trace.HOPS`): ``venue_ws`` (simulator send -> feed read),
``feed`` (read -> publish), ``jetstream_ack`` (publish -> ack, beside the path), ``bus`` (publish
-> state receive), ``apply``, ``redis`` (applied -> Redis written), ``sse`` (written -> SSE
sent), ``sse_client`` (sent -> the client's read). The state now sends SSE before its Redis write:
its frames carry no ``redis`` stamp, and then ``redis`` is applied -> seen by the change-stream
reader (beside the SSE path) and ``sse`` is applied -> SSE sent. All stamps are ``time.time_ns()``
of one host.

Prints the breakdown, then LAST one JSON line. Run: ``python -m bench.e2e`` (about 2 minutes);
``SIM_*`` / ``FEED_*`` / ``STATE_*`` variables set for it go to the services (a variant, e.g.
``FEED_ACCOUNT_INFLIGHT=64``; the JSON names them under ``settings``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import pickle
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from shared.trace import HOPS, parse_event

M = "BTC-USD-PERP"
PUSHES_PER_ORDER = 5  # NEW, OPEN, account; CLOSED, account (measured; the JSON reports the rate seen)
RATES = {"1k": 1000, "5k": 5000}
WARM_S = 4.0
PHASE_S = {"1k": 20.0, "5k": 15.0}
RAMP_S = 1.0  # after a rate change, before the phase counts
DRAIN_MAX_S = 60.0  # a backlog left by a phase must be delivered before its samples are read
RESTING = 20
IDLE_SAMPLES = 150
IDLE_GAP_S = 0.1
IDLE_RESTING = 90  # orders live IDLE_RESTING * IDLE_GAP_S = 9 s: the 1/s REST poll sees each
REST_PERIOD_S = 1.0
HTTP_AHEAD = 2  # the HTTP poller waits for the order this many after the last one placed
HTTP_GAP_S = 0.1  # between two HTTP samples (keeps the poll load on the state ~10 % duty)
MS = 1e6


# ----------------------------------------------------------------------------- probe processes

def _probe(main: Callable[..., Coroutine[Any, Any, None]], out: str, ready: Any, *args: Any) -> None:
    """Run ``main(samples, ready, *args)`` until SIGTERM, then pickle ``samples`` to ``out``."""
    samples: list[Any] = []

    async def run() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        task = asyncio.create_task(main(samples, ready, *args))
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        if task.done() and not task.cancelled() and task.exception() is not None:
            samples.append(("error", repr(task.exception())))

    asyncio.run(run())
    Path(out).write_bytes(pickle.dumps(samples))


async def sse_probe(samples: list[Any], ready: Any, state_url: str) -> None:
    """Every SSE frame of ``/v1/events?kinds=order`` with the time its bytes were read."""
    async with httpx.AsyncClient(base_url=state_url, timeout=None) as c, \
            c.stream("GET", "/v1/events", params={"kinds": "order"}) as r:
        ready.set()
        buf = b""
        async for chunk in r.aiter_raw():
            t = time.time_ns()
            buf += chunk
            *frames, buf = buf.split(b"\n\n")
            for f in frames:
                samples.append((t, f))


async def redis_probe(samples: list[Any], ready: Any, redis_url: str, key: str) -> None:
    """Every change-stream entry (``XREAD BLOCK``) with the time it was read: (t, seq, kind, key)."""
    import redis.asyncio as aioredis

    r = aioredis.from_url(redis_url)
    last: bytes | str = "$"
    ready.set()
    try:
        while True:
            got: Any = await r.xread({key: last}, block=1000, count=1000)
            t = time.time_ns()
            for _, entries in got:
                for eid, f in entries:
                    samples.append((t, int(f[b"seq"]), f[b"kind"].decode(), f[b"key"].decode()))
                    last = eid
    finally:
        await r.aclose()


async def ws_probe(samples: list[Any], ready: Any, ws_url: str, jwt: str) -> None:
    """The bare WebSocket client on the simulator: every frame with the time it was read."""
    from websockets.asyncio.client import connect

    async with connect(ws_url, compression=None, max_queue=None, max_size=None) as ws:
        await ws.send(json.dumps({"jsonrpc": "2.0", "method": "auth", "params": {"bearer": jwt}, "id": 1}))
        await ws.recv()
        for i, ch in enumerate(("orders.ALL", "account")):
            await ws.send(json.dumps({"jsonrpc": "2.0", "method": "subscribe", "params": {"channel": ch},
                                      "id": 2 + i}))
            await ws.recv()
        ready.set()
        async for frame in ws:
            samples.append((time.time_ns(), frame))


async def http_probe(samples: list[Any], ready: Any, state_url: str, control_url: str, active: Any) -> None:
    """While ``active``: the next-but-``HTTP_AHEAD`` flow order polled back to back until the state
    shows it OPEN; (client id, time seen)."""
    async with httpx.AsyncClient(base_url=state_url, timeout=5) as st, \
            httpx.AsyncClient(base_url=control_url, timeout=5) as ctl:
        ready.set()
        while True:
            if not active.is_set():
                await asyncio.sleep(0.05)
                continue
            s = (await ctl.post("/order_flow/step", json={"orders": 0})).json()
            cid = f"flow-{s['placed'] + s['failed'] + HTTP_AHEAD}"
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                r = await st.get(f"/v1/orders/by_client_id/{cid}")
                if r.status_code == 200 and r.json()["value"].get("venue_status") in ("OPEN", "CLOSED"):
                    samples.append((cid, time.time_ns()))
                    break
            await asyncio.sleep(HTTP_GAP_S)


@dataclass
class Probes:
    tmp: Path
    procs: dict[str, Any] = field(default_factory=dict)

    def start(self, name: str, main: Callable[..., Awaitable[None]], *args: Any) -> Any:
        ctx = mp.get_context("spawn")
        ready = ctx.Event()
        p = ctx.Process(target=_probe, args=(main, str(self.tmp / f"{name}.pickle"), ready, *args),
                        name=f"bench-e2e-{name}", daemon=True)
        p.start()
        self.procs[name] = (p, ready)
        return ready

    async def ready(self, within_s: float = 30.0) -> None:
        for name, (p, ready) in self.procs.items():
            if not await asyncio.to_thread(ready.wait, within_s):
                raise RuntimeError(f"probe {name} not ready (exit code {p.exitcode})")

    async def collect(self) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        for p, _ in self.procs.values():
            if p.is_alive():
                p.terminate()
        for name, (p, _) in self.procs.items():
            await asyncio.to_thread(p.join, 20)
            path = self.tmp / f"{name}.pickle"
            out[name] = pickle.loads(path.read_bytes()) if path.exists() else []
            errors = [s for s in out[name] if s and s[0] == "error"]
            if errors:
                raise RuntimeError(f"probe {name} failed: {errors[0][1]}")
        return out

    def kill(self) -> None:
        for p, _ in self.procs.values():
            if p.is_alive():
                p.kill()


# ------------------------------------------------------------------------------------ analysis

def pct(xs: Sequence[float], q: float) -> float:
    ys = sorted(xs)
    return ys[min(len(ys) - 1, int(q * len(ys)))] if ys else float("nan")


def p50(xs: Sequence[float]) -> float:
    return pct(xs, 0.5)


@dataclass
class Sample:
    """One order push as the hub delivered it over SSE: its stamps (ns) and identity."""

    cid: str
    status: str
    seq: int
    key: str
    stamps: dict[str, int]


def parse_sse(frames: Iterable[tuple[int, bytes]]) -> list[Sample]:
    """Traced order frames (the first per client id and status: a status is one venue push)."""
    out: list[Sample] = []
    seen: set[tuple[str, str]] = set()
    for t, frame in frames:
        data = next((line[6:] for line in frame.split(b"\n") if line.startswith(b"data: ")), None)
        if data is None or b'"trace"' not in data:
            continue
        obj, stamps = parse_event(data)
        if obj.get("kind") != "order" or not stamps.get("sim"):
            continue
        value = obj.get("value") or {}
        ident = (str(value.get("client_id", "")), str(value.get("venue_status", "")))
        if not ident[0] or ident in seen:
            continue
        seen.add(ident)
        out.append(Sample(ident[0], ident[1], int(obj["seq"]), str(obj["key"]), {**stamps, "client": t}))
    return out


def parse_ws(frames: Iterable[tuple[int, str | bytes]]) -> tuple[dict[tuple[str, str], tuple[int, int]],
                                                                 list[int]]:
    """Direct client: ``{(client id, status): (sent, received)}`` of order pushes (first one each),
    and the send stamps of every push (orders and account)."""
    orders: dict[tuple[str, str], tuple[int, int]] = {}
    sent: list[int] = []
    for t, frame in frames:
        msg = json.loads(frame)
        if msg.get("method") != "subscription" or "sim_sent_ns" not in msg:
            continue
        s = int(msg["sim_sent_ns"])
        sent.append(s)
        params = msg["params"]
        if params["channel"].startswith("orders"):
            d = params["data"]
            orders.setdefault((d.get("client_id", ""), d.get("status", "")), (s, t))
    return orders, sent


def stats(prefix: str, suffix: str, xs: Sequence[float], out: dict[str, Any], p99: bool = True) -> None:
    out[f"{prefix}_p50_ms{suffix}"] = round(p50(xs) / MS, 3) if xs else None
    if p99:
        out[f"{prefix}_p99_ms{suffix}"] = round(pct(xs, 0.99) / MS, 3) if xs else None


def analyse(windows: dict[str, tuple[int, int]], probes: dict[str, list[Any]],
            acks: dict[int, int], rest: Sequence[float]) -> tuple[dict[str, Any], list[str]]:
    """The JSON figures and the breakdown's lines from the raw probe samples."""
    sse = parse_sse(probes.get("sse", []))
    direct, sent = parse_ws(probes.get("ws", []))
    redis_at: dict[tuple[int, str], int] = {}
    for t, seq, kind, key in probes.get("redis", []):
        if kind == "order":
            redis_at.setdefault((seq, key), t)
    http_seen = dict(probes.get("http", []))
    out: dict[str, Any] = {}
    lines: list[str] = []
    for phase, (lo, hi) in windows.items():
        sfx = "" if phase == "idle" else f"_{phase}"
        pfx = "idle_" if phase == "idle" else ""
        rows = [s for s in sse if lo <= s.stamps["sim"] < hi]
        internal = [s.stamps["client"] - s.stamps["recv"] for s in rows]
        to_sse = [s.stamps["client"] - s.stamps["sim"] for s in rows]
        to_redis = [redis_at[s.seq, s.key] - s.stamps["sim"] for s in rows if (s.seq, s.key) in redis_at]
        dws = [(t - s) for s, t in direct.values() if lo <= s < hi]
        added = [s.stamps["client"] - direct[s.cid, s.status][1] for s in rows if (s.cid, s.status) in direct]
        stats(f"{pfx}internal", sfx, internal, out)
        stats(f"{pfx}venue_to_sse", sfx, to_sse, out)
        stats(f"{pfx}venue_to_redis", sfx, to_redis, out)
        stats(f"{pfx}direct_ws", sfx, dws, out)
        stats(f"{pfx}added_over_direct", sfx, added, out)
        rate = sum(1 for s in sent if lo <= s < hi) / ((hi - lo) / 1e9)
        if phase == "idle":
            out["idle_samples"] = len(rows)
        else:
            out[f"events_per_s{sfx}"] = round(rate)
            out[f"samples{sfx}"] = len(rows)
        hop_rows = []
        for name, a, b in HOPS:
            if b == "ack":
                xs = [acks[s.seq] - s.stamps["pub"] for s in rows if s.seq in acks]
            elif name == "redis" and not any("redis" in s.stamps for s in rows):
                # the state sends SSE before its Redis write: the Redis hop is applied -> seen by
                # the change-stream reader, beside the SSE path rather than on it
                xs = [redis_at[s.seq, s.key] - s.stamps["applied"] for s in rows
                      if (s.seq, s.key) in redis_at and s.stamps.get("applied")]
            elif name == "sse" and not any("redis" in s.stamps for s in rows):
                xs = [s.stamps["sse"] - s.stamps["applied"] for s in rows
                      if s.stamps.get("applied") and s.stamps.get("sse")]
            else:
                xs = [s.stamps[b] - s.stamps[a] for s in rows if s.stamps.get(a) and s.stamps.get(b)]
            hop_rows.append((name, xs))
            if phase == "1k":
                out[f"hop_{name}_p50_ms"] = round(p50(xs) / MS, 3) if xs else None
            elif phase == "5k":
                out[f"hop_{name}_p50_ms_5k"] = round(p50(xs) / MS, 3) if xs else None
        lines.append(f"--- {phase}: {rate:.0f} venue pushes/s, {len(rows)} order pushes traced ---")
        lines.append(f"{'hop':<16}{'p50 ms':>9}{'p99 ms':>9}")
        for name, xs in hop_rows:
            lines.append(f"{name:<16}{p50(xs) / MS:>9.3f}{pct(xs, 0.99) / MS:>9.3f}")
        for name, xs in (("internal", internal), ("venue_to_sse", to_sse), ("venue_to_redis", to_redis),
                         ("direct_ws", dws), ("added_over_dir", added)):
            lines.append(f"{'= ' + name:<16}{p50(xs) / MS:>9.3f}{pct(xs, 0.99) / MS:>9.3f}")
        if phase == "1k":
            opened = {s.cid: s.stamps["sim"] for s in sse if s.status == "OPEN"}
            to_http = [t - opened[c] for c, t in http_seen.items() if c in opened]
            stats("venue_to_http", "_1k", to_http, out)
            out["http_samples"] = len(to_http)
            lines.append(f"{'= venue_to_http':<16}{p50(to_http) / MS:>9.3f}{pct(to_http, 0.99) / MS:>9.3f}"
                         f"  ({len(to_http)} polled samples)")
    out["rest_poll_p50_ms"] = round(p50(rest) / MS, 1) if rest else None
    out["rest_poll_p99_ms"] = round(pct(rest, 0.99) / MS, 1) if rest else None
    out["rest_samples"] = len(rest)
    out["rest_poll_period_s"] = REST_PERIOD_S
    lines.append(f"REST polled once a second: p50 {out['rest_poll_p50_ms']} ms ({len(rest)} orders)")
    return out, lines


# ---------------------------------------------------------------------------------------- run

def passed_settings() -> dict[str, dict[str, str]]:
    """``SIM_*``, ``FEED_*`` and ``STATE_*`` variables of our environment, per prefix: passed to
    the services, so ``FEED_ACCOUNT_INFLIGHT=64 python -m bench.e2e`` measures a variant."""
    prefixes = ("SIM_", "FEED_", "STATE_")
    return {p: {k: v for k, v in os.environ.items() if k.startswith(p)} for p in prefixes}


async def wait_drained(ps: Any, nc: Any, within_s: float) -> float:
    """Seconds until the hub has delivered everything the venue pushed (feed lane empty, the state
    applied and wrote the ACCOUNT stream's last message), at most ``within_s``."""
    from shared.bus.subjects import ACCOUNT_STREAM

    js = nc.jetstream()
    t0 = time.monotonic()
    async with httpx.AsyncClient(timeout=5) as c:
        while time.monotonic() - t0 < within_s:
            await asyncio.sleep(0.2)
            feed = (await c.get(f"{ps.procs['feed'].url}/healthz")).json()
            if feed.get("queue", {}).get("account", 1):
                continue
            last = (await js.stream_info(ACCOUNT_STREAM)).state.last_seq
            h = (await c.get(f"{ps.state_url}/v1/health")).json()["value"]
            if h["account"]["applied_seq"] >= last and h["redis"]["written_seq"] >= last:
                break
    await asyncio.sleep(0.3)  # the last SSE frames on their way
    return time.monotonic() - t0

async def rest_poller(rest: Any, seen: dict[str, int], stop: asyncio.Event) -> None:
    """A strategy polling the venue's ``GET /orders`` once a second: when it first sees each order."""
    first = True
    while not stop.is_set():
        orders = await rest.open_orders(M)
        now = time.time_ns()
        for o in orders:
            seen.setdefault(o.client_id, 0 if first else now)  # open before the poller started: no sample
        first = False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), REST_PERIOD_S)


async def run(tmp: Path) -> dict[str, Any]:
    import nats

    from shared.bus.subjects import FEED_TRACE
    from shared.config import CommonSettings
    from shared.localservers import NatsServer, RedisServer
    from shared.paradex.rest import ParadexRest
    from shared.procs import process_system
    from shared.rediskeys import Keys
    from shared.settings import Secret, load

    ns, rs = NatsServer(tmp / "nats").start(), RedisServer(tmp / "redis").start()
    probes = Probes(tmp)
    given = passed_settings()
    try:
        async with process_system(ns.url, rs.url, tmp / "ps", sim={**given["SIM_"], "SIM_WS_SEND_STAMP": "1"},
                                  feed={**given["FEED_"], "FEED_TRACE": "1"},
                                  state={**given["STATE_"], "STATE_TRACE": "1"}, ready_within_s=90) as ps:
            cs = load(CommonSettings, env={}, paradex_rest_url=ps.rest_url, paradex_ws_url=ps.ws_url,
                      paradex_account=ps.account, paradex_l2_private_key=Secret(ps.private_key))
            rest = await ParadexRest.connect(cs)
            nc = await nats.connect(ns.url)
            acks: dict[int, int] = {}

            async def on_acks(msg: Any) -> None:
                for seq, _pub, ack in json.loads(msg.data):
                    acks[seq] = ack

            await nc.subscribe(FEED_TRACE, cb=on_acks)
            active = mp.get_context("spawn").Event()
            probes.start("sse", sse_probe, ps.state_url)
            probes.start("redis", redis_probe, rs.url, Keys(cs.account_token).changes)
            probes.start("ws", ws_probe, ps.ws_url, await rest.jwt.token())
            probes.start("http", http_probe, ps.state_url, ps.control_url, active)
            await probes.ready()

            async def flow(rate: float, resting: int = RESTING) -> None:
                await ps.control("PUT", "/order_flow", {"rate": rate, "market": M, "resting": resting})

            windows: dict[str, tuple[int, int]] = {}
            drained: dict[str, float] = {}

            async def phase(name: str) -> None:
                await flow(RATES[name] / PUSHES_PER_ORDER)
                await asyncio.sleep(RAMP_S)
                print(f"{name}: {PHASE_S[name]:.0f} s at {RATES[name]} pushes/s ...", file=sys.stderr)
                if name == "1k":
                    active.set()
                lo = time.time_ns()
                await asyncio.sleep(PHASE_S[name])
                windows[name] = (lo, time.time_ns())
                active.clear()
                await flow(0, IDLE_RESTING)
                drained[name] = await wait_drained(ps, nc, DRAIN_MAX_S)

            print(f"warm-up {WARM_S:.0f} s ...", file=sys.stderr)
            await flow(RATES["1k"] / PUSHES_PER_ORDER)
            await asyncio.sleep(WARM_S)
            await phase("1k")
            print(f"idle: {IDLE_SAMPLES} single orders {IDLE_GAP_S} s apart, REST polled 1/s beside ...",
                  file=sys.stderr)
            seen: dict[str, int] = {}
            stop = asyncio.Event()
            poller = asyncio.create_task(rest_poller(rest, seen, stop))
            await asyncio.sleep(0.3)  # its first poll (orders open before it give no sample)
            lo = time.time_ns()
            for _ in range(IDLE_SAMPLES):
                await ps.control("POST", "/order_flow/step", {"orders": 1})
                await asyncio.sleep(IDLE_GAP_S)
            windows["idle"] = (lo, time.time_ns())
            await asyncio.sleep(REST_PERIOD_S + 0.3)
            stop.set()
            await poller
            await phase("5k")  # last: a backlog it leaves delays nothing after it
            await asyncio.sleep(0.5)
            got = await probes.collect()
            await nc.drain()
            await rest.aclose()
    finally:
        probes.kill()
        rs.stop()
        ns.stop()
    direct, _ = parse_ws(got.get("ws", []))
    lo, hi = windows["idle"]
    rest_lat = [t - direct[c, "NEW"][0] for c, t in seen.items()
                if t and (c, "NEW") in direct and lo <= direct[c, "NEW"][0] < hi]
    result, lines = analyse(windows, got, acks, rest_lat)
    print("\n".join(lines))
    for name, s in drained.items():
        print(f"after {name}: the hub caught up {s:.1f} s after the flow stopped")
        result[f"drain_s_{name}"] = round(s, 1)
    return {"shape": "processes", "settings": {k: v for d in given.values() for k, v in d.items()},
            **result}


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(run(Path(tmp)))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
