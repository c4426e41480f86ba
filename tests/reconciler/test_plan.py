"""The pure planner/coalescer and the since-cursor: every way requests can arrive."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.reconciler.plan import (
    ALL_PARTS,
    FAST_LANE,
    FAST_PARTS,
    FULL_LANE,
    Lanes,
    Planner,
    SinceCursor,
)
from services.reconciler.ratelimit import TokenBucket


def test_nothing_pending_gives_no_plan() -> None:
    assert Planner().take() is None


def test_one_request_gives_a_full_snapshot_plan() -> None:
    p = Planner()
    p.request("feed_reconnect")
    plan = p.take()
    assert plan is not None
    assert plan.snapshot and plan.parts == ALL_PARTS
    assert plan.reasons == ("feed_reconnect",) and plan.requests == 1
    assert plan.order_ids == () and plan.client_ids == ()


def test_burst_before_a_run_is_one_plan_with_distinct_reasons_in_arrival_order() -> None:
    p = Planner()
    for reason in ["book_gap", "feed_reconnect", "book_gap", "operator"]:
        p.request(reason)
    plan = p.take()
    assert plan is not None and plan.requests == 4
    assert plan.reasons == ("book_gap", "feed_reconnect", "operator")
    assert plan.reason == "book_gap,feed_reconnect,operator"
    assert p.coalesced == 3 and p.take() is None


def test_requests_during_a_run_fold_into_exactly_one_follow_up() -> None:
    p = Planner()
    p.request("startup")
    first = p.take()
    assert first is not None
    for _ in range(20):
        p.request("feed_reconnect")
    assert p.take() is None, "runs never overlap"
    p.finish()
    follow_up = p.take()
    assert follow_up is not None and follow_up.requests == 20
    p.finish()
    assert p.take() is None


def test_request_naming_orders_is_a_lookup_without_snapshot() -> None:
    p = Planner()
    p.request("unknown_command", order_ids=("1", "2", "1"), client_ids=("c1",))
    plan = p.take()
    assert plan is not None
    assert not plan.snapshot and plan.parts == ()
    assert plan.order_ids == ("1", "2") and plan.client_ids == ("c1",)


def test_lookup_and_snapshot_requests_share_one_run() -> None:
    p = Planner()
    p.request("unknown_command", client_ids=("c1",))
    p.request("feed_reconnect")
    plan = p.take()
    assert plan is not None and plan.snapshot and plan.client_ids == ("c1",)


def test_empty_ids_count_as_a_snapshot_request() -> None:
    p = Planner()
    p.request("operator", order_ids=("",), client_ids=("",))
    plan = p.take()
    assert plan is not None and plan.snapshot and plan.order_ids == ()


def test_lookups_beyond_the_budget_stay_pending_for_the_next_run() -> None:
    p = Planner(max_lookups=3)
    p.request("x", order_ids=("a", "b"), client_ids=("c", "d", "e"))
    first = p.take()
    assert first is not None and first.order_ids == ("a", "b") and first.client_ids == ("c",)
    p.finish()
    second = p.take()
    assert second is not None and second.client_ids == ("d", "e") and not second.snapshot
    assert second.reasons == ("lookup_overflow",)


def test_request_naming_parts_is_a_targeted_snapshot_from_the_earliest_since() -> None:
    p = Planner()
    p.request("missed_push", parts=("fills",), since_ms=5_000)
    p.request("missed_push", parts=("positions", "fills"), since_ms=3_000)
    p.request("missed_push", parts=("balances",))
    plan = p.take()
    assert plan is not None and plan.snapshot
    assert plan.parts == ("positions", "balances", "fills")  # in fetch order
    assert plan.since_ms == 3_000 and plan.requests == 3


def test_a_full_request_subsumes_targeted_parts_and_uses_the_cursor() -> None:
    p = Planner()
    p.request("missed_push", parts=("fills",), since_ms=5_000)
    p.request("feed_reconnect")
    plan = p.take()
    assert plan is not None and plan.parts == ALL_PARTS and plan.since_ms == 0


def test_unknown_part_names_are_ignored() -> None:
    p = Planner()
    p.request("x", parts=("bogus",))
    plan = p.take()
    assert plan is not None and plan.parts == ALL_PARTS


def test_lanes_route_full_snapshots_apart_from_lookups_and_targeted_runs() -> None:
    lanes = Lanes()
    assert lanes.request("periodic") == FULL_LANE
    assert lanes.request("fast_check", parts=FAST_PARTS) == FAST_LANE
    assert lanes.request("cmd_unknown", client_ids=("c1",)) == FAST_LANE
    full = lanes[FULL_LANE].take()
    fast = lanes[FAST_LANE].take()  # both lanes run at once
    assert full is not None and full.parts == ALL_PARTS
    assert fast is not None and fast.parts == FAST_PARTS and fast.client_ids == ("c1",)
    assert lanes.running and lanes.received == 3 and lanes.coalesced == 1


def test_invalid_budget_is_refused() -> None:
    with pytest.raises(ValueError):
        Planner(max_lookups=0)


ops = st.lists(st.one_of(
    st.tuples(st.just("req"), st.sampled_from(["a", "b", "c", ""]),
              st.lists(st.sampled_from(["1", "2", "3"]), max_size=2),
              st.lists(st.sampled_from(["x", "y"]), max_size=2),
              st.lists(st.sampled_from(ALL_PARTS), max_size=2)),
    st.tuples(st.just("take")), st.tuples(st.just("finish"))), max_size=60)


@settings(max_examples=300, deadline=None)
@given(ops)
def test_any_sequence_never_overlaps_never_loses_a_request_an_id_or_a_part(
        seq: list[tuple[object, ...]]) -> None:
    p = Planner(max_lookups=1000)
    running = False
    answered = 0
    asked_ids: set[str] = set()
    looked_up: set[str] = set()
    snapshot_wanted = False
    parts_wanted: set[str] = set()
    for op in seq:
        if op[0] == "req":
            _, reason, oids, cids, parts = op
            assert isinstance(reason, str) and isinstance(oids, list) and isinstance(cids, list)
            assert isinstance(parts, list)
            p.request(reason, tuple(oids), tuple(cids), tuple(parts))
            asked_ids |= set(oids) | {"c:" + c for c in cids}
            snapshot_wanted |= not oids and not cids and not parts
            parts_wanted |= set(parts)
        elif op[0] == "take":
            plan = p.take()
            if running:
                assert plan is None
                continue
            if plan is None:
                assert not p.has_pending
                continue
            running = True
            answered += plan.requests
            looked_up |= set(plan.order_ids) | {"c:" + c for c in plan.client_ids}
            if plan.parts == ALL_PARTS:
                snapshot_wanted = False
            parts_wanted -= set(plan.parts)
            assert plan.snapshot == bool(plan.parts)
            assert len(set(plan.reasons)) == len(plan.reasons)
        else:
            p.finish()
            running = False
    p.finish()
    last = p.take()
    if last is not None:
        answered += last.requests
        looked_up |= set(last.order_ids) | {"c:" + c for c in last.client_ids}
        snapshot_wanted = snapshot_wanted and last.parts != ALL_PARTS
        parts_wanted -= set(last.parts)
    assert answered == p.received
    assert looked_up == asked_ids
    assert not snapshot_wanted and not parts_wanted


def test_cursor_first_run_uses_the_lookback() -> None:
    c = SinceCursor(lookback_ms=86_400_000, overlap_ms=60_000)
    assert c.since_ms(100_000_000) == 100_000_000 - 86_400_000
    assert SinceCursor(lookback_ms=10_000, overlap_ms=0).since_ms(5) == 0


def test_cursor_advances_to_previous_successful_start_minus_overlap_and_never_back() -> None:
    c = SinceCursor(lookback_ms=1_000_000, overlap_ms=60_000)
    c.succeeded(5_000_000)
    assert c.since_ms(9_000_000) == 5_000_000 - 60_000
    c.succeeded(4_000_000)
    assert c.since_ms(9_000_000) == 5_000_000 - 60_000


def test_cursor_without_success_keeps_the_lookback_window() -> None:
    c = SinceCursor(lookback_ms=1_000, overlap_ms=10)
    assert c.since_ms(10_000) == 9_000 and c.since_ms(20_000) == 19_000


def test_token_bucket_serves_the_burst_then_paces_at_the_rate() -> None:
    b = TokenBucket(rate_per_s=10.0, burst=3, now_s=0.0)
    assert [b.reserve(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert b.reserve(0.0) == pytest.approx(0.1)
    assert b.reserve(0.0) == pytest.approx(0.2)
    assert b.reserve(1.0) == 0.0


def test_token_bucket_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0.0, 1)
    with pytest.raises(ValueError):
        TokenBucket(1.0, 0)
