"""Order merge rules of the state core, including the seed's races as named regressions."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.state.core import CLOSED, OPEN, PENDING_CANCEL, PENDING_NEW, REJECTED, StateCore
from shared.bus import (
    CmdAccepted,
    CmdCancelRequested,
    CmdRejected,
    CmdSubmitted,
    CmdUnknown,
    LookupResult,
)
from tests.state.builders import T0, balance_change, balance_rec, order, order_ev


class Feeder:
    """Applies events with increasing stream sequences."""

    def __init__(self) -> None:
        self.core = StateCore()
        self.seq = 0

    def __call__(self, *events: object):  # type: ignore[no-untyped-def]
        res = None
        for ev in events:
            self.seq += 1
            res = self.core.apply(self.seq, ev)  # type: ignore[arg-type]
        return res


def submitted(cid: str = "c1") -> CmdSubmitted:
    return CmdSubmitted(source="cmd", client_id=cid, market="BTC-USD-PERP", side="BUY", type="LIMIT",
                        size="1", price="100", strategy="s1")


def test_stale_rest_does_not_overwrite_ws_fill() -> None:
    f = Feeder()
    f(order_ev(order(status="OPEN", seq=1)),
      order_ev(order(status="OPEN", remaining="0.4", seq=2, lua=T0 + 10)))
    # REST poll served from cache: before the fill, a later REST seq_no (other seq space)
    res = f(order_ev(order(status="OPEN", remaining="1", seq=999, lua=T0), "rest", recv_ms=T0 + 20))
    st = f.core.get_order("1").value
    assert st.remaining_size == Decimal("0.4") and st.filled == Decimal("0.6")
    assert res.dropped == "stale" and res.changes == []
    assert f.core.counters.get("stale_rest_suppressed") == 1
    assert f.core.counters.get("corrections") == 0


def test_rest_equal_to_ws_is_suppressed_not_a_correction() -> None:
    f = Feeder()
    f(order_ev(order(seq=5)))
    res = f(order_ev(order(seq=1), "rest"))
    assert res.dropped == "stale" and res.corrections == 0
    assert f.core.counters.get("stale_rest_suppressed") == 1


def test_rest_ahead_of_ws_is_applied_and_counted_as_correction() -> None:
    f = Feeder()
    f(order_ev(order(seq=5)))
    res = f(order_ev(order(status=CLOSED, remaining="0", seq=1, lua=T0 + 50), "rest"))
    st = f.core.get_order("1").value
    assert st.status == CLOSED and st.filled == Decimal("1")
    assert res.corrections == 1 and f.core.counters.get("corrections") == 1


def test_filled_order_is_never_shown_open_again() -> None:
    f = Feeder()
    f(order_ev(order(seq=1)),
      order_ev(order(status=CLOSED, remaining="0", seq=3, lua=T0 + 5)))
    # a reordered older WS push (lower seq_no) and a stale REST open-orders record
    assert f(order_ev(order(seq=2, lua=T0 + 2))).dropped == "duplicate"
    assert f(order_ev(order(seq=7, lua=T0 + 2), "rest")).dropped == "stale"
    # even a WS push with a higher seq_no may not reopen a CLOSED order
    assert f(order_ev(order(seq=9, lua=T0 + 6))).dropped == "stale"
    assert f.core.get_order("1").value.status == CLOSED


def test_cancel_of_filled_order_keeps_closed_and_is_not_pending_cancel() -> None:
    f = Feeder()
    f(order_ev(order(seq=1)), order_ev(order(status=CLOSED, remaining="0", seq=2, lua=T0 + 5)))
    res = f(CmdCancelRequested(source="cmd", client_id="c1", order_id="1"))
    assert res.dropped == "not_cancellable"
    assert f.core.get_order("1").value.status == CLOSED


def test_cancel_requested_shows_pending_cancel_until_terminal_update() -> None:
    f = Feeder()
    f(order_ev(order(seq=1)), CmdCancelRequested(source="cmd", client_id="c1", order_id="1"))
    assert f.core.get_order("1").value.status == PENDING_CANCEL
    f(order_ev(order(remaining="0.5", seq=2, lua=T0 + 1)))  # a fill before the cancel lands
    st = f.core.get_order("1").value
    assert st.status == PENDING_CANCEL and st.venue_status == OPEN and st.filled == Decimal("0.5")
    f(order_ev(order(status=CLOSED, remaining="0.5", seq=3, lua=T0 + 2, cancel_reason="USER_CANCELED")))
    st = f.core.get_order("1").value
    assert st.status == CLOSED and st.local == "" and st.closed_by == "venue"


def test_double_execution_guard_order_visible_as_pending_new_while_in_flight() -> None:
    f = Feeder()
    f(submitted("c1"))
    # a strategy asking "do I have an order for c1 / any open order?" must see it
    st = f.core.get_order(client_id="c1").value
    assert st is not None and st.status == PENDING_NEW
    assert [o.client_id for o in f.core.open_orders().value] == ["c1"]
    # the WS push may come before the command answer: it merges into the pending entry
    f(order_ev(order("77", client_id="c1", status="NEW", seq=1)))
    assert [o.key for o in f.core.list_orders().value] == ["77"]
    f(CmdAccepted(source="cmd", client_id="c1", order_id="77"))
    st = f.core.get_order(client_id="c1").value
    assert st.id == "77" and st.status == "NEW" and st.strategy == "s1"
    assert len(f.core.list_orders().value) == 1


def test_accepted_before_ws_links_exchange_id() -> None:
    f = Feeder()
    f(submitted("c1"))
    res = f(CmdAccepted(source="cmd", client_id="c1", order_id="77",
                        order=order("77", client_id="c1", status="NEW", seq=3)))
    assert [(c.key, c.value is None) for c in res.changes] == [("client:c1", True), ("77", False)]
    f(order_ev(order("77", client_id="c1", status=OPEN, seq=1, lua=T0 + 1)))
    assert f.core.get_order("77").value.status == OPEN
    assert f.core.get_order(client_id="c1").value.key == "77"


def test_rejected_command_is_terminal_with_venue_error() -> None:
    f = Feeder()
    f(submitted("c1"), CmdRejected(source="cmd", client_id="c1", code="NOT_ENOUGH_MARGIN", message="no"))
    st = f.core.get_order(client_id="c1").value
    assert (st.status, st.reject_code, st.closed_by) == (REJECTED, "NOT_ENOUGH_MARGIN", "rejected")
    assert f.core.open_orders().value == []


def test_rejection_after_venue_evidence_is_ignored() -> None:
    f = Feeder()
    f(submitted("c1"), order_ev(order("9", client_id="c1", seq=1)))
    res = f(CmdRejected(source="cmd", client_id="c1", code="DUPLICATED_CLIENT_ID"))
    assert res.dropped == "venue_evidence"
    assert f.core.get_order("9").value.status == OPEN


def test_unknown_outcome_emits_lookup_and_found_record_resolves_it() -> None:
    f = Feeder()
    f(submitted("c1"))
    res = f(CmdUnknown(source="cmd", client_id="c1", reason="timeout"))
    assert [(a.kind, a.client_id) for a in res.actions] == [("lookup", "c1")]
    assert f.core.get_order(client_id="c1").value.status == "UNKNOWN"
    f(LookupResult(source="rest", client_id="c1", found=True, order=order("5", client_id="c1", seq=1)))
    st = f.core.get_order(client_id="c1").value
    assert st.id == "5" and st.status == OPEN and not st.lookup_pending


def test_unknown_outcome_not_found_closes_as_rejected() -> None:
    f = Feeder()
    f(submitted("c1"), CmdUnknown(source="cmd", client_id="c1"))
    f(LookupResult(source="rest", client_id="c1", found=False))
    st = f.core.get_order(client_id="c1").value
    assert (st.status, st.closed_by) == (REJECTED, "lookup_not_found")


def test_ws_same_source_duplicates_and_reordering_are_dropped() -> None:
    f = Feeder()
    f(order_ev(order(seq=10)))
    assert f(order_ev(order(seq=10))).dropped == "duplicate"
    assert f(order_ev(order(seq=9))).dropped == "duplicate"
    assert f.core.counters.get("duplicate_ws_order") == 2


def test_rest_and_ws_seq_no_are_never_compared() -> None:
    f = Feeder()
    f(order_ev(order(seq=10**18)))
    # a REST record with a tiny seq_no but ahead by the venue's facts still applies
    res = f(order_ev(order(remaining="0.2", seq=1, lua=T0 + 1), "rest"))
    assert res.corrections == 1
    # and a WS record with a small seq_no is still a duplicate of the WS stream only
    assert f(order_ev(order(seq=5, lua=T0 + 2))).dropped == "duplicate"


@pytest.mark.parametrize("closed_remaining", ["0", "0.3"])
def test_later_closed_may_refine_detail(closed_remaining: str) -> None:
    f = Feeder()
    f(order_ev(order(status=CLOSED, remaining="1", seq=1, lua=T0 + 1)))
    f(order_ev(order(status=CLOSED, remaining=closed_remaining, seq=2, lua=T0 + 1, cancel_reason="X")))
    st = f.core.get_order("1").value
    assert st.status == CLOSED and st.order.cancel_reason == "X"


def test_redelivered_stream_sequence_is_ignored() -> None:
    core = StateCore()
    core.apply(5, order_ev(order(seq=1)))
    res = core.apply(5, order_ev(order(seq=2, remaining="0.1", lua=T0 + 1)))
    assert res.dropped == "redelivered" and core.get_order("1").value.filled == 0


def test_stale_rest_balance_does_not_overwrite_newer_ws_balance() -> None:
    f = Feeder()
    f(balance_rec("1000", ts=T0))
    f(balance_change("1000", "990.5", ts=T0 + 100, fill_id="f1"))
    # REST /balance served from a cache, reaching us after the WS change
    res = f(balance_rec("1000", ts=T0 + 50, recv_ms=T0 + 200))
    assert res.dropped == "stale"
    assert f.core.list_balances().value[0].size == Decimal("990.5")
    assert f.core.counters.get("stale_rest_suppressed") == 1
    # a REST balance newer by the venue clock is a correction
    res = f(balance_rec("980", ts=T0 + 300))
    assert res.corrections == 1 and f.core.list_balances().value[0].size == Decimal("980")
