"""Retention by count: past ``max_closed_orders`` / ``max_fills`` the oldest terminal orders and
fills leave (with deletion changes), open orders never do, an evicted entity never comes back,
tombstones stay bounded, and a fold with count eviction is still deterministic (replay and
checkpoint-resume give the same bytes)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from services.state.core import TERMINAL, StateConfig, StateCore
from shared.bus import CmdRejected, CmdSubmitted
from tests.state.builders import MS, T0, fill, fill_ev, order, order_ev
from tests.state.test_core_properties import NOISE, OPS, PROFILE, play

CAP = 3


def _cfg(**kw: Any) -> StateConfig:
    base: dict[str, Any] = {"retention_ms": 0, "fill_retention_ms": 0, "max_closed_orders": CAP,
                            "max_fills": CAP}
    return StateConfig(**{**base, **kw})


def _closed(i: int, lua: int) -> Any:
    return order_ev(order(str(i), client_id=f"c{i}", status="CLOSED", remaining="0", seq=2, lua=lua))


def test_oldest_closed_orders_and_fills_go_past_the_count_and_stay_gone() -> None:
    core = StateCore(_cfg())
    seq = 0

    def apply(ev: Any) -> Any:
        nonlocal seq
        seq += 1
        return core.apply(seq, ev)

    apply(order_ev(order("open", client_id="copen", lua=T0)))  # open: never evicted
    for i in range(CAP):
        apply(_closed(i, T0 + 100 - i))  # order 2 is the oldest by venue time
    assert len(core.orders.orders) == CAP + 1
    res = apply(_closed(9, T0 + 200))
    assert [(c.key, c.value) for c in res.changes if c.value is None] == [("2", None)]
    assert set(core.orders.orders) == {"open", "0", "1", "9"}
    assert core.metrics()["evicted_orders"] == 1
    # the evicted order's late REST record is suppressed (tombstone), an older unknown one too (floor)
    assert apply(order_ev(order("2", client_id="c2", status="CLOSED", remaining="0", seq=3, lua=T0 + 98),
                          "rest")).dropped == "evicted"
    assert apply(order_ev(order("77", client_id="c77", status="CLOSED", remaining="0", seq=1, lua=T0 + 50),
                          "rest")).dropped == "evicted"
    # a local REJECTED counts from its command's receive time
    apply(CmdSubmitted(source="cmd", client_id="r1", market="BTC-USD-PERP", side="BUY", type="LIMIT",
                       size="1", recv_ns=(T0 + 300) * MS))
    apply(CmdRejected(source="cmd", client_id="r1", code="X", recv_ns=(T0 + 300) * MS))
    assert core.get_order(client_id="r1").value is not None  # the newest terminal entry stays
    assert "1" not in core.orders.orders  # the oldest closed one went instead
    for i in range(CAP + 2):
        apply(fill_ev(fill(f"f{i}", "open", ts=T0 + i)))
    assert sorted(core.entities.fills) == ["f2", "f3", "f4"]
    assert apply(fill_ev(fill("f0", "open", ts=T0))).dropped == "evicted"
    assert apply(fill_ev(fill("fx", "open", ts=T0 + 1))).dropped == "evicted"  # older than the floor
    assert core.get_order("open").value is not None


@PROFILE
@given(script=st.lists(OPS, min_size=15, max_size=50), noise=NOISE, seed=st.integers(0, 2**32),
       cut=st.floats(0, 1), age=st.sampled_from([0, 6000]))
def test_count_eviction_bounds_the_tables_and_replays_byte_identically(
        script: list[tuple[Any, ...]], noise: Any, seed: int, cut: float, age: int) -> None:
    _, _, events, _ = play(script, noise, seed)
    cfg = _cfg(retention_ms=age, fill_retention_ms=age)
    a = StateCore(cfg)
    deleted: set[str] = set()
    for i, ev in enumerate(events, 1):
        tombs = set(a.retention.order_tombs)
        res = a.apply(i, ev)
        for ch in res.changes:
            if ch.kind == "order" and ch.value is None and not ch.key.startswith("client:"):
                deleted.add(ch.key)
        back = deleted & set(a.orders.orders)
        # only once its tombstone was capped away too (then venue evidence wins, see retention)
        assert not back & tombs, f"evicted orders {back & tombs} came back past their tombstone"
        terminal = sum(1 for s in a.orders.orders.values() if s.status in TERMINAL)
        assert terminal <= CAP + 2 and len(a.entities.fills) <= CAP + 2  # within a budget of the cap
        assert len(a.retention.order_tombs) <= 2 * CAP and len(a.retention.fill_tombs) <= 2 * CAP
    k = int(len(events) * cut)
    c = StateCore(cfg)
    for i, ev in enumerate(events[:k], 1):
        c.apply(i, ev)
    c = StateCore.load(c.dump())  # the limits come back with the checkpoint's config
    for i, ev in enumerate(events[k:], k + 1):
        c.apply(i, ev)
    assert c.dump() == a.dump()


def test_a_thousand_closed_orders_keep_the_table_and_the_queues_bounded() -> None:
    core = StateCore(_cfg(max_closed_orders=50, max_fills=50))
    seq = 0
    for i in range(1000):
        seq += 1
        core.apply(seq, order_ev(order(str(i), client_id=f"c{i}", lua=T0 + i)))
        seq += 1
        core.apply(seq, fill_ev(fill(f"f{i}", str(i), ts=T0 + i)))
        seq += 1
        core.apply(seq, _closed(i, T0 + i + 1))
    ret = core.retention
    assert len(core.orders.orders) == 50 and len(core.entities.fills) == 50
    assert len(ret.order_tombs) <= 100 and len(ret.fill_tombs) <= 100
    assert len(ret._order_q) + len(ret._fill_q) + len(ret._otomb_q) + len(ret._ftomb_q) < 5000
    assert sorted(core.orders.orders, key=int) == [str(i) for i in range(950, 1000)]
