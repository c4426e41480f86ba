"""Command outcomes in the state core: not sent, refused and ambiguous cancels/modifies, the
in-flight index, lookups that fail, the kill switch."""

from __future__ import annotations

from decimal import Decimal

from services.state.core import (
    CLOSED,
    OPEN,
    PENDING_CANCEL,
    PENDING_MODIFY,
    PENDING_NEW,
    REJECTED,
    UNKNOWN,
    StateConfig,
    StateCore,
)
from shared.bus import (
    CmdAccepted,
    CmdCancelFailed,
    CmdCancelRequested,
    CmdCancelUnknown,
    CmdModifyFailed,
    CmdModifyRequested,
    CmdModifyUnknown,
    CmdNotSent,
    CmdSubmitted,
    CmdUnknown,
    KillSwitch,
    LookupResult,
)
from tests.state.builders import MS, T0, order, order_ev

G = 5000


class Feeder:
    def __init__(self) -> None:
        self.core = StateCore(StateConfig(grace_ms=G))
        self.seq = 0

    def __call__(self, *events: object):  # type: ignore[no-untyped-def]
        res = None
        for ev in events:
            self.seq += 1
            res = self.core.apply(self.seq, ev)  # type: ignore[arg-type]
        return res

    def get(self, cid: str = "c1"):  # type: ignore[no-untyped-def]
        return self.core.get_order(client_id=cid).value


def submitted(cid: str = "c1", at_ms: int = T0) -> CmdSubmitted:
    return CmdSubmitted(source="cmd", client_id=cid, market="BTC-USD-PERP", side="BUY", type="LIMIT",
                        size="1", price="100", strategy="s1", recv_ns=at_ms * MS)


def cancel(at_ms: int, cid: str = "c1", oid: str = "1") -> CmdCancelRequested:
    return CmdCancelRequested(source="cmd", client_id=cid, order_id=oid, recv_ns=at_ms * MS)


def lookup(o: object, at_ms: int) -> LookupResult:
    return LookupResult(source="rest", order_id="1", found=o is not None, order=o,  # type: ignore[arg-type]
                        recv_ns=at_ms * MS)


def open_order(f: Feeder) -> None:
    f(submitted(), order_ev(order("1", status="NEW", seq=1)), order_ev(order("1", seq=2, lua=T0 + 1)))


# ------------------------------------------------------------------------------------ not sent

def test_not_sent_withdraws_the_pending_entry_and_the_client_id_may_be_submitted_again() -> None:
    f = Feeder()
    f(submitted())
    res = f(CmdNotSent(source="cmd", client_id="c1", reason="connection refused"))
    assert [(c.key, c.value) for c in res.changes] == [("client:c1", None)]
    assert f.get() is None and f.core.open_orders().value == [] and not f.core.orders.inflight
    res = f(submitted(at_ms=T0 + 10))
    assert res.dropped == "" and f.get().status == PENDING_NEW
    f(CmdAccepted(source="cmd", client_id="c1", order_id="7"))
    assert f.get().id == "7"


def test_not_sent_after_venue_evidence_is_ignored() -> None:
    f = Feeder()
    f(submitted(), order_ev(order("1", status="NEW", seq=1)))
    res = f(CmdNotSent(source="cmd", client_id="c1"))
    assert res.dropped == "venue_evidence" and f.get().status == "NEW"
    assert f.core.counters.get("cmd_not_sent_ignored") == 1


# ------------------------------------------------------------------------------------ cancels

def test_refused_cancel_clears_pending_cancel_at_once_keeps_venue_status_and_the_error() -> None:
    f = Feeder()
    open_order(f)
    f(cancel(T0 + 10))
    assert f.get().status == PENDING_CANCEL
    res = f(CmdCancelFailed(source="cmd", client_id="c1", order_id="1", code="ORDER_NOT_CANCELLABLE",
                            message="no", http_status=400))
    st = f.get()
    assert (st.status, st.venue_status, st.local) == (OPEN, OPEN, "")
    assert (st.error_op, st.error_code, st.error_message) == ("cancel", "ORDER_NOT_CANCELLABLE", "no")
    assert res.changes and "1" not in f.core.orders.inflight
    # a later real cancel works as usual
    f(cancel(T0 + 20), order_ev(order("1", status=CLOSED, seq=3, lua=T0 + 21)))
    assert f.get().status == CLOSED and f.core.counters.get("cancel_refused") == 1


def test_refused_cancel_of_an_order_the_venue_never_showed_restores_pending_new() -> None:
    f = Feeder()
    f(submitted(), CmdCancelRequested(source="cmd", client_id="c1", recv_ns=(T0 + 1) * MS))
    assert f.get().status == PENDING_CANCEL
    f(CmdCancelFailed(source="cmd", client_id="c1", code="ORDER_ID_NOT_FOUND"))
    assert f.get().status == PENDING_NEW


def test_refused_cancel_of_a_closed_order_changes_nothing() -> None:
    f = Feeder()
    open_order(f)
    f(order_ev(order("1", status=CLOSED, remaining="0", seq=3, lua=T0 + 2)))
    res = f(CmdCancelFailed(source="cmd", client_id="c1", order_id="1", code="ORDER_IS_CLOSED"))
    assert res.dropped == "terminal" and f.get().status == CLOSED and f.get().error_code == ""


def test_ambiguous_cancel_stays_pending_and_asks_for_a_lookup() -> None:
    f = Feeder()
    open_order(f)
    f(cancel(T0 + 10))
    res = f(CmdCancelUnknown(source="cmd", client_id="c1", order_id="1", reason="503"))
    assert [(a.kind, a.order_id, a.reason) for a in res.actions] == [("lookup", "1", "cancel_unknown")]
    assert f.get().status == PENDING_CANCEL and f.get().lookup_pending


def test_lookup_soon_after_an_ambiguous_cancel_proves_nothing_but_one_after_g_clears_it() -> None:
    f = Feeder()
    open_order(f)
    f(cancel(T0 + 10), CmdCancelUnknown(source="cmd", client_id="c1", order_id="1"))
    same = order("1", seq=50, lua=T0 + 1)  # the venue still has it open, unchanged
    f(lookup(same, T0 + 10 + G - 1))  # within G: REST may not show the cancel yet
    assert f.get().status == PENDING_CANCEL
    res = f(lookup(order("1", seq=51, lua=T0 + 1), T0 + 10 + G))
    assert f.get().status == OPEN and f.get().local == ""
    assert res.dropped == "" and f.core.counters.get("cancel_not_executed") == 1
    assert "1" not in f.core.orders.inflight


def test_lookup_that_finds_the_order_closed_resolves_an_ambiguous_cancel() -> None:
    f = Feeder()
    open_order(f)
    f(cancel(T0 + 10), CmdCancelUnknown(source="cmd", client_id="c1", order_id="1"))
    f(lookup(order("1", status=CLOSED, seq=9, lua=T0 + 11), T0 + 20))
    st = f.get()
    assert (st.status, st.closed_by) == (CLOSED, "lookup")


def test_ws_record_after_g_does_not_clear_pending_cancel() -> None:
    """Only a REST answer (the lookup) settles a cancel; a WS fill push can come any time."""
    f = Feeder()
    open_order(f)
    f(cancel(T0 + 10), order_ev(order("1", remaining="0.5", seq=3, lua=T0 + 10 + G),
                                recv_ms=T0 + 20 + G))
    assert f.get().status == PENDING_CANCEL


# ------------------------------------------------------------------------------------ modifies

def modify(at_ms: int, price: str = "101", size: str = "1") -> CmdModifyRequested:
    return CmdModifyRequested(source="cmd", client_id="c1", order_id="1", price=price, size=size,
                              recv_ns=at_ms * MS)


def test_modify_shows_pending_modify_until_a_record_with_the_new_values() -> None:
    f = Feeder()
    open_order(f)
    f(modify(T0 + 10))
    st = f.get()
    assert (st.status, st.venue_status, st.modify_pending) == (PENDING_MODIFY, OPEN, True)
    assert f.core.orders.inflight == {"1": (T0 + 10) * MS}
    f(order_ev(order("1", remaining="0.5", seq=3, lua=T0 + 11)))  # a fill at the old price
    assert f.get().status == PENDING_MODIFY
    f(order_ev(order("1", remaining="0.5", price="101", seq=4, lua=T0 + 12)))
    st = f.get()
    assert (st.status, st.modify_pending, st.price) == (OPEN, False, Decimal("101"))
    assert f.core.counters.get("modify_applied") == 1 and not f.core.orders.inflight


def test_refused_modify_clears_pending_modify_and_keeps_price_size_and_error() -> None:
    f = Feeder()
    open_order(f)
    f(modify(T0 + 10), CmdModifyFailed(source="cmd", client_id="c1", order_id="1",
                                       code="INVALID_PRICE", message="band"))
    st = f.get()
    assert (st.status, st.price, st.modify_pending) == (OPEN, Decimal("100"), False)
    assert (st.error_op, st.error_code) == ("modify", "INVALID_PRICE")


def test_ambiguous_modify_is_looked_up_and_a_late_rest_record_with_old_values_clears_it() -> None:
    f = Feeder()
    open_order(f)
    res = f(modify(T0 + 10), CmdModifyUnknown(source="cmd", client_id="c1", order_id="1"))
    assert [(a.kind, a.reason) for a in res.actions] == [("lookup", "modify_unknown")]
    f(lookup(order("1", seq=9, lua=T0 + 1), T0 + 11))
    assert f.get().status == PENDING_MODIFY
    f(lookup(order("1", seq=10, lua=T0 + 1), T0 + 10 + G))
    assert f.get().status == OPEN and f.core.counters.get("modify_not_executed") == 1


def test_cancel_shows_over_modify_and_a_refused_cancel_leaves_the_modify_pending() -> None:
    f = Feeder()
    open_order(f)
    f(modify(T0 + 10), cancel(T0 + 11))
    assert f.get().status == PENDING_CANCEL
    f(CmdCancelFailed(source="cmd", client_id="c1", order_id="1", code="X"))
    assert f.get().status == PENDING_MODIFY
    f(order_ev(order("1", status=CLOSED, seq=5, lua=T0 + 20)))
    assert f.get().status == CLOSED and not f.get().modify_pending


def test_modify_of_an_order_the_venue_never_showed_is_refused() -> None:
    f = Feeder()
    f(submitted())
    assert f(modify(T0 + 1)).dropped == "not_modifiable" and f.get().status == PENDING_NEW


# ------------------------------------------------------------------------- lookups, in flight

def test_failed_lookup_never_rejects_an_unknown_order() -> None:
    f = Feeder()
    f(submitted(), CmdUnknown(source="cmd", client_id="c1", recv_ns=(T0 + 1) * MS))
    f(LookupResult(source="rest", client_id="c1", found=False, error="ServerError: 503",
                   recv_ns=(T0 + 2) * MS))
    assert f.get().status == UNKNOWN


def test_not_found_for_a_pending_new_within_g_keeps_it_after_g_rejects_it() -> None:
    f = Feeder()
    f(submitted(at_ms=T0))
    f(LookupResult(source="rest", client_id="c1", found=False, recv_ns=(T0 + 2000) * MS))
    assert f.get().status == PENDING_NEW
    assert f.core.counters.get("lookup_not_found_in_flight") == 1
    f(LookupResult(source="rest", client_id="c1", found=False, recv_ns=(T0 + G) * MS))
    assert (f.get().status, f.get().closed_by) == (REJECTED, "lookup_not_found")


def test_inflight_index_follows_statuses_and_survives_a_checkpoint() -> None:
    f = Feeder()
    f(submitted("a", T0), submitted("b", T0 + 1), CmdUnknown(source="cmd", client_id="b",
                                                             recv_ns=(T0 + 5) * MS))
    open_order_c = order("3", client_id="c", seq=1)
    f(order_ev(open_order_c), cancel(T0 + 7, cid="c", oid="3"))
    assert f.core.orders.inflight == {"client:a": T0 * MS, "client:b": (T0 + 5) * MS,
                                      "3": (T0 + 7) * MS}
    restored = StateCore.load(f.core.dump())
    assert restored.orders.inflight == f.core.orders.inflight
    assert restored.health().value.in_flight == 3
    f(order_ev(order("3", client_id="c", status=CLOSED, seq=2, lua=T0 + 8)),
      CmdAccepted(source="cmd", client_id="a", order_id="1"))
    assert f.core.orders.inflight == {"client:b": (T0 + 5) * MS}


def test_kill_switch_is_recorded_for_health_and_checkpointed() -> None:
    f = Feeder()
    f(KillSwitch(source="cmd", active=True, by="admin", reason="drill"),
      KillSwitch(source="cmd", active=True, strategy="mm", by="mm"),
      KillSwitch(source="cmd", active=False, by="admin"))
    ks = f.core.health().value.kill_switch
    assert (ks[""].active, ks["mm"].active, ks["mm"].by) == (False, True, "mm")
    assert StateCore.load(f.core.dump()).health().value.kill_switch == ks
