"""How fast a lost private push is repaired: the whole system as processes, default settings.

``python -m bench.repair`` starts NATS, Redis, the simulator and the four services as separate
processes (``tests/system/procs.py`` with ``test_speed=False``: every service at its defaults,
the venue's rate limits on), trades on one account (resting orders placed and cancelled, takers
sweeping a level or three), and has the simulator drop private pushes at random until
:data:`PER_KIND` pushes of each kind (orders, fills, positions, account, balance_events) were
dropped. The simulator logs each dropped push (``GET /control/ws/private/dropped``); an observer
of its own (a WebSocket client on exactly the feed's channels, so it shares every drop) records
what was delivered; the state's change stream (SSE) records when the state changed.

Per dropped push: it is *repaired* when the state first reflects what it carried, or something
later (orders: venue status, filled and ``last_updated_at`` at least as far; fills: the fill is
there; positions and account: ``seq_no`` at least as far; balances: past its venue millisecond, or
in it with the value the venue's chain ends that millisecond on). It is *revealed* when a later
related push (the order's or the fill's siblings, the market's next position or fill, the next
account or balance push) arrived before the repair; its time counts from that push. It is *lone*
otherwise; its time counts from the drop. ``unresolved``: drops never repaired (after the fast
interval plus 5 s of quiet) plus what the state itself reports unresolved; must be 0.

Prints per-kind lines, the reconciler's venue requests per minute by purpose, then LAST one JSON
line: ``revealed_p50_ms``, ``revealed_p99_ms``, ``revealed_max_ms``, ``lone_p50_ms``,
``lone_p99_ms``, ``lone_max_ms``, ``unresolved`` (targets: revealed p99 <= 1500, lone max <=
12000, unresolved 0). Takes about 3-5 minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import msgspec
import websockets

from shared.localservers import NatsServer, RedisServer
from shared.paradex.rest import ParadexRest
from shared.paradex.signer import OrderSigner
from tests.system.procs import M, ProcSystem, process_system

PER_KIND = 200
KINDS = ("orders", "fills", "positions", "account", "balance_events")
FEED_CHANNELS = ("orders.ALL", "fills.ALL", "positions", "account", "balance_events", "tradebusts")
FAST_INTERVAL_S = 10.0  # RECONCILER_FAST_INTERVAL_S default
DROP_P = 0.3
WORKERS = 2
TICK = Decimal("0.1")
RANK = {"NEW": 1, "UNTRIGGERED": 2, "OPEN": 3, "CLOSED": 4}
TARGETS = {"revealed_p99_ms": 1500, "lone_max_ms": 12000}


def pct(xs: list[float], q: float) -> float:
    ys = sorted(xs)
    return ys[min(len(ys) - 1, int(q * len(ys)))] if ys else 0.0


def family(channel: str) -> str:
    return channel.partition(".")[0]


@dataclass
class Drop:
    kind: str
    at_ms: int
    data: dict[str, Any]
    counted: bool = True
    repaired_ms: float | None = None
    revealed_ms: float | None = None


@dataclass
class Observed:
    """What reached the bench: delivered pushes (observer) and state changes (SSE), with times."""

    pushes: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    state: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    changes: list[tuple[float, str, str, dict[str, Any] | None]] = field(default_factory=list)


async def observe_pushes(ps: ProcSystem, seen: Observed, ready: asyncio.Event) -> None:
    """A private WebSocket client on the feed's channels: records every delivered push."""
    async with ParadexRest(ps.rest_url) as rest:
        chain = (await rest.system_config()).starknet_chain_id
        rest.set_signer(OrderSigner(ps.private_key, ps.account, chain))
        jwt = await rest.auth()
    async with websockets.connect(ps.ws_url, max_queue=None) as ws:
        await ws.send(json.dumps({"jsonrpc": "2.0", "method": "auth", "params": {"bearer": jwt}, "id": 0}))
        for i, ch in enumerate(FEED_CHANNELS, 1):
            await ws.send(json.dumps({"jsonrpc": "2.0", "method": "subscribe",
                                      "params": {"channel": ch}, "id": i}))
        ready.set()
        async for raw in ws:
            msg = json.loads(raw)
            params = msg.get("params")
            if msg.get("method") == "subscription" and params:
                seen.pushes.append((time.time() * 1000, params["channel"], params["data"]))


async def observe_state(ps: ProcSystem, seen: Observed, ready: asyncio.Event) -> None:
    """The state's SSE change stream: the latest record per entity, with arrival times."""
    client = ps.state_client()
    ready.set()
    async for ch in client.events(kinds=["order", "fill", "position", "account", "balance"]):
        value = msgspec.json.decode(bytes(ch.value)) if ch.value else None
        key = (ch.kind, ch.key)
        if value is None:
            seen.state.pop(key, None)
        else:
            seen.state[key] = value
        seen.changes.append((time.time() * 1000, ch.kind, ch.key, value))


# ------------------------------------------------------------------------------------ traffic

async def traffic(ps: ProcSystem, stop: asyncio.Event, rng: random.Random, worker: int) -> int:
    """Resting orders (a third; cancelled 0.5-3 s later) and takers sweeping 1-3 levels,
    alternating sides."""
    cmd = ps.commands_client()
    state = ps.state_client()
    n = worker * 1_000_000
    resting: list[tuple[float, str]] = []
    side = "BUY"
    while not stop.is_set():
        n += 1
        try:
            book = (await state.book(M, depth=5)).value
            if not book.bids or not book.asks:
                await asyncio.sleep(0.1)
                continue
            bid, ask = book.bids[0][0], book.asks[0][0]
            if rng.random() < 0.33:
                away = rng.randint(50, 300) * TICK
                price = bid - away if side == "BUY" else ask + away
                r = await cmd.place(M, side, Decimal("0.01"), price, client_id=f"r{n}")  # type: ignore[arg-type]
                if r.order_id:
                    resting.append((time.monotonic() + rng.uniform(0.5, 3.0), r.order_id))
            else:
                levels = book.asks if side == "BUY" else book.bids
                depth = min(len(levels), rng.randint(1, 3))
                size = sum((s for _, s in levels[:depth]), Decimal(0))
                size = min(size - levels[depth - 1][1] / 2, Decimal("0.05")).quantize(Decimal("0.001"))
                limit = levels[depth - 1][0]
                await cmd.place(M, side, max(size, Decimal("0.001")), limit, client_id=f"t{n}")  # type: ignore[arg-type]
                side = "SELL" if side == "BUY" else "BUY"
            now = time.monotonic()
            for due, oid in [x for x in resting if x[0] <= now]:
                resting.remove((due, oid))
                with contextlib.suppress(Exception):
                    await cmd.cancel(oid)
        except Exception as exc:  # a refused order (price band, margin) is part of trading
            print(f"  traffic: {type(exc).__name__}: {str(exc)[:120]}", file=sys.stderr)
        await asyncio.sleep(rng.uniform(0.02, 0.1))
    for _, oid in resting:
        with contextlib.suppress(Exception):
            await cmd.cancel(oid)
    return n - worker * 1_000_000


async def dropper(ps: ProcSystem) -> tuple[list[Drop], int]:
    """Drop private pushes of the kinds still short of :data:`PER_KIND`, each with probability
    :data:`DROP_P` (the simulator's seeded RNG decides which), until none is short. Returns every
    drop (the first :data:`PER_KIND` of each kind ``counted`` in the figures; a few more may
    slip in before a kind's filter is lifted: they must be repaired too)."""
    armed: list[str] = []
    while True:
        log = (await ps.control("GET", "/ws/private/dropped"))["dropped"]
        counts = dict.fromkeys(KINDS, 0)
        for d in log:
            counts[family(d["channel"])] = counts.get(family(d["channel"]), 0) + 1
        todo = [k for k in KINDS if counts[k] < PER_KIND]
        if todo != armed:
            spec = {"drop": {"probability": DROP_P}, "channels": todo} if todo else {}
            await ps.control("PUT", "/ws/private", spec)
            armed = todo
        if not todo:
            break
        await asyncio.sleep(0.2)
    log = (await ps.control("GET", "/ws/private/dropped"))["dropped"]
    drops: list[Drop] = []
    taken = dict.fromkeys(KINDS, 0)
    for d in log:
        k = family(d["channel"])
        taken[k] = taken.get(k, 0) + 1
        drops.append(Drop(kind=k, at_ms=d["at_ms"], data=d["frame"]["params"]["data"],
                          counted=taken[k] <= PER_KIND))
    return drops, len(log)


# --------------------------------------------------------------------------------- judgement

def _dec(v: Any) -> Decimal:
    return Decimal(str(v)) if v not in (None, "") else Decimal(0)


def balance_final(seen: Observed, drops: list[Drop], ts: int) -> Decimal | None:
    """The balance the venue's chain ends venue millisecond ``ts`` on (delivered + dropped)."""
    events = [d for _, ch, d in seen.pushes if ch == "balance_events" and d["created_at"] == ts]
    events += [x.data for x in drops if x.kind == "balance_events" and x.data["created_at"] == ts]
    befores = {_dec(e["settlement_asset_balance_before"]) for e in events}
    ends = [_dec(e["settlement_asset_balance_after"]) for e in events
            if _dec(e["settlement_asset_balance_after"]) not in befores]
    return ends[0] if len(ends) == 1 else None


def covers(kind: str, d: dict[str, Any], value: dict[str, Any] | None, final: Decimal | None) -> bool:
    """Does the state record ``value`` reflect the dropped push ``d`` (or something later)?"""
    if value is None:
        return False
    if kind == "orders":
        filled = _dec(d["size"]) - _dec(d["remaining_size"])
        return (RANK.get(value.get("venue_status", ""), 0) >= RANK.get(d["status"], 0)
                and _dec(value.get("filled")) >= filled
                and int(value.get("last_updated_at", 0)) >= int(d["last_updated_at"]))
    if kind == "fills":
        return True
    if kind == "positions":
        return int(value["position"].get("seq_no", 0)) >= int(d["seq_no"])
    if kind == "account":
        return int(value["summary"].get("seq_no", 0)) >= int(d["seq_no"])
    ts = int(d["created_at"])
    held = int(value.get("venue_ts", 0))
    return held > ts or (held == ts and final is not None and _dec(value.get("size")) == final)


def entity_of(kind: str, d: dict[str, Any]) -> tuple[str, str]:
    if kind == "orders":
        return "order", d["id"]
    if kind == "fills":
        return "fill", d["id"]
    if kind == "positions":
        return "position", d["market"]
    if kind == "account":
        return "account", "account"
    return "balance", d.get("settlement_asset_name", "USDC")


def related(kind: str, d: dict[str, Any], channel: str, p: dict[str, Any]) -> bool:
    """Does delivered push ``p`` (on ``channel``) come after ``d`` in the venue's order and concern
    the same thing, so that it reveals the loss? Decided by content, not by arrival time (the
    pushes of one venue step arrive within a millisecond, some before the dropped one)."""
    fam = family(channel)
    if kind == "orders":  # the order's later push, or a fill of it in a later millisecond
        if fam == "orders":
            return p.get("id") == d["id"] and int(p["seq_no"]) > int(d["seq_no"])
        return (fam == "fills" and p.get("order_id") == d["id"]
                and int(p["created_at"]) > int(d["last_updated_at"]))
    if kind == "fills":  # its balance push, its order's push showing it, its market's position
        if fam == "balance_events":
            return bool(p.get("fill_id") == d["id"])
        if fam == "orders":
            return p.get("id") == d["order_id"] and _dec(p["remaining_size"]) <= _dec(d["remaining_size"])
        return (fam == "positions" and p.get("market") == d["market"]
                and int(p.get("last_updated_at") or 0) >= int(d["created_at"]))
    if kind == "positions":  # the market's later position, or a fill in a later millisecond
        if fam == "positions":
            return p.get("market") == d["market"] and int(p["seq_no"]) > int(d["seq_no"])
        return (fam == "fills" and p.get("market") == d["market"]
                and int(p["created_at"]) > int(d.get("last_updated_at") or 0))
    if kind == "account":
        return fam == "account" and int(p["seq_no"]) > int(d["seq_no"])
    return fam == "balance_events" and (
        _dec(p["settlement_asset_balance_before"]) == _dec(d["settlement_asset_balance_after"])
        or int(p["created_at"]) > int(d["created_at"]))


def judge(drops: list[Drop], seen: Observed) -> None:
    """Repair and reveal times of every drop, from the recorded changes and pushes."""
    for x in drops:
        ent = entity_of(x.kind, x.data)
        final = balance_final(seen, drops, int(x.data["created_at"])) if x.kind == "balance_events" else None
        state: dict[str, Any] | None = None
        checked = False
        for at, kind, key, value in seen.changes:
            if (kind, key) != ent:
                continue
            if at >= x.at_ms and not checked:  # what the state held when the push was dropped
                checked = True
                if covers(x.kind, x.data, state, final):
                    x.repaired_ms = float(x.at_ms)
                    break
            state = value
            if at >= x.at_ms and covers(x.kind, x.data, state, final):
                x.repaired_ms = at
                break
        if x.repaired_ms is None and not checked and covers(x.kind, x.data, state, final):
            x.repaired_ms = float(x.at_ms)
        limit = x.repaired_ms if x.repaired_ms is not None else float("inf")
        for at, channel, p in seen.pushes:
            if at > limit:
                break
            if at >= x.at_ms - 50 and related(x.kind, x.data, channel, p):
                x.revealed_ms = at
                break


def split(drops: list[Drop]) -> tuple[list[float], list[float]]:
    """(revealed repair times from their reveal, lone repair times from the drop), in ms."""
    revealed, lone = [], []
    for x in drops:
        if x.repaired_ms is None:
            continue
        if x.revealed_ms is not None:
            revealed.append(x.repaired_ms - x.revealed_ms)
        else:
            lone.append(x.repaired_ms - x.at_ms)
    return revealed, lone


# ---------------------------------------------------------------------------------------- main

async def run(tmp: Path) -> Run:
    ns, rs = NatsServer(tmp / "nats").start(), RedisServer(tmp / "redis").start()
    try:
        async with process_system(ns.url, rs.url, tmp / "sys", test_speed=False) as ps:
            return await measure(ps, random.Random(12))
    finally:
        ns.stop()
        rs.stop()


@dataclass
class Run:
    """Everything one measurement recorded."""

    drops: list[Drop]
    seen: Observed
    reconciler: dict[str, Any]
    health: dict[str, Any]
    actions: int
    busy_s: float
    total_s: float
    dropped_all: int


async def measure(ps: ProcSystem, rng: random.Random) -> Run:
    seen = Observed()
    ready = [asyncio.Event(), asyncio.Event()]
    tasks = [asyncio.create_task(observe_pushes(ps, seen, ready[0])),
             asyncio.create_task(observe_state(ps, seen, ready[1]))]
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in ready)), 30)
    await asyncio.sleep(0.5)
    t0 = time.monotonic()
    stop = asyncio.Event()
    traders = [asyncio.create_task(traffic(ps, stop, random.Random(rng.random()), w))
               for w in range(WORKERS)]
    drops, dropped_all = await dropper(ps)
    stop.set()
    actions = sum(await asyncio.gather(*traders))
    busy_s = time.monotonic() - t0
    await asyncio.sleep(FAST_INTERVAL_S + 5)  # quiet: the fast check repairs what nothing revealed
    async with httpx.AsyncClient(timeout=10) as c:
        rec = (await c.get(f"{ps.procs['reconciler'].url}/healthz")).json()
        health = (await c.get(f"{ps.state_url}/v1/health")).json()["value"]
    for t in tasks:
        t.cancel()
    return Run(drops, seen, rec, health, actions, busy_s, time.monotonic() - t0, dropped_all)


def summarize(r: Run, keep: str) -> dict[str, Any]:
    """Per-kind lines, the request budget, the slowest repairs; the final figures."""
    drops, seen = r.drops, r.seen
    judge(drops, seen)
    checks = r.health.get("checks") or {}
    state_unresolved = (len(checks.get("in_flight_unresolved", []))
                        + len(checks.get("missed_push_unresolved", [])))
    counted = [x for x in drops if x.counted]
    revealed, lone = split(counted)
    never = [x for x in drops if x.repaired_ms is None]
    for k in KINDS:
        ks = [x for x in counted if x.kind == k]
        rv, ln = split(ks)
        print(f"{k:15s} dropped {len(ks):4d}  revealed {len(rv):4d} p50 {pct(rv, .5):6.0f} "
              f"p99 {pct(rv, .99):6.0f} max {max(rv, default=0):6.0f} ms   lone {len(ln):4d} "
              f"p50 {pct(ln, .5):6.0f} max {max(ln, default=0):6.0f} ms   "
              f"never {sum(x.repaired_ms is None for x in ks)}")
    for x in never[:10]:
        print(f"  never repaired: {x.kind} at {x.at_ms} {json.dumps(x.data)[:160]}", file=sys.stderr)
    done = [x for x in drops if x.repaired_ms is not None]
    for x in sorted(done, key=lambda x: (x.repaired_ms or 0) - (x.revealed_ms or x.at_ms))[-8:]:
        key = entity_of(x.kind, x.data)[1]
        reveal = (x.revealed_ms or x.at_ms) - x.at_ms
        print(f"  slowest: {x.kind} {key} {x.data.get('status', '')} dropped {x.at_ms} revealed "
              f"+{reveal:.0f} repaired +{(x.repaired_ms or 0) - x.at_ms:.0f} ms", file=sys.stderr)
    if keep:
        Path(keep, "drops.json").write_text(json.dumps([x.__dict__ for x in drops]))
        Path(keep, "pushes.json").write_text(json.dumps(seen.pushes))
    gets = r.reconciler.get("venue_requests", {})
    per_min = {p: round(n * 60 / r.total_s, 1) for p, n in sorted(gets.items())}
    print(f"traffic: {r.actions} actions in {r.busy_s:.0f} s; {len(seen.pushes)} private pushes "
          f"delivered, {r.dropped_all} dropped ({len(never)} never repaired)")
    print(f"reconciler venue GETs per minute over {r.total_s:.0f} s (budget: bucket 480/min, venue "
          f"600/min): {per_min} total {round(sum(per_min.values()), 1)}")
    counters = r.health["core"]["counters"]
    print("state detections: " + ", ".join(f"{k}={v}" for k, v in sorted(counters.items())
                                             if k.startswith(("missed_push.", "repaired.", "gap_rebased."))))
    out = {
        "revealed_p50_ms": round(pct(revealed, .5)), "revealed_p99_ms": round(pct(revealed, .99)),
        "revealed_max_ms": round(max(revealed, default=0)), "revealed": len(revealed),
        "lone_p50_ms": round(pct(lone, .5)), "lone_p99_ms": round(pct(lone, .99)),
        "lone_max_ms": round(max(lone, default=0)), "lone": len(lone),
        "unresolved": len(never) + state_unresolved, "drops": len(counted),
        "venue_gets_per_min": round(sum(per_min.values()), 1),
    }
    for name, target in TARGETS.items():
        verdict = "meets" if out[name] <= target else "MISSES"
        print(f"{name} {out[name]} {verdict} the {target} ms target")
    return out


def main() -> None:
    keep = os.environ.get("BENCH_REPAIR_KEEP", "")  # a folder: keep the logs and drops there
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(run(Path(keep or tmp)))
        out = summarize(result, keep)
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
