"""``python -m bench.commands``: added latency inside the commands service, per order transport
(``COMMANDS_TRANSPORT`` ws and rest), and the sustained order rate of the default one.

Starts local NATS and Redis, an in-process simulator (signatures verified) and one commands
service per transport, then places orders over HTTP, alternating between them. ``added`` = from
the request's arrival (ASGI middleware stamp) to the venue request leaving (the REST client's
``on_request`` hook; for ws, the frame handed to the socket), signing, the Redis claim and the
CmdSubmitted JetStream ack included. ``venue_ack`` = the venue request leaving to its answer
classified (the transport's own latency). Prints JSON LAST: ``added_p50_ms`` / ``added_p99_ms``
of the default transport, ``ws_added_*`` / ``rest_added_*`` and ``*_venue_ack_p50_ms`` of both.

Orders are signed in the commands service's signer process (``COMMANDS_SIGNER_PROCESS``, the
default); ``--inline-signing`` signs them on the event loop instead, for an A/B.
``process_cpu_ms_per_order``: CPU of this process (simulator, clients and services: all but the
signer process, NATS and Redis) per sequential order, a figure less noisy than wall time on a busy
machine.
"""

from __future__ import annotations

import asyncio
import json
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

from services.commands.service import CommandsService
from services.commands.settings import Settings
from shared.bus import ensure_streams
from shared.localservers import NatsServer, RedisServer
from shared.settings import Secret
from tests.commands.helpers import TOKENS, settings_for
from tests.simfixture import start_simulator


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000


TRANSPORTS = ("ws", "rest")


def _measured(svc: CommandsService, acks: list[float]) -> None:
    """Record the venue latency (ms) of every place the service's transport makes."""
    transport = svc.pipeline.transport
    real = transport.place

    async def place(orders: Any) -> Any:
        outcomes, venue_ms = await real(orders)
        acks.append(venue_ms)
        return outcomes, venue_ms

    transport.place = place  # type: ignore[method-assign]


async def run(
    sequential: int = 500, concurrent: int = 2000, workers: int = 16, signer_process: bool = True
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        ns, rs = NatsServer(Path(tmp)).start(), RedisServer(Path(tmp)).start()
        try:
            return await _run(ns, rs, sequential, concurrent, workers, signer_process)
        finally:
            ns.stop()
            rs.stop()


async def _run(
    ns: NatsServer, rs: RedisServer, sequential: int, concurrent: int, workers: int, signer_process: bool
) -> dict[str, Any]:
    """One commands service per transport on the same simulator, NATS and Redis (replicas of one
    account); sequential places alternate between them in rounds of 25, so both see the same load
    on this busy machine; then the sustained rate through the default transport."""
    sim = await start_simulator(rl_orders_per_s=0, rl_orders_per_min=0, risk_delay_ms=0.0)
    nc = await nats.connect(ns.url)
    js = nc.jetstream()
    await ensure_streams(js)
    redis = aioredis.from_url(rs.url)
    services: dict[str, CommandsService] = {}
    acks: dict[str, list[float]] = {t: [] for t in TRANSPORTS}
    default = next(f.default for f in msgspec.structs.fields(Settings) if f.name == "transport")
    headers = {"Authorization": f"Bearer {TOKENS['mm']}"}
    body = {"market": "BTC-USD-PERP", "side": "BUY", "type": "LIMIT", "size": "0.001", "price": "40000"}
    try:
        for t in TRANSPORTS:
            settings = settings_for(
                sim,
                ns.url,
                rs.url,
                rate_per_s=100_000.0,
                rate_burst=100_000,
                exposure_refresh_s=1.0,
                replicas=len(TRANSPORTS),
                transport=t,
                signer_process=signer_process,
                strategies=Secret(json.dumps([{"name": "mm", "token": TOKENS["mm"]}])),
            )
            services[t] = svc = CommandsService(settings, nc, js, redis)
            await svc.start()
            _measured(svc, acks[t])
        assert services["ws"].ws is not None and services["ws"].ws.ready
        clients = {
            t: httpx.AsyncClient(base_url=f"http://127.0.0.1:{svc.port}", timeout=30)
            for t, svc in services.items()
        }
        try:
            for t in TRANSPORTS:
                for _ in range(50):
                    await clients[t].post("/v1/orders", json=body, headers=headers)
                services[t].added_s.clear()
                acks[t].clear()
            rtt: dict[str, list[float]] = {t: [] for t in TRANSPORTS}
            cpu0 = time.process_time()
            for _ in range(0, sequential, 25):
                for t in TRANSPORTS:
                    for _ in range(25):
                        t0 = time.perf_counter()
                        r = await clients[t].post("/v1/orders", json=body, headers=headers)
                        rtt[t].append(time.perf_counter() - t0)
                        assert r.status_code == 201, r.text
            cpu_ms = (time.process_time() - cpu0) * 1000 / sequential / len(TRANSPORTS)
            added = {t: list(services[t].added_s) for t in TRANSPORTS}
            signed_by_child = sum(s.signproc.signed for s in services.values() if s.signproc is not None)
            fallbacks = services["ws"].metrics.ws_fallback.labels("place")._value.get()
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
    finally:
        for svc in services.values():
            await svc.stop()
        await redis.aclose()
        await nc.close()
        await sim.sim.stop()
    out: dict[str, Any] = {}
    for t in TRANSPORTS:
        out[f"{t}_added_p50_ms"] = round(pct(added[t], 0.5), 3)
        out[f"{t}_added_p99_ms"] = round(pct(added[t], 0.99), 3)
        out[f"{t}_added_mean_ms"] = round(statistics.mean(added[t]) * 1000, 3)
        out[f"{t}_venue_ack_p50_ms"] = round(pct([a / 1000 for a in acks[t][: len(added[t])]], 0.5), 3)
        out[f"{t}_http_rtt_p50_ms"] = round(pct(rtt[t], 0.5), 3)
        out[f"{t}_samples"] = len(added[t])
    return {
        "transport": default,
        "added_p50_ms": out[f"{default}_added_p50_ms"],
        "added_p99_ms": out[f"{default}_added_p99_ms"],
        "added_mean_ms": out[f"{default}_added_mean_ms"],
        "venue_ack_p50_ms": out[f"{default}_venue_ack_p50_ms"],
        "http_rtt_p50_ms": out[f"{default}_http_rtt_p50_ms"],
        **out,
        "ws_fallbacks": fallbacks,
        "signer_process": signer_process,
        "signed_by_child": signed_by_child,
        "process_cpu_ms_per_order": round(cpu_ms, 3),
        "orders_per_s": round(rate, 1),
        "samples": len(added[default]),
        "concurrent_orders": concurrent,
        "workers": workers,
    }


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
    result = asyncio.run(run(signer_process="--inline-signing" not in sys.argv[1:]))
    result.update(asyncio.run(rebuild()))
    print("commands bench: sequential added latency, then sustained concurrent placement", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
