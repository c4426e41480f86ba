"""Snapshots, absence (rules 4-6), feed status, positions, fills and tradebusts in the state core."""

from __future__ import annotations

from decimal import Decimal

from services.state.core import CLOSED, OPEN, Result, StateConfig, StateCore
from services.state.core.model import LOOKUP_LATER
from shared.bus import (
    FeedStatus,
    LookupResult,
    SnapshotFinished,
    SnapshotPart,
    SnapshotStarted,
    TradebustEvent,
)
from shared.bus.events import SnapshotPartName
from shared.paradex.models.account import Tradebust
from tests.state.builders import (
    ACCOUNT,
    MS,
    T0,
    fill,
    fill_ev,
    order,
    order_ev,
    position,
    position_ev,
)

G = 5000


class Feeder:
    def __init__(self) -> None:
        self.core = StateCore(StateConfig(grace_ms=G))
        self.seq = 0

    def __call__(self, *events: object) -> Result:
        res = Result(stream="account", seq=self.seq, changes=[], actions=[])
        for ev in events:
            self.seq += 1
            res = self.core.apply(self.seq, ev)  # type: ignore[arg-type]
        return res

    def snapshot(self, sid: str, at_ms: int, *records: object,
                 part: SnapshotPartName = "open_orders", complete: bool = True) -> Result:
        """Marker at ``at_ms``, the records, then the part; returns the part's Result."""
        self(SnapshotStarted(source="rest", snapshot_id=sid, recv_ns=at_ms * MS, parts=(part,)))
        self(*records)
        res = self(SnapshotPart(source="rest", snapshot_id=sid, part=part, complete=complete,
                                recv_ns=at_ms * MS))
        self(SnapshotFinished(source="rest", snapshot_id=sid, complete=complete))
        return res


def test_absent_open_order_is_looked_up_not_closed() -> None:
    f = Feeder()
    f(order_ev(order(seq=1)))
    res = f.snapshot("s1", T0 + 10_000)
    assert [(a.kind, a.order_id, a.reason) for a in res.actions] == [("lookup", "1", "absent_from_snapshot")]
    st = f.core.get_order("1").value
    assert st.status == OPEN and st.lookup_pending and st.absent_in == "s1"


def test_second_complete_snapshot_still_lacking_it_closes_it() -> None:
    f = Feeder()
    f(order_ev(order(seq=1)))
    f.snapshot("s1", T0 + 10_000)
    res = f.snapshot("s2", T0 + 20_000)
    st = f.core.get_order("1").value
    assert st.status == CLOSED and st.closed_by == "absent_twice" and res.actions == []
    # a stale WS push can no longer reopen it
    assert f(order_ev(order(seq=2, lua=T0 + 1))).dropped == "stale"


def test_terminal_lookup_result_closes_it() -> None:
    f = Feeder()
    f(order_ev(order(seq=1)))
    f.snapshot("s1", T0 + 10_000)
    f(LookupResult(source="rest", order_id="1", found=True,
                   order=order(status=CLOSED, remaining="0.7", seq=3, lua=T0 + 100)))
    st = f.core.get_order("1").value
    assert (st.status, st.closed_by, st.filled) == (CLOSED, "lookup", Decimal("0.3"))
    assert not st.lookup_pending


def test_not_found_lookup_for_a_venue_order_waits_for_the_second_snapshot() -> None:
    f = Feeder()
    f(order_ev(order(seq=1)))
    f.snapshot("s1", T0 + 10_000)
    f(LookupResult(source="rest", order_id="1", found=False))
    assert f.core.get_order("1").value.status == OPEN


def test_present_in_snapshot_clears_absence() -> None:
    f = Feeder()
    f(order_ev(order(seq=1)))
    f.snapshot("s1", T0 + 10_000)
    f.snapshot("s2", T0 + 20_000, order_ev(order(seq=1), "rest", snapshot_id="s2"))
    f.snapshot("s3", T0 + 30_000)
    st = f.core.get_order("1").value
    assert st.status == OPEN and st.absent_in == "s3"


def test_absence_within_grace_window_is_not_judged_only_looked_up_at_once_or_after_500_ms() -> None:
    f = Feeder()
    f(order_ev(order(seq=1, lua=T0)))
    res = f.snapshot("s1", T0 + 499)  # REST may be served from a cache older than the order:
    # not judged, only a lookup the shell sends once the grace has passed (LOOKUP_LATER)
    assert [(a.kind, a.reason, a.order_id) for a in res.actions] == [("lookup", LOOKUP_LATER, "1")]
    assert f.core.get_order("1").value.absent_in == "" and not f.core.get_order("1").value.lookup_pending
    assert f.core.counters.get("absent_lookups_later") == 1
    res = f.snapshot("s2", T0 + G - 1)  # inside G: a lookup may find a venue-side close...
    assert [(a.kind, a.order_id) for a in res.actions] == [("lookup", "1")]
    assert f.core.get_order("1").value.absent_in == ""  # ...but this absence closes nothing
    assert f.core.counters.get("absent_lookups_young") == 1
    res = f.snapshot("s3", T0 + G + 1)  # past G: the first absence that counts (lookup pending)
    assert [a.order_id for a in res.actions] == ["1"] and f.core.get_order("1").value.status == OPEN


def test_ws_event_after_marker_protects_from_absence() -> None:
    f = Feeder()
    f(order_ev(order(seq=1)))
    f(SnapshotStarted(source="rest", snapshot_id="s1", recv_ns=(T0 + 60_000) * MS))
    f(order_ev(order(seq=2, remaining="0.5", lua=T0 + 100), recv_ms=T0 + 100))
    res = f(SnapshotPart(source="rest", snapshot_id="s1", part="open_orders", complete=True))
    assert res.actions == []


def test_incomplete_part_never_judges_absence() -> None:
    f = Feeder()
    f(order_ev(order(seq=1)))
    res = f.snapshot("s1", T0 + 10_000, complete=False)
    f.snapshot("s2", T0 + 20_000, complete=False)
    assert res.actions == [] and f.core.get_order("1").value.status == OPEN


def test_grace_is_measured_from_the_disconnect_while_down() -> None:
    f = Feeder()
    f(FeedStatus(source="ws", state="subscribed", epoch=1, recv_ns=T0 * MS))
    f(order_ev(order(seq=1, lua=T0 + 1000), recv_ms=T0 + 1000))
    res = f(FeedStatus(source="ws", state="disconnected", epoch=1, recv_ns=(T0 + 2000) * MS))
    assert [(a.kind, a.reason) for a in res.actions] == [("reconcile", "feed_down")]
    # long silence while down does not age the order: it was updated within G of the disconnect,
    # so this absence is a lookup only, never a first strike
    res = f.snapshot("s1", T0 + 60_000)
    assert [a.kind for a in res.actions] == ["lookup"] and f.core.get_order("1").value.absent_in == ""
    f(FeedStatus(source="ws", state="connected", epoch=2, recv_ns=(T0 + 61_000) * MS))
    res = f.snapshot("s2", T0 + 70_000)
    assert [a.kind for a in res.actions] == ["lookup"] and f.core.get_order("1").value.absent_in == "s2"


def test_new_conn_epoch_requests_reconciliation() -> None:
    f = Feeder()
    f(order_ev(order(seq=1), epoch=1))
    res = f(order_ev(order(seq=2, lua=T0 + 1), epoch=2))
    assert [(a.kind, a.reason) for a in res.actions] == [("reconcile", "reconnect")]
    assert f.core.feed.epoch == 2 and f.core.feed.reconnects == 1


def test_position_absent_becomes_flat_only_after_second_snapshot() -> None:
    f = Feeder()
    f(position_ev(position(size="2", seq=1)))
    res = f.snapshot("s1", T0 + 10_000, part="positions")
    assert [(a.kind, a.reason) for a in res.actions] == [("reconcile", "position_absent")]
    assert f.core.list_positions().value[0].position.size == Decimal("2")
    f.snapshot("s2", T0 + 20_000, part="positions")
    st = f.core.list_positions().value[0]
    assert st.position.size == 0 and st.closed_by == "absent_twice"


def test_position_rest_older_is_suppressed_newer_applies_ties_keep() -> None:
    f = Feeder()
    f(position_ev(position(size="2", ts=T0 + 10, seq=5)))
    assert f(position_ev(position(size="1", ts=T0 + 5, seq=1), "rest")).dropped == "stale"
    assert f(position_ev(position(size="1", ts=T0 + 10, seq=2), "rest")).dropped == "stale"
    assert f(position_ev(position(size="3", ts=T0 + 11, seq=3), "rest")).corrections == 1
    assert f.core.list_positions().value[0].position.size == Decimal("3")
    assert f(position_ev(position(size="9", ts=T0 + 12, seq=4))).dropped == "duplicate"


def test_fills_dedup_across_sources() -> None:
    f = Feeder()
    f(fill_ev(fill("f1")))
    assert f(fill_ev(fill("f1"), "rest")).dropped == "duplicate"
    f(fill_ev(fill("f2", ts=T0 + 1), "rest"))
    assert [x.fill.id for x in f.core.list_fills().value] == ["f1", "f2"]


def test_tradebust_marks_fill_and_requests_reconciliation() -> None:
    f = Feeder()
    f(fill_ev(fill("f1")))
    res = f(TradebustEvent(source="ws", tradebust=Tradebust(account=ACCOUNT, busted_fill_id="f1",
                                                            created_at=T0 + 5)))
    assert f.core.list_fills().value[0].busted
    assert [(a.kind, a.parts) for a in res.actions] == [
        ("reconcile", ("positions", "balances", "account"))]
    # a bust that arrives before its fill marks the fill when it comes
    f(TradebustEvent(source="ws", tradebust=Tradebust(account=ACCOUNT, busted_fill_id="f2",
                                                      created_at=T0 + 6)))
    f(fill_ev(fill("f2"), "rest"))
    assert f.core.entities.fills["f2"].busted


def test_last_reconciliation_reports_its_corrections() -> None:
    f = Feeder()
    f(order_ev(order(seq=1)))
    f.snapshot("s1", T0 + 10_000,
               order_ev(order(status=CLOSED, remaining="0", seq=1, lua=T0 + 9), "rest", snapshot_id="s1"))
    rec = f.core.health().value.last_reconciliation
    assert (rec.snapshot_id, rec.corrections, rec.records, rec.complete) == ("s1", 1, 1, True)
