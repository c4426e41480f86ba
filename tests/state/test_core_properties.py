"""Property tests of the state core against a simulated venue (see ``tests/state/venue_model.py``).

After every event: no order status goes back (except a local PENDING_CANCEL / PENDING_MODIFY
overlay clearing back to the venue's status), the venue status never goes back, a terminal order
never reopens, filled size and the venue's ``last_updated_at`` never decrease, fills are unique and
never un-busted, an order whose command was submitted is always visible (unless retention evicted
it, or the command was never sent), an evicted order never comes back. The shell's in-flight check
is played too: an order waiting for the venue longer than :data:`INFLIGHT_MS` is looked up, again
with backoff, a bounded number of times. At the end (venue quiet, two complete snapshots, lookups
answered) the state equals the venue's truth, for every entity not past the (small) retention
horizon, and no order is left in flight. Books: after a gap never valid until a new ``s``.
"""

from __future__ import annotations

import heapq
import random
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.state.core import (
    PENDING_CANCEL,
    PENDING_MODIFY,
    REJECTED,
    STATUS_RANK,
    TERMINAL,
    VENUE_RANK,
    StateConfig,
    StateCore,
)
from shared.bus import CmdSubmitted
from tests.state.builders import MS, book_ev, lvl
from tests.state.venue_model import MARKETS, Noise, Venue

G = 5000
RET = 6000  # retention of orders and fills: small, so generated histories evict
CONFIG = StateConfig(grace_ms=G, retention_ms=RET, fill_retention_ms=RET)
INFLIGHT_MS = 2000
INFLIGHT_BACKOFF_MS = (0, 500, 1000, 2000, 4000)  # the shell's defaults: 5 attempts
OVERLAYS = (PENDING_CANCEL, PENDING_MODIFY)
PROFILE = settings(max_examples=200, deadline=None, derandomize=True,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

OPS = st.one_of(
    st.tuples(st.just("place"),
              st.sampled_from(["accept", "accept", "accept", "venue_reject", "reject",
                               "unknown_created", "unknown_lost", "not_sent"]),
              st.sampled_from(["BUY", "SELL"]), st.integers(1, 3), st.sampled_from(MARKETS)),
    st.tuples(st.just("fill"), st.integers(0, 20), st.integers(1, 3)),
    st.tuples(st.just("fill"), st.integers(0, 20), st.integers(1, 3)),
    st.tuples(st.just("cancel"), st.integers(0, 20), st.booleans(),
              st.sampled_from(["ok", "ok", "refused", "unknown_done", "unknown_lost"])),
    st.tuples(st.just("modify"), st.integers(0, 20),
              st.sampled_from(["ok", "refused", "unknown_done", "unknown_lost"])),
    st.tuples(st.just("bust"), st.integers(0, 20)),
    st.tuples(st.just("wait"), st.integers(1, 8000)),
    st.tuples(st.just("snapshot"), st.integers(0, G), st.sampled_from([True, True, False])),
    st.tuples(st.just("disconnect"), st.integers(10, 8000)),
)
NOISE = st.builds(Noise, drop=st.sampled_from([0.0, 0.1, 0.3, 0.6]),
                  dup=st.sampled_from([0.0, 0.1, 0.3]), max_latency=st.sampled_from([1, 30, 200]))


class Tracker:
    """Per client id: the last rank, filled size, venue time and terminal flag seen."""

    def __init__(self) -> None:
        self.last: dict[str, tuple[int, Decimal, int, bool, str, int]] = {}
        self.busted: set[str] = set()
        self.submitted: set[str] = set()
        self.key_of: dict[str, str] = {}
        self.deleted: set[str] = set()  # order keys deleted (evicted, or relinked client:<cid>)
        self.status_of: dict[str, str] = {}
        self.evicted_fills: set[str] = set()

    def changes(self, res: Any) -> None:
        for ch in res.changes:
            if ch.kind == "fill" and ch.value is None:
                self.evicted_fills.add(ch.key)
            if ch.kind != "order":
                continue
            if ch.value is None:
                self.deleted.add(ch.key)
                # an id key is deleted only by eviction, which takes terminal orders only
                assert ch.key.startswith("client:") or self.status_of[ch.key] in TERMINAL, ch.key
            else:
                assert ch.key not in self.deleted, f"order {ch.key} came back after it was deleted"
                self.status_of[ch.key] = ch.value.status

    def check(self, core: StateCore) -> None:
        for st_ in core.orders.orders.values():
            cid = st_.client_id
            rank = STATUS_RANK[st_.status]
            terminal = st_.status in TERMINAL
            venue_rank = VENUE_RANK.get(st_.venue_status, 0)
            prev = self.last.get(cid)
            if prev is not None:
                p_rank, p_filled, p_lua, p_term, p_status, p_venue = prev
                cleared = p_status in OVERLAYS and st_.local not in OVERLAYS
                assert rank >= p_rank or cleared, f"{cid}: status went back to {st_.status}"
                assert venue_rank >= p_venue, f"{cid}: venue status went back to {st_.venue_status}"
                assert terminal or not p_term, f"{cid}: terminal order reopened as {st_.status}"
                assert st_.filled >= p_filled, f"{cid}: filled went back"
                assert st_.last_updated_at >= p_lua, f"{cid}: last_updated_at went back"
            self.last[cid] = (rank, st_.filled, st_.last_updated_at, terminal, st_.status, venue_rank)
            self.key_of[cid] = st_.key
        fills = core.entities.fills
        assert all(k == f.fill.id for k, f in fills.items())
        now_busted = {k for k, f in fills.items() if f.busted}
        assert self.busted - self.evicted_fills <= now_busted, "a fill was un-busted"
        self.busted = now_busted
        for cid in self.submitted:
            if core.get_order(client_id=cid).value is None:
                assert self.key_of[cid] in self.deleted, f"{cid} vanished (double execution)"


def play(script: list[tuple[Any, ...]], noise: Noise,
         seed: int) -> tuple[StateCore, Venue, list[Any], set[str]]:
    """Run the script on the venue, fold what the sources saw (answering lookups); also return the
    ACCOUNT stream exactly as applied."""
    rng = random.Random(seed)
    venue = Venue(rng, noise, G)
    for op in script:
        getattr(venue, op[0])(*op[1:])
    # the venue goes quiet; the feed is back; two complete snapshots from a cache at most G old
    end = max([venue.t, *(b for _, b in venue.windows)])
    venue.wait(end - venue.t + G + 1000)
    venue.snapshot(rng.randint(0, G))
    venue.wait(G + 1000)
    venue.snapshot(rng.randint(0, G))
    venue.wait(G + 1000)

    core = StateCore(CONFIG)
    tracker = Tracker()
    heap = list(venue.items)
    heapq.heapify(heap)
    n = len(heap)
    seq = 0
    applied: list[Any] = []
    checks: dict[str, tuple[int, int]] = {}  # the in-flight shell: key -> (since_ns, attempts)
    while heap:
        recv, _, item = heapq.heappop(heap)
        for key, since in sorted(core.orders.inflight.items()):
            tried = checks.get(key)
            attempts = tried[1] if tried is not None and tried[0] == since else 0
            if (attempts < len(INFLIGHT_BACKOFF_MS) and recv * MS - since
                    >= (INFLIGHT_MS + sum(INFLIGHT_BACKOFF_MS[:attempts + 1])) * MS):
                checks[key] = (since, attempts + 1)
                entry = core.orders.orders[key]
                n += 1
                at = recv + rng.randint(5, 300)
                heapq.heappush(heap, (at, n, lambda o=entry.id, c=entry.client_id, t=at:
                                      venue.lookup(t, o, c)))
        ev = item() if callable(item) else item
        applied.append(ev)
        seq += 1
        res = core.apply(seq, ev)
        if isinstance(ev, CmdSubmitted):
            tracker.submitted.add(ev.client_id)
        tracker.changes(res)
        tracker.check(core)
        for action in res.actions:
            if action.kind == "lookup":
                n += 1
                at = recv + rng.randint(5, 3000)  # lookups take time: snapshots may overtake them
                heapq.heappush(heap, (at, n, lambda a=action, t=at: venue.lookup(t, a.order_id, a.client_id)))
    return core, venue, applied, tracker.deleted


def assert_matches_truth(core: StateCore, venue: Venue, deleted: set[str]) -> None:
    """State == truth for every entity the retention may not have evicted yet (a terminal order or
    a fill past the horizon by the stream's venue clock may be gone; when held, it is still exact)."""
    truth = venue.now
    now = core.retention.now
    for oid, o in truth.orders.items():
        st_ = core.get_order(oid).value
        if st_ is None and o.status == "CLOSED" and o.last_updated_at + RET <= now:
            continue  # evicted (or never created: already past the horizon when it arrived)
        assert st_ is not None, f"order {oid} missing"
        assert (st_.status, st_.venue_status) == (o.status, o.status), oid
        assert st_.remaining_size == o.remaining_size, oid
        assert st_.price == o.price, oid
    for cid, fate in venue.cmd_only.items():
        st_ = core.get_order(client_id=cid).value
        assert st_ is not None or f"client:{cid}" in deleted, cid
        assert st_ is None or (st_.status == REJECTED and fate != "not_sent"), cid
    assert not core.orders.inflight, core.orders.inflight
    expected_keys = set(truth.orders) | {f"client:{c}" for c in venue.cmd_only}
    assert set(core.orders.orders) <= expected_keys
    for gone in expected_keys - set(core.orders.orders):
        t = truth.orders.get(gone)
        assert (t.status == "CLOSED" and t.last_updated_at + RET <= now) if t else gone in deleted, gone
    for m in MARKETS:
        held = core.entities.positions.get(m)
        true_pos = truth.positions.get(m)
        assert (held.position.size if held else 0) == (true_pos.size if true_pos else 0), m
    assert core.entities.balances["USDC"].size == truth.balance
    fills = core.entities.fills
    retained = {k for k, f in truth.fills.items() if f.created_at + RET > now}
    assert retained <= set(fills) <= set(truth.fills)
    assert {k for k, f in fills.items() if f.busted} == truth.busted & set(fills)


@PROFILE
@given(script=st.lists(OPS, min_size=15, max_size=50), noise=NOISE, seed=st.integers(0, 2**32))
def test_fold_never_regresses_and_converges_to_venue_truth(
        script: list[tuple[Any, ...]], noise: Noise, seed: int) -> None:
    core, venue, _, deleted = play(script, noise, seed)
    assert_matches_truth(core, venue, deleted)


def test_generated_histories_do_evict() -> None:
    """The venue model's histories are long enough for the small retention to evict."""
    script: list[tuple[Any, ...]] = [
        ("place", "accept", "BUY", 2, MARKETS[0]), ("fill", 0, 2), ("wait", 8000),
        ("place", "reject", "SELL", 1, MARKETS[1]), ("place", "accept", "SELL", 1, MARKETS[1]),
        ("cancel", 2, False), ("wait", 8000)]
    core, venue, _, deleted = play(script, Noise(drop=0.0, dup=0.0, max_latency=1), 7)
    m = core.metrics()
    assert m["evicted_orders"] >= 2 and m["evicted_fills"] >= 1, m
    assert_matches_truth(core, venue, deleted)


@PROFILE
@given(script=st.lists(OPS, min_size=10, max_size=30), noise=NOISE, seed=st.integers(0, 2**32),
       cut=st.floats(0, 1))
def test_replay_and_checkpoint_resume_are_byte_identical(
        script: list[tuple[Any, ...]], noise: Noise, seed: int, cut: float) -> None:
    core, _, events, _ = play(script, noise, seed)
    # the stream as applied (lookup answers included), replayed into a fresh core
    a = StateCore(CONFIG)
    for i, ev in enumerate(events, 1):
        a.apply(i, ev)
    assert a.dump() == core.dump()
    # a checkpoint taken anywhere, loaded, then the rest of the stream: the same bytes
    k = int(len(events) * cut)
    c = StateCore(CONFIG)
    for i, ev in enumerate(events[:k], 1):
        c.apply(i, ev)
    c = StateCore.load(c.dump())
    for i, ev in enumerate(events[k:], k + 1):
        c.apply(i, ev)
    assert c.dump() == a.dump()


FRAME = st.tuples(
    st.sampled_from(["next", "next", "next", "next", "dup", "gap", "snap"]),
    st.lists(st.tuples(st.sampled_from(["BUY", "SELL"]), st.integers(1, 12), st.integers(0, 3)),
             max_size=4))


@PROFILE
@given(frames=st.lists(FRAME, max_size=60))
def test_book_after_gap_is_never_valid_until_snapshot_and_valid_books_match_reference(
        frames: list[tuple[str, list[tuple[str, int, int]]]]) -> None:
    core = StateCore()
    ref: dict[str, dict[int, int]] = {"BUY": {}, "SELL": {}}
    seq = 0
    gapped = True  # no snapshot yet
    for i, (kind, levels) in enumerate(frames, 1):
        # bids live at 1..6 and asks at 7..12 in valid books, so crossing comes only from mistakes
        items = [lvl(s, str(p if s == "BUY" else p + 6), str(z)) for s, p, z in levels if p <= 6]
        if kind == "snap":
            seq += 5
            core.apply(i, book_ev(seq, "s", inserts=[x for x in items if x.size]))
            ref = {"BUY": {}, "SELL": {}}
            for x in items:
                if x.size:
                    ref[x.side][int(x.price)] = int(x.size)
            gapped = False
            continue
        if kind == "dup":
            core.apply(i, book_ev(seq, updates=items))
        else:
            seq += 1 if kind == "next" else 2
            core.apply(i, book_ev(seq, updates=items))
            if kind == "gap":
                gapped = True
            elif not gapped:
                for x in items:
                    if x.size:
                        ref[x.side][int(x.price)] = int(x.size)
                    else:
                        ref[x.side].pop(int(x.price), None)
        view = core.get_book("BTC-USD-PERP", depth=100).value
        if gapped:
            assert view is None or not view.valid
        else:
            assert view.valid
            assert {int(p): int(z) for p, z in view.bids} == ref["BUY"]
            assert {int(p): int(z) for p, z in view.asks} == ref["SELL"]
