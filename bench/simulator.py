"""Simulator throughput: ``python -m bench.simulator [seconds]``.

Starts ``python -m services.simulator`` as a child process (as in production: its own process and
core) and measures from this process, over loopback:

* ``ws_push_per_s``: book-delta pushes received per second by ONE WebSocket client subscribed to
  every market's ``order_book.{m}.deltas`` while the synthetic market runs at its maximum rate
  (JSON frames, compression off on the client);
* ``orders_per_s``: signed orders accepted (201) per second over REST with signature
  verification on, from several concurrent keep-alive HTTP/1.1 connections (orders are signed
  before the clock starts, rate limits are lifted). The connections are :mod:`bench.rawhttp`'s:
  with httpx the load process itself used ~1.2 ms of CPU per order, more than the simulator, and
  on two cores it was the client that set the rate.

Venue features are on while measuring: every market holds ``STOPS_PER_MARKET`` untriggered stop
orders (half above, half below the mark, 20 % away) and a 24 h TWAP runs, with the venue
schedule (funding, health checks) at its default tick.

The simulator's own CPU time (user + system, from ``/proc``; per order, its signature-checker
child's included, ``SIM_VERIFY_PROCESS``) over each measured window is reported per push and per
order (``sim_cpu_us_per_push``, ``sim_cpu_us_per_order``): on a shared machine
it is steadier than the wall-clock rates, since the client runs in this other process.

Prints human lines, then LAST a JSON line with the figures. ``BENCH_PROFILE=out.prof`` runs the
simulator under cProfile, timed by the process's CPU clock (wall time would charge the event
loop's idle waits to ``asyncio.run``), and writes its profile there (``python -m pstats out.prof``);
``BENCH_PHASE=ws`` or ``orders`` runs only that phase (to profile one at a time).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from typing import Any

import httpx
import msgspec
from websockets.asyncio.client import connect

from shared.config import DEV_ACCOUNT, DEV_L2_PRIVATE_KEY
from shared.localservers import free_port, wait_port
from shared.paradex.auth import auth_headers
from shared.paradex.signer import OrderSigner

from .rawhttp import RawHttp

CHAIN = "PRIVATE_SN_POTC_MOCK_SEPOLIA"


class _Seq(msgspec.Struct):
    market: str
    seq_no: int


class _Params(msgspec.Struct):
    data: _Seq


class _Push(msgspec.Struct):
    params: _Params


_DELTA = msgspec.json.Decoder(_Push)  # only what the gap check needs: cheap per frame
MARKETS = ("BTC-USD-PERP", "ETH-USD-PERP")
CLIENTS = 8
STOPS_PER_MARKET = 40
MIDS = {"BTC-USD-PERP": (Decimal("65000"), Decimal("0.1"), "0.001"),
        "ETH-USD-PERP": (Decimal("3200"), Decimal("0.01"), "0.01")}


# The simulator under a CPU-time cProfile (argv[1] is the module); the profile is written on exit.
_PROFILED = """
import cProfile, runpy, sys, time
profiler = cProfile.Profile(time.process_time)
sys.argv = sys.argv[1:]
try:
    profiler.runcall(runpy.run_module, sys.argv[0], run_name="__main__", alter_sys=True)
finally:
    profiler.dump_stats({path!r})
"""


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (Linux ``/proc``; 0.0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tree_cpu_s(pid: int) -> float:
    """:func:`_cpu_s` of ``pid`` and its child processes (the simulator's signature checker)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = [int(c) for c in f.read().split()]
    except OSError:
        children = []
    return _cpu_s(pid) + sum(_cpu_s(c) for c in children)


def _start(ports: dict[str, int]) -> subprocess.Popen[bytes]:
    env = {
        **os.environ, **{k: str(v) for k, v in ports.items()},
        "SIM_SYNTHETIC_RATE": "0", "SIM_CHAIN_ID": CHAIN, "SIM_VERIFY_SIGNATURES": "true",
        "SIM_RL_ORDERS_PER_S": "0", "SIM_RL_ORDERS_PER_MIN": "0", "SIM_RL_AUTH_PER_MIN": "0",
        "SIM_RL_PUBLIC_PER_MIN": "0", "SIM_RL_PRIVATE_GET_PER_S": "0", "SIM_RL_PRIVATE_GET_PER_MIN": "0",
        "SIM_RL_PRIVATE_IP_PER_MIN": "0", "SIM_QUEUE_BOUND": "1000000", "LOG_LEVEL": "WARNING",
        "PARADEX_ACCOUNT": DEV_ACCOUNT, "PARADEX_L2_PRIVATE_KEY": DEV_L2_PRIVATE_KEY,
    }
    profile = os.environ.get("BENCH_PROFILE")
    prefix = ["-c", _PROFILED.format(path=profile)] if profile else ["-m"]
    proc = subprocess.Popen([sys.executable, *prefix, "services.simulator"], env=env)
    # Probe the control port only (a bare TCP probe of the WS port logs a failed handshake);
    # every port is bound before the control server starts answering.
    if not wait_port("127.0.0.1", ports["SIM_CONTROL_PORT"], 20):
        proc.kill()
        raise RuntimeError("simulator did not start")
    return proc


async def ws_push_rate(ws_url: str, control: str, seconds: float, pid: int) -> tuple[float, int, float]:
    """Book-delta frames per second received by one client, synthetic market at max rate; sequence
    gaps; the simulator's CPU microseconds per delta received over the same window."""
    async with connect(ws_url, compression=None, max_queue=None, max_size=None) as ws:
        for i, market in enumerate(MARKETS):
            await ws.send(json.dumps({"jsonrpc": "2.0", "method": "subscribe",
                                      "params": {"channel": f"order_book.{market}.deltas"}, "id": i}))
        async with httpx.AsyncClient() as c:
            await c.put(f"{control}/synthetic", json={"rate": 1_000_000})
        deltas = 0
        last_seq: dict[str, int] = {}
        gaps = 0
        start = cpu_start = cpu = 0.0
        warmup_end = time.monotonic() + 1.0
        end = warmup_end + seconds
        while True:
            frame = await ws.recv()
            now = time.monotonic()
            if now >= end:
                cpu = _cpu_s(pid) - cpu_start
                break
            if isinstance(frame, bytes) or '"update_type":"d"' not in frame:
                continue
            data = _DELTA.decode(frame).params.data
            market, seq = data.market, data.seq_no
            if market in last_seq and seq != last_seq[market] + 1:
                gaps += 1
            last_seq[market] = seq
            if now >= warmup_end:
                if not start:
                    start, cpu_start = now, _cpu_s(pid)
                deltas += 1
        async with httpx.AsyncClient() as c:
            await c.put(f"{control}/synthetic", json={"rate": 0})
    return deltas / (end - start), gaps, cpu * 1e6 / max(deltas, 1)


def _signed_orders(signer: OrderSigner, count: int) -> list[dict[str, Any]]:
    orders = []
    ts = int(time.time() * 1000)
    for i in range(count):
        market = MARKETS[i % 2]
        price = Decimal("50000") - i % 500 if market == "BTC-USD-PERP" else Decimal("2500") - i % 500
        size = "0.001" if market == "BTC-USD-PERP" else "0.01"
        side = "BUY"
        sig = signer.sign_order(market, side, "LIMIT", size, str(price), ts + i)
        orders.append({"market": market, "side": side, "type": "LIMIT", "size": size, "price": str(price),
                       "instruction": "GTC", "signature": sig, "signature_timestamp": ts + i})
    return orders


async def order_rate(rest: str, count: int, pid: int) -> tuple[float, int, int, float]:
    """Signed orders accepted per second (201) from CLIENTS concurrent keep-alive clients: the
    rate, accepted, rejected, and the simulator's CPU microseconds per order sent."""
    signer = OrderSigner(DEV_L2_PRIVATE_KEY, DEV_ACCOUNT, CHAIN)
    orders = _signed_orders(signer, count)
    async with httpx.AsyncClient(base_url=rest) as c:
        token = (await c.post("/auth", headers=auth_headers(signer, int(time.time())))).json()["jwt_token"]
    url = httpx.URL(rest)
    prefix = url.raw_path.decode().rstrip("/")
    clients = [await RawHttp(url.host, url.port or 80, {"Authorization": f"Bearer {token}"}).open()
               for _ in range(CLIENTS)]
    accepted = rejected = 0

    async def worker(client: RawHttp, mine: list[bytes]) -> None:
        nonlocal accepted, rejected
        for body in mine:
            status, _, _ = await client.request("POST", prefix + "/orders", body)
            if status == 201:
                accepted += 1
            else:
                rejected += 1

    bodies = [json.dumps(o).encode() for o in orders]
    try:
        await clients[0].request("GET", prefix + "/account")  # warm the connection
        start, cpu = time.perf_counter(), _tree_cpu_s(pid)
        await asyncio.gather(*(worker(cl, bodies[i::CLIENTS]) for i, cl in enumerate(clients)))
        elapsed, cpu = time.perf_counter() - start, _tree_cpu_s(pid) - cpu
    finally:
        for cl in clients:
            await cl.close()
    return accepted / elapsed, accepted, rejected, cpu * 1e6 / max(count, 1)


async def venue_features(rest: str) -> int:
    """Arm STOPS_PER_MARKET stop orders per market far from the mark and start a TWAP."""
    signer = OrderSigner(DEV_L2_PRIVATE_KEY, DEV_ACCOUNT, CHAIN)
    ts = int(time.time() * 1000)
    armed = 0
    async with httpx.AsyncClient(base_url=rest) as c:
        token = (await c.post("/auth", headers=auth_headers(signer, int(time.time())))).json()["jwt_token"]
        c.headers["Authorization"] = f"Bearer {token}"
        for market, (mid, tick, size) in MIDS.items():
            for i in range(STOPS_PER_MARKET):
                side, factor = ("BUY", Decimal("1.2")) if i % 2 else ("SELL", Decimal("0.8"))
                trigger = ((mid * factor) // tick + i) * tick
                stamp = ts + armed
                body = {"market": market, "side": side, "type": "STOP_MARKET", "size": size, "price": "0",
                        "trigger_price": str(trigger), "instruction": "GTC", "signature_timestamp": stamp,
                        "signature": signer.sign_order(market, side, "STOP_MARKET", size, "0", stamp)}
                armed += (await c.post("/orders", json=body)).status_code == 201
        twap = {"algo_type": "TWAP", "market": MARKETS[0], "side": "BUY", "type": "MARKET", "size": "2.88",
                "duration_seconds": 86_400, "signature_timestamp": ts,
                "signature": signer.sign_order(MARKETS[0], "BUY", "MARKET", "2.88", "0", ts)}
        if (await c.post("/algo/orders", json=twap)).status_code != 201:
            raise RuntimeError("the TWAP was refused")
    return armed


async def main(seconds: float, phase: str = "") -> dict[str, Any]:
    ports = {"SIM_REST_PORT": free_port(), "SIM_WS_PORT": free_port(), "SIM_CONTROL_PORT": free_port()}
    proc = _start(ports)
    out: dict[str, Any] = {}
    try:
        rest = f"http://127.0.0.1:{ports['SIM_REST_PORT']}/v1"
        control = f"http://127.0.0.1:{ports['SIM_CONTROL_PORT']}/control"
        ws_url = f"ws://127.0.0.1:{ports['SIM_WS_PORT']}/v1"
        await asyncio.sleep(0.5)
        stops = await venue_features(rest)
        print(f"venue: {stops} untriggered stop orders armed, one TWAP running")
        if phase in ("", "ws"):
            push_rate, gaps, push_cpu = await ws_push_rate(ws_url, control, seconds, proc.pid)
            print(f"ws: {push_rate:,.0f} book deltas/s to one client ({gaps} sequence gaps; "
                  f"simulator CPU {push_cpu:.1f} us a push)")
            out |= {"ws_push_per_s": round(push_rate), "ws_gaps": gaps,
                    "sim_cpu_us_per_push": round(push_cpu, 1)}
        if phase in ("", "orders"):
            rate, accepted, rejected, order_cpu = await order_rate(
                rest, int(3000 * max(1.0, seconds / 5)), proc.pid)
            print(f"rest: {rate:,.0f} signed orders/s accepted ({accepted} accepted, {rejected} rejected, "
                  f"{CLIENTS} clients, signature verification on; simulator CPU {order_cpu:.0f} us an order)")
            out |= {"orders_per_s": round(rate), "orders_rejected": rejected,
                    "sim_cpu_us_per_order": round(order_cpu)}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {**out, "venue_stops": stops}


if __name__ == "__main__":
    duration = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    print(json.dumps(asyncio.run(main(duration, os.environ.get("BENCH_PHASE", "")))))
