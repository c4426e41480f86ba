"""Retention: terminal orders and fills older than the horizon (by the stream's venue clock) are
evicted with deletion changes; tombstones suppress later records of them; tombstones expire."""

from __future__ import annotations

from typing import Any

from services.state.core import CLOSED, REJECTED, Result, StateConfig, StateCore
from services.state.core.retention import BUDGET, TOMBSTONE_FACTOR
from shared.bus import CmdRejected, CmdSubmitted, TradebustEvent
from shared.paradex.models.account import Tradebust
from tests.state.builders import MS, T0, balance_rec, fill, fill_ev, order, order_ev

R = 60_000  # retention of the tests (ms)


class Fold:
    """A core with a small retention and an auto-incremented stream sequence."""

    def __init__(self, retention_ms: int = R, fill_retention_ms: int = R) -> None:
        self.core = StateCore(StateConfig(retention_ms=retention_ms, fill_retention_ms=fill_retention_ms))
        self.seq = 0

    def __call__(self, ev: Any) -> Result:
        self.seq += 1
        return self.core.apply(self.seq, ev)

    def tick(self, ts: int) -> Result:
        """Move the stream's venue clock to ``ts`` (a REST balance record carries it)."""
        return self(balance_rec("1", ts=ts))


def deletions(res: Result, kind: str) -> list[str]:
    return [c.key for c in res.changes if c.kind == kind and c.value is None]


def test_closed_order_and_fill_are_evicted_after_the_horizon_with_deletion_changes() -> None:
    f = Fold()
    f(order_ev(order("1", seq=1, lua=T0)))
    f(fill_ev(fill("f1", "1", ts=T0 + 10)))
    f(order_ev(order("1", status=CLOSED, remaining="0", seq=2, lua=T0 + 10)))
    assert deletions(f.tick(T0 + 10 + R - 1), "order") == []  # not yet older than the horizon
    res = f.tick(T0 + 10 + R)
    assert deletions(res, "order") == ["1"] and deletions(res, "fill") == ["f1"]
    core = f.core
    assert core.get_order("1").value is None and core.get_order(client_id="c1").value is None
    assert core.list_fills().value == [] and core.list_orders().value == []
    assert core.metrics()["evicted_orders"] == 1 and core.metrics()["evicted_fills"] == 1


def test_open_orders_and_pending_entries_are_never_evicted() -> None:
    f = Fold()
    f(order_ev(order("1", seq=1, lua=T0)))
    f(CmdSubmitted(source="cmd", client_id="p1", market="BTC-USD-PERP", side="BUY", type="LIMIT",
                   size="1", price="100"))
    res = f.tick(T0 + 100 * R)
    assert res.changes[-1].kind == "balance" and deletions(res, "order") == []
    assert f.core.get_order("1").value.status == "OPEN"
    assert f.core.get_order(client_id="p1").value.status == "PENDING_NEW"


def test_local_rejection_counts_from_when_it_became_terminal() -> None:
    f = Fold()
    f.tick(T0)
    f(CmdSubmitted(source="cmd", client_id="r1", market="BTC-USD-PERP", side="BUY", type="LIMIT",
                   size="1", price="100"))
    f(CmdRejected(source="cmd", client_id="r1", code="X", message="no"))
    assert deletions(f.tick(T0 + R - 1), "order") == []
    assert f.core.get_order(client_id="r1").value.status == REJECTED
    assert deletions(f.tick(T0 + R), "order") == ["client:r1"]
    assert f.core.orders.by_client == {}


def test_rejection_before_any_venue_time_is_not_evicted_at_the_first_one() -> None:
    f = Fold()
    f(CmdSubmitted(source="cmd", client_id="r1", market="BTC-USD-PERP", side="BUY", type="LIMIT",
                   size="1", price="100"))
    f(CmdRejected(source="cmd", client_id="r1", code="X", message="no"))
    f.tick(T0)
    assert f.core.get_order(client_id="r1").value is not None
    assert deletions(f.tick(T0 + R), "order") == ["client:r1"]


def test_stale_rest_record_of_an_evicted_order_is_suppressed_not_resurrected_nor_a_correction() -> None:
    f = Fold()
    f(order_ev(order("1", status=CLOSED, remaining="0", seq=5, lua=T0)))
    f.tick(T0 + R)
    assert f.core.get_order("1").value is None
    corrections = f.core.metrics().get("corrections", 0)
    for rec in (order_ev(order("1", status=CLOSED, remaining="0", seq=1, lua=T0), "rest"),
                order_ev(order("1", status="OPEN", seq=1, lua=T0 - 5), "rest"),
                order_ev(order("1", status=CLOSED, remaining="0", seq=5, lua=T0), "ws")):
        res = f(rec)
        assert res.dropped == "evicted" and res.changes == [] and res.corrections == 0
    assert f.core.get_order("1").value is None
    m = f.core.metrics()
    assert m["evicted_order_suppressed"] == 3 and m.get("corrections", 0) == corrections


def test_refetched_fill_and_tradebust_of_an_evicted_fill_do_not_bring_it_back() -> None:
    f = Fold()
    f(fill_ev(fill("f1", ts=T0)))
    f.tick(T0 + R)
    res = f(fill_ev(fill("f1", ts=T0), "rest"))
    assert res.dropped == "evicted" and res.changes == []
    bust = f(TradebustEvent(source="ws", venue_ts_ms=T0 + R, recv_ns=(T0 + R) * MS, conn_epoch=1,
                            tradebust=Tradebust(account="0xabc", busted_fill_id="f1", created_at=T0 + R)))
    assert [a.reason for a in bust.actions] == ["tradebust"]
    assert f.core.entities.busted_pending == set() and f.core.list_fills().value == []


def test_refined_close_is_evicted_from_its_later_time() -> None:
    f = Fold()
    f(order_ev(order("1", status=CLOSED, remaining="0", seq=1, lua=T0)))
    f(order_ev(order("1", status=CLOSED, remaining="0", seq=2, lua=T0 + 1000)))
    assert deletions(f.tick(T0 + R), "order") == []
    assert deletions(f.tick(T0 + 1000 + R), "order") == ["1"]


def test_tombstones_expire_after_the_longer_horizon_and_old_records_stay_out() -> None:
    f = Fold()
    f(order_ev(order("1", status=CLOSED, remaining="0", seq=1, lua=T0)))
    f(fill_ev(fill("f1", ts=T0)))
    f.tick(T0 + R)
    ret = f.core.retention
    assert set(ret.order_tombs) == {"1"} and set(ret.fill_tombs) == {"f1"}
    f.tick(T0 + TOMBSTONE_FACTOR * R - 1)
    assert set(ret.order_tombs) == {"1"}
    f.tick(T0 + TOMBSTONE_FACTOR * R)
    assert ret.order_tombs == {} and ret.fill_tombs == {} and ret.queue == []
    # without a tombstone, a record older than the horizon is still never created
    res = f(order_ev(order("1", status=CLOSED, remaining="0", seq=9, lua=T0), "rest"))
    assert res.dropped == "evicted" and f.core.get_order("1").value is None
    assert f(fill_ev(fill("f1", ts=T0), "rest")).dropped == "evicted"


def test_zero_retention_keeps_everything() -> None:
    f = Fold(retention_ms=0, fill_retention_ms=0)
    f(order_ev(order("1", status=CLOSED, remaining="0", seq=1, lua=T0)))
    f(fill_ev(fill("f1", ts=T0)))
    f.tick(T0 + 10**12)
    assert f.core.get_order("1").value is not None and len(f.core.list_fills().value) == 1
    assert f.core.retention.queue == []


def test_eviction_work_per_event_is_bounded() -> None:
    f = Fold()
    n = 3 * BUDGET
    for i in range(n):
        f(fill_ev(fill(f"f{i}", ts=T0)))
    sizes = [len(deletions(f.tick(T0 + R + k), "fill")) for k in range(4)]
    assert sizes == [BUDGET, BUDGET, BUDGET, 0]
    assert f.core.entities.fills == {}
