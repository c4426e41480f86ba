"""Helpers of the race suite: a strategy-like poller with its online checks, order traffic, the
canonical comparison of the state with the simulator's ground truth, and the staleness checks.

The fill-visibility allowance :data:`ALLOWANCE_MS` (250 ms) while the WebSocket is healthy: the
path venue push -> feed -> JetStream -> state (one outstanding pull) -> HTTP measures a few ms at
p99 on this machine (``python -m bench.e2e``); the poller's view can be one poll period (20 ms)
old; the rest covers event-loop scheduling of ~10 coroutine-heavy tasks on a 2-core CI machine.
Scenarios where the venue's pushes are lost on purpose (connection dropped, frozen) use
:data:`OUTAGE_ALLOWANCE_MS`: reconnect backoff (<= 0.3 s) + reconciliation (REST snapshot) +
the outage itself, bounded in those scenarios by the test's own timeline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from shared.client import STATUS_RANK, CommandsClient, ServiceError, StateClient, Unavailable
from tests.system.harness import M, System

log = logging.getLogger("tests.system.races")
ALLOWANCE_MS = 250
OUTAGE_ALLOWANCE_MS = 4000
MIN_SEQ_TIMEOUT_MS = 5000
LIVE = frozenset({"PENDING_NEW", "UNKNOWN", "NEW", "UNTRIGGERED", "OPEN", "PENDING_CANCEL",
                  "PENDING_MODIFY"})


@dataclass
class Obs:
    """One poll: when it was sent (wall s), the stream seq, and cid -> (status, filled)."""

    t_send: float
    seq: int
    orders: dict[str, tuple[str, Decimal]]


@dataclass
class Poller:
    """Polls ``/v1/orders`` every ``period_s`` like a strategy and checks, online, that no status
    goes back and every client id returned by the commands service is visible from then on.

    Read-your-writes, strictly: each commands call returns the ``seq`` of its intent event, and
    every later poll reads with ``min_seq`` = the highest such seq, so an order submitted through
    commands is NEVER missing from a later poll (no tolerance; a poll the state cannot serve within
    :data:`MIN_SEQ_TIMEOUT_MS` is a violation too). :attr:`seq_waits` counts the polls that named a
    sequence beyond what the previous poll had seen (the reads the old tolerance existed for).
    """

    state: StateClient
    period_s: float = 0.02
    submitted: dict[str, float] = field(default_factory=dict)
    observations: list[Obs] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    last_rank: dict[str, tuple[int, str]] = field(default_factory=dict)
    #: highest ``seq`` any commands call of this poller returned (read with it as ``min_seq``)
    min_seq: int = 0
    #: polls whose ``min_seq`` was above the sequence the previous poll reflected
    seq_waits: int = 0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        seen = 0
        while not self._stop.is_set():
            t_send = time.time()
            # captured together, with no await in between: every cid in ``known`` has seq <= min_seq
            known = dict(self.submitted)
            min_seq = self.min_seq
            try:
                snap = await self.state.orders(market=M, min_seq=min_seq or None,
                                               min_seq_timeout_ms=MIN_SEQ_TIMEOUT_MS)
            except Unavailable as exc:
                self.violations.append(f"poll with min_seq {min_seq} not served: {exc}")
                await asyncio.sleep(self.period_s)
                continue
            if min_seq > seen:
                self.seq_waits += 1
            seen = snap.seq
            if snap.seq < min_seq:
                self.violations.append(f"poll with min_seq {min_seq} answered as of seq {snap.seq}")
            orders: dict[str, tuple[str, Decimal]] = {}
            for o in snap.value:
                if o.client_id and (o.client_id not in orders
                                    or STATUS_RANK[o.status] > STATUS_RANK[orders[o.client_id][0]]):
                    orders[o.client_id] = (o.status, o.filled)
            self.observations.append(Obs(t_send, snap.seq, orders))
            for cid, (status, _) in orders.items():
                rank = STATUS_RANK[status]
                prev = self.last_rank.get(cid)
                if prev is not None and rank < prev[0]:
                    self.violations.append(f"{cid}: status went back {prev[1]} -> {status} (seq {snap.seq})")
                self.last_rank[cid] = (max(rank, prev[0]) if prev else rank,
                                       status if not prev or rank >= prev[0] else prev[1])
            for cid in sorted(c for c in known if c not in orders):
                lag_ms = (t_send - known[cid]) * 1000
                self.violations.append(f"in-flight order {cid} missing at seq {snap.seq} (min_seq "
                                       f"{min_seq}), {lag_ms:.1f} ms after the commands call returned")
            await asyncio.sleep(self.period_s)

    def stop(self) -> None:
        self._stop.set()

    async def place(self, cmd: CommandsClient, side: str, size: str, price: Decimal, cid: str,
                    wait: str = "ack", instruction: str = "GTC") -> str:
        """Place through commands; from its return on, every poll reads with (at least) the returned
        ``seq`` as ``min_seq`` and must show the order."""
        try:
            r = await cmd.place(M, side, Decimal(size), price, client_id=cid, wait=wait,  # type: ignore[arg-type]
                                instruction=instruction)
            status, seq = r.status, r.seq
        except ServiceError as exc:
            status, seq = f"error {exc.status} {exc.error}", exc.seq
            if exc.status != 400:  # refused by our own rules: nothing exists anywhere
                return status
        if not seq:
            self.violations.append(f"commands reply for {cid} ({status}) carries no seq")
        self.min_seq = max(self.min_seq, seq)
        self.submitted[cid] = time.time()
        return status

    def saw(self, seq: int) -> None:
        """A commands call outside :meth:`place` returned ``seq``: later polls read with it."""
        self.min_seq = max(self.min_seq, seq)


def check_fills_visible(poller: Poller, truth: dict[str, Any], allowance_ms: int,
                        windows: list[tuple[float, float]] = ()) -> list[str]:  # type: ignore[assignment]
    """Every fill the venue made must show in the state's ``filled`` within ``allowance_ms``
    (polls inside an outage ``windows`` (start, end wall s) get :data:`OUTAGE_ALLOWANCE_MS`)."""
    busted = set(truth["busted_fill_ids"])
    per_cid: dict[str, list[tuple[int, Decimal]]] = {}
    for f in sorted(truth["fills"], key=lambda f: f["created_at"]):
        if f["id"] in busted or not f.get("client_id"):
            continue
        lst = per_cid.setdefault(f["client_id"], [])
        lst.append((f["created_at"], (lst[-1][1] if lst else Decimal(0)) + Decimal(f["size"])))
    sizes = {o["client_id"]: Decimal(o["size"]) for o in truth["orders"]}
    out: list[str] = []
    for obs in poller.observations:
        t_ms = obs.t_send * 1000
        for cid, cum in per_cid.items():
            got = obs.orders.get(cid)
            if got is None:
                continue
            allow = OUTAGE_ALLOWANCE_MS if any(a * 1000 <= t_ms <= b * 1000 + OUTAGE_ALLOWANCE_MS
                                               for a, b in windows) else allowance_ms
            required = max((c for ts, c in cum if ts + allow < t_ms), default=Decimal(0))
            status, filled = got
            if filled < required:
                what = "filled order reported open" if required == sizes.get(cid) and status in LIVE \
                    else "fill not visible"
                out.append(f"{what}: {cid} at seq {obs.seq} shows {status} filled {filled} < {required} "
                           f"(fills published > {allow} ms before)")
    return out


def canonical_truth(truth: dict[str, Any]) -> dict[str, Any]:
    """The simulator's account state in the comparison's canonical form."""
    busted = set(truth["busted_fill_ids"])
    return {
        "orders": {o["id"]: (o["client_id"], o["status"], Decimal(o["size"]), Decimal(o["remaining_size"]),
                             Decimal(o["price"]) if o["price"] else Decimal(0))
                   for o in truth["orders"] if o["market"] == M},
        "fills": {f["id"]: (f["order_id"], Decimal(f["size"]), Decimal(f["price"]), f["id"] in busted)
                  for f in truth["fills"] if f["market"] == M},
        "positions": {p["market"]: (p["side"], Decimal(p["size"]), Decimal(p["average_entry_price"]))
                      for p in truth["positions"] if Decimal(p["size"]) != 0},
        "balances": {b["token"]: Decimal(b["size"]) for b in truth["balances"]},
    }


async def canonical_state(state: StateClient) -> dict[str, Any]:
    """The state service's view in the same canonical form (venue records only)."""
    orders = (await state.orders(market=M)).value
    fills = (await state.fills(market=M)).value
    positions = (await state.positions()).value
    balances = (await state.balances()).value
    return {
        "orders": {o.id: (o.client_id, o.venue_status or o.status, o.size, o.remaining_size, o.price)
                   for o in orders if o.id},
        "fills": {f.fill.id: (f.fill.order_id, f.fill.size, f.fill.price, f.busted) for f in fills},
        "positions": {p.market: (p.position.side, p.position.size, p.position.average_entry_price)
                      for p in positions if p.position.size != 0},
        "balances": {b.token: b.size for b in balances},
    }


def diff(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Human-readable differences between two canonical forms (state ``a``, truth ``b``)."""
    out = []
    for part in b:
        sa, sb = a.get(part, {}), b[part]
        for k in sorted(set(sa) | set(sb)):
            if sa.get(k) != sb.get(k):
                out.append(f"{part}[{k}]: state {sa.get(k)} != truth {sb.get(k)}")
    return out


async def converge(s: System, state: StateClient, within_s: float = 15.0) -> tuple[list[str], dict[str, Any]]:
    """Wait until the state equals the truth (venue quiet); the remaining differences and the truth."""
    deadline = time.monotonic() + within_s
    while True:
        truth = canonical_truth(await s.truth())
        d = diff(await canonical_state(state), truth)
        if not d or time.monotonic() > deadline:
            return d, truth
        await asyncio.sleep(0.2)


REPORTS: list[str] = []
"""Every scenario's summary line; tests/conftest.py prints them in pytest's terminal summary."""


def report(name: str, s: System, poller: Poller, differences: list[str], truth: dict[str, Any],
           extra: str = "") -> str:
    """One scenario's summary line (printed for ``pytest -s`` and logged)."""
    c = s.state_service.core.metrics()
    applied = sum(v for k, v in c.items() if k.startswith("events."))
    line = (f"[{name}] events applied {applied}, stale REST suppressed {c.get('stale_rest_suppressed', 0)}, "
            f"corrections {c.get('corrections', 0)}; polls {len(poller.observations)}, "
            f"polls with min_seq ahead of the last seen seq {poller.seq_waits}, in-flight orders "
            f"missing {sum(v.startswith('in-flight order') for v in poller.violations)} (strict, min_seq)"
            + f"; orders {len(truth['orders'])}, fills {len(truth['fills'])}; final comparison: "
            + ("state == truth" if not differences else f"{len(differences)} differences") + extra)
    print("\n" + line)
    log.info(line)
    REPORTS.append(line)
    return line
