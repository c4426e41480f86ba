"""The state's timers: the in-flight check and the missed-push repairs (against a real core, a
chosen clock), and how the core's actions become reconcile requests."""

from __future__ import annotations

from services.state.actions import to_requests
from services.state.core import Action, StateConfig, StateCore
from services.state.inflight import InflightCheck, attempt_due_ns
from services.state.repairs import RepairCheck
from shared.bus import CmdCancelRequested, CmdSubmitted, CmdUnknown
from shared.bus.requests import ReconcileRequest
from tests.state.builders import MS, T0, order, order_ev

S = 1_000_000_000


def core_with(*events: object) -> StateCore:
    core = StateCore(StateConfig(settle_ms=200))
    for i, ev in enumerate(events, 1):
        core.apply(i, ev)  # type: ignore[arg-type]
    return core


def submitted(cid: str, at_ms: int) -> CmdSubmitted:
    return CmdSubmitted(source="cmd", client_id=cid, market="BTC-USD-PERP", side="BUY", type="LIMIT",
                        size="1", price="100", recv_ns=at_ms * MS)


def test_attempts_are_due_after_the_threshold_then_doubling_backoffs() -> None:
    due = [attempt_due_ns(0, k, 2 * S, S // 2) for k in range(5)]
    assert due == [2 * S, int(2.5 * S), int(3.5 * S), int(5.5 * S), int(9.5 * S)]


def test_inflight_orders_are_looked_up_with_backoff_then_reported_unresolved() -> None:
    core = core_with(submitted("a", T0), order_ev(order("7", client_id="b", seq=1)),
                     CmdCancelRequested(source="cmd", client_id="b", order_id="7", recv_ns=T0 * MS))
    check = InflightCheck(threshold_s=2.0, backoff_s=0.5, max_attempts=3)
    t0 = T0 * MS
    assert check.due(core, t0 + 2 * S - 1) is None
    assert check.due(core, t0 + 2 * S) == ReconcileRequest(reason="inflight", order_ids=("7",),
                                                           client_ids=("a",))
    assert check.due(core, t0 + 2 * S + 1) is None  # the retry waits for its backoff
    assert check.due(core, t0 + 5 * S // 2) is not None
    assert check.due(core, t0 + 7 * S // 2) is not None
    assert check.due(core, t0 + 54 * S // 10) is None and not check.unresolved
    assert check.due(core, t0 + 11 * S // 2) is None  # three lookups did not settle them
    assert sorted(check.unresolved) == ["7", "client:a"]
    assert check.unresolved["7"].status == "PENDING_CANCEL" and check.lookups == 6


def test_a_settled_order_leaves_the_check_and_a_new_command_starts_it_afresh() -> None:
    core = core_with(submitted("a", T0))
    check = InflightCheck(threshold_s=2.0, backoff_s=0.5, max_attempts=1)
    assert check.due(core, (T0 + 2000) * MS) is not None
    assert check.due(core, (T0 + 2500) * MS) is None and "client:a" in check.unresolved
    core.apply(2, CmdUnknown(source="cmd", client_id="a", recv_ns=(T0 + 3000) * MS))  # a new phase
    assert check.due(core, (T0 + 3100) * MS) is None and not check.unresolved
    assert check.due(core, (T0 + 5000) * MS) == ReconcileRequest(reason="inflight", client_ids=("a",))
    core.apply(3, order_ev(order("9", client_id="a", seq=1)))
    assert check.due(core, (T0 + 9000) * MS) is None and not check.tries


def test_suspects_get_their_targeted_request_once_settled_with_backoff() -> None:
    core = core_with(order_ev(order("1", status="NEW", seq=1)),
                     order_ev(order("1", remaining="0.5", seq=2, lua=T0 + 10), recv_ms=T0 + 10))
    repairs = RepairCheck(settle_s=0.2, backoff_s=0.5, max_attempts=2)
    t = (T0 + 10) * MS
    assert repairs.due(core, t + S // 5 - 1) is None
    req = repairs.due(core, t + S // 5)
    assert req == ReconcileRequest(reason="missed_push", parts=("fills",), since_ms=T0)
    assert repairs.due(core, t + S // 2) is None
    assert repairs.due(core, t + 7 * S // 10) is not None
    assert repairs.due(core, t + 17 * S // 10) is None and "fill_missing:1" in repairs.unresolved


def test_actions_become_targeted_full_and_lookup_requests() -> None:
    reqs = to_requests([
        Action(kind="reconcile", reason="tradebust", parts=("positions", "balances", "account")),
        Action(kind="reconcile", reason="missed_push", parts=("fills",), since_ms=5),
        Action(kind="reconcile", reason="missed_push", parts=("positions",), since_ms=3),
        Action(kind="reconcile", reason="reconnect", parts=("open_orders", "order_history", "positions",
                                                            "account", "balances", "fills")),
        Action(kind="lookup", reason="cmd_unknown", client_id="c1"),
        Action(kind="lookup", reason="cmd_unknown", order_id="7"),
    ])
    assert reqs == [
        ReconcileRequest(reason="tradebust", parts=("account", "balances", "positions")),
        ReconcileRequest(reason="missed_push", parts=("fills", "positions"), since_ms=3),
        ReconcileRequest(reason="reconnect"),
        ReconcileRequest(reason="cmd_unknown", order_ids=("7",), client_ids=("c1",)),
    ]
