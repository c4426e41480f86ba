"""Missed pushes found from the data: the balance chain, equal venue timestamps, fills against
orders and positions, the settle window that makes a suspect a detection (state core)."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.state.core import Action, Result, StateConfig, StateCore
from services.state.core.gaps import repair_actions
from shared.bus import (
    FeedStatus,
    LookupResult,
    SnapshotFinished,
    SnapshotPart,
    SnapshotStarted,
)
from shared.bus.events import SnapshotPartName
from tests.state.builders import (
    MS,
    T0,
    balance_change,
    balance_rec,
    fill,
    fill_ev,
    order,
    order_ev,
    position,
    position_ev,
)

SETTLE = 200


class Feeder:
    def __init__(self) -> None:
        self.core = StateCore(StateConfig(settle_ms=SETTLE))
        self.seq = 0
        self.results: list[Result] = []

    def __call__(self, *events: object) -> Result:
        res = Result(stream="account", seq=self.seq, changes=[], actions=[])
        for ev in events:
            self.seq += 1
            res = self.core.apply(self.seq, ev)  # type: ignore[arg-type]
            self.results.append(res)
        return res

    def tick(self, at_ms: int) -> Result:
        """Any later event: the stream's recv clock moves to ``at_ms``."""
        return self(FeedStatus(source="ws", state="subscribed", epoch=1, recv_ns=at_ms * MS))

    def snapshot(self, sid: str, at_ms: int, *records: object, parts: tuple[SnapshotPartName, ...],
                 since_ms: int = 0) -> None:
        self(SnapshotStarted(source="rest", snapshot_id=sid, recv_ns=at_ms * MS, parts=parts,
                             since_ms=since_ms))
        self(*records)
        for part in parts:
            self(SnapshotPart(source="rest", snapshot_id=sid, part=part, complete=True,
                              recv_ns=at_ms * MS))
        self(SnapshotFinished(source="rest", snapshot_id=sid, complete=True))

    def usdc(self) -> Decimal:
        return self.core.entities.balances["USDC"].size

    def count(self, name: str) -> int:
        return self.core.counters.get(name)

    def suspects(self) -> list[tuple[str, str, bool]]:
        return [(s.kind, s.key, s.detected) for s in self.core.gaps.suspects.values()]


def chain(*values: str, ts: int = T0 + 100, recv_ms: int = T0 + 100) -> list[Any]:
    """balance_events pushes from values[0] through values[-1], all in one venue millisecond (no
    fill ids: these tests are about the chain, not about the fills behind it)."""
    return [balance_change(a, b, ts=ts, recv_ms=recv_ms) for a, b in pairwise(values)]


def sizes(f: Feeder) -> list[Decimal]:
    return [ch.value.size for r in f.results for ch in r.changes if ch.kind == "balance"]


# ----------------------------------------------------------------------------- balance chain

def test_reordered_pushes_of_one_sweep_apply_in_chain_order() -> None:
    f = Feeder()
    f(balance_rec("100", ts=T0))
    e1, e2, e3 = chain("100", "99", "97", "94")
    f(e3, e1, e2)
    assert f.usdc() == Decimal("94")
    assert sizes(f) == [Decimal(v) for v in ("100", "99", "97", "94")]  # never a value out of order
    assert f.count("missed_push.balance_chain") == 0 and not f.suspects()


def test_lost_push_revealed_by_the_next_is_released_once_the_stream_passes_the_settle_window() -> None:
    f = Feeder()
    f(balance_rec("100", ts=T0))
    e1, _lost, e3 = chain("100", "99", "97", "94")
    f(e1, e3)
    assert f.usdc() == Decimal("99") and f.suspects() == [("balance_chain", "USDC", False)]
    f.tick(T0 + 100 + SETTLE - 1)
    assert f.usdc() == Decimal("99")  # still inside the window: its predecessor may come
    f.tick(T0 + 100 + SETTLE)
    assert f.usdc() == Decimal("94")
    assert f.count("missed_push.balance_chain") == 1 and f.count("balance_chain_gap") == 1
    assert not f.suspects()
    # the lost push arriving after all is late: dropped, the balance stays
    f(_lost)
    assert f.usdc() == Decimal("94") and f.count("stale_ws_balance") == 1


def test_duplicate_and_older_pushes_are_dropped() -> None:
    f = Feeder()
    e1, e2 = chain("100", "99", "97")
    f(e1, e2, e2, e1)
    assert f.usdc() == Decimal("97") and f.count("duplicate_ws_balance") == 2
    f(balance_change("150", "149", ts=T0 + 50))  # an older millisecond
    assert f.usdc() == Decimal("97") and f.count("stale_ws_balance") == 1


def test_rest_newer_record_covers_held_pushes() -> None:
    f = Feeder()
    f(balance_rec("100", ts=T0))
    held = balance_change("90", "80", ts=T0 + 10)
    f(held)
    assert f.usdc() == Decimal("100")
    f.snapshot("s1", T0 + 20, balance_rec("80", ts=T0 + 10, snapshot_id="s1"), parts=("balances",))
    assert f.usdc() == Decimal("80") and not f.core.entities.book.chains["USDC"].held
    assert not f.suspects()


def test_equal_timestamp_rest_record_after_the_marker_repairs_a_lost_last_push() -> None:
    """The USDC 99678.19 vs 99674.57 case: the sweep's last push never arrived."""
    f = Feeder()
    f(balance_rec("99690.00", ts=T0))
    f(*chain("99690.00", "99683.20", "99678.19", ts=T0 + 100))  # the push to 99674.57 is lost
    assert f.usdc() == Decimal("99678.19")
    before = f.count("corrections")
    f.snapshot("s1", T0 + 200, balance_rec("99674.57", ts=T0 + 100, snapshot_id="s1"),
               parts=("balances",))
    assert f.usdc() == Decimal("99674.57")
    assert f.count("equal_ts_repaired") == 1 and f.count("corrections") == before + 1


def test_equal_timestamp_rest_record_of_a_point_our_chain_passed_is_a_stale_cache() -> None:
    f = Feeder()
    f(balance_rec("100", ts=T0))
    f(*chain("100", "99", "97"))
    f.snapshot("s1", T0 + 200, balance_rec("99", ts=T0 + 100, snapshot_id="s1"), parts=("balances",))
    assert f.usdc() == Decimal("97") and f.count("equal_ts_repaired") == 0


def test_equal_timestamp_rest_record_with_a_ws_push_after_the_marker_is_stale() -> None:
    f = Feeder()
    f(balance_rec("100", ts=T0))
    f(SnapshotStarted(source="rest", snapshot_id="s1", recv_ns=(T0 + 150) * MS, parts=("balances",)))
    f(*chain("100", "99", "97"))  # pushes after the marker
    f(balance_rec("90", ts=T0 + 100, snapshot_id="s1"))
    assert f.usdc() == Decimal("97")


def test_held_pushes_survive_a_checkpoint_and_release_identically() -> None:
    f = Feeder()
    f(balance_rec("100", ts=T0))
    _, e2 = chain("100", "99", "97")
    f(e2)
    restored = StateCore.load(f.core.dump())
    assert restored.dump() == f.core.dump()
    tick = FeedStatus(source="ws", state="subscribed", epoch=1, recv_ns=(T0 + 400) * MS)
    restored.apply(f.seq + 1, tick)
    f(tick)
    assert restored.dump() == f.core.dump() and f.usdc() == Decimal("97")


# ------------------------------------------------------------------------------ orders, fills

def open_order(f: Feeder, oid: str = "1") -> None:
    f(order_ev(order(oid, client_id=f"c{oid}", status="NEW", seq=1)),
      order_ev(order(oid, client_id=f"c{oid}", seq=2, lua=T0 + 1)))


def test_order_filled_ahead_of_its_fills_is_a_missing_fill_after_the_settle_window() -> None:
    f = Feeder()
    open_order(f)
    f(order_ev(order("1", client_id="c1", remaining="0.5", seq=3, lua=T0 + 10), recv_ms=T0 + 10))
    assert f.suspects() == [("fill_missing", "1", False)]
    res = f.tick(T0 + 10 + SETTLE)
    assert f.count("missed_push.fill_missing") == 1 and res.actions == []
    actions = repair_actions(list(f.core.gaps.suspects.values()))
    assert actions == [Action(kind="reconcile", reason="missed_push", parts=("fills",), since_ms=T0 + 1)]
    f.snapshot("s1", T0 + 300, fill_ev(fill("f1", "1", size="0.5", ts=T0 + 10), "rest"),
               parts=("fills",), since_ms=T0 + 1)
    assert not f.suspects() and f.count("repaired.fill_missing") == 1


def test_fill_and_order_pushes_in_either_order_within_the_window_are_no_detection() -> None:
    f = Feeder()
    open_order(f)
    f(fill_ev(fill("f1", "1", ts=T0 + 10)))
    assert f.suspects() == [("order_behind", "1", False)]
    f(order_ev(order("1", client_id="c1", remaining="0.5", seq=3, lua=T0 + 10), recv_ms=T0 + 12))
    f.tick(T0 + 1000)
    assert not f.suspects()
    assert not any(k.startswith("missed_push") for k in f.core.metrics())


def test_fill_for_an_order_whose_record_does_not_show_it_asks_for_a_lookup() -> None:
    f = Feeder()
    open_order(f)
    f(fill_ev(fill("f1", "1", ts=T0 + 10)))
    f.tick(T0 + 10 + SETTLE)
    assert f.suspects() == [("order_behind", "1", True)]
    assert repair_actions(list(f.core.gaps.suspects.values())) == [
        Action(kind="lookup", reason="missed_push:order_behind", order_id="1")]
    f(LookupResult(source="rest", order_id="1", found=True, recv_ns=(T0 + 300) * MS,
                   order=order("1", client_id="c1", remaining="0.5", seq=99, lua=T0 + 10)))
    st = f.core.get_order("1").value
    assert st.filled == Decimal("0.5") and not f.suspects()


def test_fill_for_an_unknown_order_asks_for_a_lookup() -> None:
    f = Feeder()
    f(fill_ev(fill("f1", "42", ts=T0 + 10)))
    f.tick(T0 + 10 + SETTLE)
    assert f.suspects() == [("order_unknown", "42", True)]
    f(LookupResult(source="rest", order_id="42", found=True, recv_ns=(T0 + 300) * MS,
                   order=order("42", client_id="x", remaining="0.5", seq=1, lua=T0 + 10)))
    assert not f.suspects()


def test_order_first_seen_in_a_snapshot_is_explained_by_its_past() -> None:
    """A long-lived order filled before our history: no suspect, and later fills of it count."""
    f = Feeder()
    f.snapshot("s1", T0 + 100, order_ev(order("1", remaining="0.4", seq=5, lua=T0 + 50), "rest"),
               fill_ev(fill("f0", "1", size="0.2", ts=T0 + 40), "rest"), parts=("open_orders",))
    assert not f.suspects()
    f(fill_ev(fill("f1", "1", size="0.1", ts=T0 + 200)),
      order_ev(order("1", remaining="0.3", seq=6, lua=T0 + 200)))
    assert not f.suspects()
    f(order_ev(order("1", remaining="0.1", seq=7, lua=T0 + 300)))  # a fill of 0.2 never came
    assert f.suspects() == [("fill_missing", "1", False)]


def test_a_targeted_answer_that_does_not_explain_rebases_instead_of_asking_forever() -> None:
    f = Feeder()
    open_order(f)
    f(order_ev(order("1", client_id="c1", remaining="0.5", seq=3, lua=T0 + 10)))
    f.tick(T0 + 10 + SETTLE)
    f.snapshot("s1", T0 + 300, parts=("fills",), since_ms=T0)  # the venue has no such fill
    assert not f.suspects() and f.count("gap_rebased.fill_missing") == 1
    f(fill_ev(fill("f2", "1", size="0.1", ts=T0 + 400)),
      order_ev(order("1", client_id="c1", remaining="0.4", seq=4, lua=T0 + 400)))
    assert not f.suspects()


def test_an_answer_fetched_from_later_than_the_gap_does_not_rebase() -> None:
    f = Feeder()
    open_order(f)
    f(order_ev(order("1", client_id="c1", remaining="0.5", seq=3, lua=T0 + 10)))
    f.snapshot("s1", T0 + 300, parts=("fills",), since_ms=T0 + 5)  # from after ok_ts (T0 + 1)
    assert f.suspects() == [("fill_missing", "1", True)]


# ---------------------------------------------------------------------------------- positions

def test_position_push_lost_after_a_fill_is_found_and_repaired_by_a_targeted_snapshot() -> None:
    f = Feeder()
    open_order(f)
    f(position_ev(position(size="0", ts=T0, seq=1)))
    f(fill_ev(fill("f1", "1", size="0.5", ts=T0 + 10)),
      order_ev(order("1", client_id="c1", remaining="0.5", seq=3, lua=T0 + 10)))
    assert f.suspects() == [("position_fills", "BTC-USD-PERP", False)]
    f.tick(T0 + 10 + SETTLE)
    assert repair_actions(list(f.core.gaps.suspects.values())) == [
        Action(kind="reconcile", reason="missed_push", parts=("fills", "positions"), since_ms=T0)]
    f.snapshot("s1", T0 + 300, position_ev(position(size="0.5", ts=T0 + 10, seq=9), "rest"),
               fill_ev(fill("f1", "1", size="0.5", ts=T0 + 10), "rest"), parts=("positions", "fills"))
    assert not f.suspects() and f.count("repaired.position_fills") == 1


def test_position_change_the_fills_do_not_explain_is_a_missing_fill() -> None:
    f = Feeder()
    f(position_ev(position(size="1", ts=T0, seq=1)))
    f(position_ev(position(size="1.5", ts=T0 + 10, seq=2), recv_ms=T0 + 10))
    assert f.suspects() == [("position_fills", "BTC-USD-PERP", False)]
    f(fill_ev(fill("f1", "9", size="0.5", ts=T0 + 10), recv_ms=T0 + 11))
    assert ("position_fills", "BTC-USD-PERP", False) not in f.suspects()


def test_a_rest_correction_the_fills_do_not_explain_asks_for_the_fills() -> None:
    """A whole venue step lost (fill, order, position pushes): the fast check's position record
    corrects the position; the fills must be fetched too."""
    f = Feeder()
    f(position_ev(position(size="1", ts=T0, seq=1)))
    f.snapshot("fast", T0 + 5000, position_ev(position(size="1.5", ts=T0 + 10, seq=9), "rest",
                                              snapshot_id="fast"), parts=("positions",))
    assert [k for k, _, _ in f.suspects()] == ["position_fills"]
    assert repair_actions(list(f.core.gaps.suspects.values()))[0].parts == ("fills", "positions")


def test_a_busted_fill_is_taken_out_of_the_position_check() -> None:
    from shared.bus import TradebustEvent
    from shared.paradex.models.account import Tradebust

    f = Feeder()
    f(position_ev(position(size="0", ts=T0, seq=1)), fill_ev(fill("f1", "9", size="0.5", ts=T0 + 5)),
      position_ev(position(size="0.5", ts=T0 + 5, seq=2)))
    f(TradebustEvent(source="ws", recv_ns=(T0 + 20) * MS, tradebust=Tradebust(
        account="0xabc", busted_fill_id="f1", created_at=T0 + 20)),
      position_ev(position(size="0", ts=T0 + 20, seq=3), recv_ms=T0 + 20))
    assert ("position_fills", "BTC-USD-PERP", False) not in f.suspects()


# ------------------------------------------------------------------------- chain properties

CHAIN = st.lists(st.tuples(st.integers(1, 50), st.integers(0, 2)), min_size=1, max_size=12)
"""Per push: the amount it takes off the balance (distinct values), and the ms step (often 0)."""


def venue_chain(steps: list[tuple[int, int]]) -> list[Any]:
    value, ts, out = 10_000, T0 + 100, []
    for amount, dt in steps:
        ts += dt
        out.append(balance_change(str(value), str(value - amount), ts=ts, recv_ms=T0 + 100))
        value -= amount
    return out


@settings(max_examples=300, deadline=None, derandomize=True)
@given(steps=CHAIN, order=st.randoms(use_true_random=False), dups=st.lists(st.integers(0, 11)))
def test_chain_reordered_and_duplicated_within_the_window_applies_every_push_in_order(
        steps: list[tuple[int, int]], order: Any, dups: list[int]) -> None:
    pushes = venue_chain(steps)
    arrivals = pushes + [pushes[i % len(pushes)] for i in dups]
    order.shuffle(arrivals)
    f = Feeder()
    f(balance_rec("10000", ts=T0))
    f(*arrivals)
    values = [Decimal(10_000)] + [p.change.settlement_asset_balance_after for p in pushes]
    shown = sizes(f)
    assert shown == values  # every push once, in chain order, whatever the arrival order
    f.tick(T0 + 100 + SETTLE)
    assert not f.suspects() and not any(k.startswith("missed_push") for k in f.core.metrics())


@settings(max_examples=300, deadline=None, derandomize=True)
@given(steps=CHAIN, order=st.randoms(use_true_random=False), drops=st.sets(st.integers(0, 11)),
       cut=st.integers(0, 30))
def test_chain_with_lost_pushes_never_shows_a_foreign_value_and_converges_with_rest(
        steps: list[tuple[int, int]], order: Any, drops: set[int], cut: int) -> None:
    pushes = venue_chain(steps)
    arrivals = [p for i, p in enumerate(pushes) if i not in drops]
    order.shuffle(arrivals)
    values = {Decimal(10_000)} | {p.change.settlement_asset_balance_after for p in pushes}
    f = Feeder()
    f(balance_rec("10000", ts=T0))
    for i, p in enumerate(arrivals):
        if i == cut:  # a checkpoint anywhere resumes identically
            restored = StateCore.load(f.core.dump())
            assert restored.dump() == f.core.dump()
        f(p)
    f.tick(T0 + 100 + SETTLE)
    assert set(sizes(f)) <= values
    held = f.core.entities.book.chains.get("USDC")
    assert held is None or not held.held
    last = pushes[-1].change
    f.snapshot("s1", T0 + 1000, balance_rec(str(last.settlement_asset_balance_after),
                                            ts=last.created_at, snapshot_id="s1"), parts=("balances",))
    assert f.usdc() == last.settlement_asset_balance_after
    assert not f.suspects()


def test_balance_push_naming_a_fill_we_never_received_asks_for_the_fills() -> None:
    """The whole step's order, fill and position pushes lost: the balance push still names the fill."""
    f = Feeder()
    f(balance_rec("100", ts=T0))
    f(balance_change("100", "99", ts=T0 + 10, fill_id="f9", recv_ms=T0 + 10))
    f.tick(T0 + 10 + SETTLE)
    assert f.suspects() == [("fill_unseen", "f9", True)]
    assert repair_actions(list(f.core.gaps.suspects.values())) == [
        Action(kind="reconcile", reason="missed_push", parts=("fills",), since_ms=T0 + 10)]
    f(fill_ev(fill("f9", "5", ts=T0 + 10), "rest", recv_ms=T0 + 400))
    assert not [s for s in f.suspects() if s[0] == "fill_unseen"]
    assert f.count("repaired.fill_unseen") == 1
    # a balance push whose fill arrived first raises nothing
    f(fill_ev(fill("f10", "5", ts=T0 + 20)), balance_change("99", "98", ts=T0 + 20, fill_id="f10"))
    assert not [s for s in f.suspects() if s[0] == "fill_unseen"]
