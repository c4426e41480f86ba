"""``python -m bench.commands``: added latency inside the commands service, per order transport
(``COMMANDS_TRANSPORT`` ws and rest), and the sustained order rate of the default one.

Deployed shape: local NATS and Redis, ``python -m services.simulator`` (signatures verified, no
venue rate limits) and one ``python -m services.commands`` per transport (replicas of one
account, each its own process, as the launcher runs them, at the default log level), on the
event loop the service runs on by default (``COMMANDS_EVENT_LOOP``; ``--loop asyncio|uvloop``
overrides it for an A/B). This process places orders over HTTP, alternating between the two
services in rounds of 25, and reads each answer's ``Server-Timing`` header
(``services.commands.timing``): ``hub`` = from the request's arrival to the venue request
leaving (validation, the Redis claim, the CmdSubmitted JetStream ack and signing included; for
ws: the frame handed to the socket), ``venue`` = that request to its answer classified (the
transport's own latency). Prints JSON LAST: ``added_p50_ms`` / ``added_p99_ms`` of the default
transport, ``ws_added_*`` / ``rest_added_*`` and ``*_venue_ack_p50_ms`` of both.

Orders are signed in the commands service's signer process (``COMMANDS_SIGNER_PROCESS``, the
default); ``--inline-signing`` signs them on the event loop instead. ``*_cpu_ms_per_order``: CPU
of each commands process (``*_signer_cpu_ms_per_order``: of its signer child) per sequential
order, from ``/proc``: a figure less noisy than wall time on a busy machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
import nats
import redis.asyncio as aioredis

from services.commands.settings import Settings
from shared.bus import ensure_streams
from shared.localservers import NatsServer, RedisServer, free_port
from shared.procs import SIM_ENV, TOKENS, ProcSystem, new_account, new_private_key, wait_until


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


TRANSPORTS = ("ws", "rest")
TIMING = re.compile(r"hub;dur=([0-9.]+)(?:, venue;dur=([0-9.]+))?")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (Linux ``/proc``; 0.0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def _system(tmp: Path, nats_url: str, redis_url: str, signer_process: bool, loop: str | None) -> ProcSystem:
    rest_port, ws_port, control_port = free_port(), free_port(), free_port()
    common = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONUNBUFFERED": "1",
        "HOME": os.environ.get("HOME", "/tmp"),
        "NATS_URL": nats_url,
        "REDIS_URL": redis_url,
        "PARADEX_REST_URL": f"http://127.0.0.1:{rest_port}/v1",
        "PARADEX_WS_URL": f"ws://127.0.0.1:{ws_port}/v1",
        "PARADEX_ACCOUNT": new_account(),
        "PARADEX_L2_PRIVATE_KEY": new_private_key(),
        "PARADEX_MARKETS": "BTC-USD-PERP",
    }
    ps = ProcSystem(common["PARADEX_ACCOUNT"], common["PARADEX_L2_PRIVATE_KEY"], tmp, common)
    sim = {
        **SIM_ENV,
        "SIM_REST_PORT": str(rest_port),
        "SIM_WS_PORT": str(ws_port),
        "SIM_CONTROL_PORT": str(control_port),
        "SIM_RL_ORDERS_PER_S": "0",
        "SIM_RL_ORDERS_PER_MIN": "0",
        "SIM_RISK_DELAY_MS": "0",
        "SIM_SCHEDULE_INTERVAL_MS": "0",
        "LOG_LEVEL": "WARNING",
    }
    ps.add("simulator", "services.simulator", control_port, sim)
    for t in TRANSPORTS:
        port = free_port()
        env = {
            "COMMANDS_HTTP_PORT": str(port),
            "COMMANDS_TRANSPORT": t,
            "COMMANDS_REPLICAS": str(len(TRANSPORTS)),
            "COMMANDS_RATE_PER_S": "100000",
            "COMMANDS_RATE_BURST": "100000",
            "COMMANDS_EXPOSURE_REFRESH_S": "1.0",
            "COMMANDS_SIGNER_PROCESS": "true" if signer_process else "false",
            "COMMANDS_STRATEGIES": json.dumps([{"name": "mm", "token": TOKENS["mm"]}]),
        }
        if loop:
            env["COMMANDS_EVENT_LOOP"] = loop
        ps.add(t, "services.commands", port, env)
    return ps


async def run(
    sequential: int = 500,
    concurrent: int = 2000,
    workers: int = 16,
    signer_process: bool = True,
    loop: str | None = None,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        ns, rs = NatsServer(Path(tmp)).start(), RedisServer(Path(tmp)).start()
        try:
            nc = await nats.connect(ns.url)
            await ensure_streams(nc.jetstream())  # as the launcher does before the services start
            await nc.close()
            ps = _system(Path(tmp), ns.url, rs.url, signer_process, loop)
            try:
                for name in ("simulator", *TRANSPORTS):
                    await ps.start(name)
                return await _run(ps, sequential, concurrent, workers, signer_process, loop)
            except BaseException:
                print(ps.tails(), file=sys.stderr)
                raise
            finally:
                await ps.close()
        finally:
            ns.stop()
            rs.stop()


async def _ready(c: httpx.AsyncClient) -> bool:
    try:
        r = await c.get("/healthz")
    except httpx.HTTPError:
        return False
    ws = r.json().get("order_ws")
    return r.status_code == 200 and (ws is None or bool(ws["ready"]))


async def _run(
    ps: ProcSystem, sequential: int, concurrent: int, workers: int, signer_process: bool, loop: str | None
) -> dict[str, Any]:
    """Sequential places alternate between the two services in rounds of 25 (both see the same
    load on this busy machine); then the sustained rate through the default transport."""
    default = _default("transport")
    headers = {"Authorization": f"Bearer {TOKENS['mm']}"}
    body = {"market": "BTC-USD-PERP", "side": "BUY", "type": "LIMIT", "size": "0.001", "price": "40000"}
    clients = {t: httpx.AsyncClient(base_url=ps.procs[t].url, timeout=30) for t in TRANSPORTS}
    hub: dict[str, list[float]] = {t: [] for t in TRANSPORTS}
    venue: dict[str, list[float]] = {t: [] for t in TRANSPORTS}
    rtt: dict[str, list[float]] = {t: [] for t in TRANSPORTS}
    try:
        for t in TRANSPORTS:
            c = clients[t]
            await wait_until(lambda c=c: _ready(c), 30, f"commands {t} ready")  # type: ignore[misc]
            for _ in range(50):  # warm-up: connections, caches, the signer child
                r = await c.post("/v1/orders", json=body, headers=headers)
                assert r.status_code == 201, r.text
        pids = {t: p.pid for t in TRANSPORTS if (p := ps.procs[t].popen) is not None}
        signers = {t: _children(pid) for t, pid in pids.items()}
        cpu0 = {t: _cpu_s(pid) for t, pid in pids.items()}
        scpu0 = {t: sum(_cpu_s(c) for c in cs) for t, cs in signers.items()}
        for _ in range(0, sequential, 25):
            for t in TRANSPORTS:
                for _ in range(25):
                    t0 = time.perf_counter()
                    r = await clients[t].post("/v1/orders", json=body, headers=headers)
                    rtt[t].append((time.perf_counter() - t0) * 1000)
                    assert r.status_code == 201, r.text
                    m = TIMING.fullmatch(r.headers.get("Server-Timing", ""))
                    assert m is not None and m.group(2) is not None, dict(r.headers)
                    hub[t].append(float(m.group(1)))
                    venue[t].append(float(m.group(2)))
        cpu = {t: (_cpu_s(pid) - cpu0[t]) * 1000 / sequential for t, pid in pids.items()}
        scpu = {t: (sum(_cpu_s(c) for c in cs) - scpu0[t]) * 1000 / sequential for t, cs in signers.items()}
        client = clients[default]
        left = concurrent

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                r = await client.post("/v1/orders", json=body, headers=headers)
                assert r.status_code == 201, r.text

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(workers)))
        rate = concurrent / (time.perf_counter() - t0)
    finally:
        for c in clients.values():
            await c.aclose()
    out: dict[str, Any] = {}
    for t in TRANSPORTS:
        out[f"{t}_added_p50_ms"] = round(pct(hub[t], 0.5), 3)
        out[f"{t}_added_p99_ms"] = round(pct(hub[t], 0.99), 3)
        out[f"{t}_added_mean_ms"] = round(statistics.mean(hub[t]), 3)
        out[f"{t}_venue_ack_p50_ms"] = round(pct(venue[t], 0.5), 3)
        out[f"{t}_http_rtt_p50_ms"] = round(pct(rtt[t], 0.5), 3)
        out[f"{t}_cpu_ms_per_order"] = round(cpu.get(t, 0.0), 3)
        out[f"{t}_signer_cpu_ms_per_order"] = round(scpu.get(t, 0.0), 3)
        out[f"{t}_samples"] = len(hub[t])
    return {
        "transport": default,
        "event_loop": loop or _default("event_loop"),
        "added_p50_ms": out[f"{default}_added_p50_ms"],
        "added_p99_ms": out[f"{default}_added_p99_ms"],
        "added_mean_ms": out[f"{default}_added_mean_ms"],
        "venue_ack_p50_ms": out[f"{default}_venue_ack_p50_ms"],
        "http_rtt_p50_ms": out[f"{default}_http_rtt_p50_ms"],
        **out,
        "signer_process": signer_process,
        "orders_per_s": round(rate, 1),
        "samples": len(hub[default]),
        "concurrent_orders": concurrent,
        "workers": workers,
    }


def _default(name: str) -> Any:
    return next(f.default for f in msgspec.structs.fields(Settings) if f.name == name)


async def rebuild(commands: int = 5000) -> dict[str, Any]:
    """How fast the idempotency index is rebuilt from the ACCOUNT stream after a Redis wipe:
    ``commands`` CmdSubmitted + CmdAccepted pairs of one account, read, folded and written back."""
    from services.commands.index import IndexKeeper
    from shared.bus import CmdAccepted, CmdSubmitted, EventPublisher
    from shared.rediskeys import Keys
    from tests.commands.test_core_pipeline import _order

    with tempfile.TemporaryDirectory() as tmp:
        ns, rs = NatsServer(Path(tmp)).start(), RedisServer(Path(tmp)).start()
        try:
            nc = await nats.connect(ns.url)
            js = nc.jetstream()
            await ensure_streams(js)
            redis = aioredis.from_url(rs.url)
            account = "0xbench"
            pub = EventPublisher(js, account)
            for k in range(0, commands, 250):
                events: list[Any] = []
                for i in range(k, min(commands, k + 250)):
                    cid = f"mm-{i}"
                    events.append(
                        CmdSubmitted(
                            source="cmd",
                            recv_ns=time.time_ns(),
                            client_id=cid,
                            strategy="mm",
                            market="BTC-USD-PERP",
                            side="BUY",
                            type="LIMIT",
                            size="1",
                        )
                    )
                    events.append(
                        CmdAccepted(
                            source="cmd",
                            recv_ns=time.time_ns(),
                            client_id=cid,
                            strategy="mm",
                            order_id=str(i),
                            order=_order(cid, str(i)),
                        )
                    )
                await asyncio.gather(*(pub.publish(e) for e in events))
            keeper = IndexKeeper(js, redis, Keys(account), account, ttl_s=3600, settle_s=0.0)
            t0 = time.perf_counter()
            await keeper.ensure()
            took = time.perf_counter() - t0
            assert keeper.last is not None and keeper.last.records == commands, keeper.last
            await redis.aclose()
            await nc.close()
        finally:
            ns.stop()
            rs.stop()
    return {
        "rebuild_commands": commands,
        "rebuild_ms": round(took * 1000, 1),
        "rebuild_events_per_s": round(2 * commands / took),
    }


def main() -> None:
    args = sys.argv[1:]
    loop = args[args.index("--loop") + 1] if "--loop" in args else None
    result = asyncio.run(run(signer_process="--inline-signing" not in args, loop=loop))
    result.update(asyncio.run(rebuild()))
    print("commands bench: sequential added latency, then sustained concurrent placement", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
