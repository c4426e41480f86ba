"""Property tests: random order flows keep the engine's accounting and book invariants."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.simulator.engine import (
    BalanceEvent,
    BookDelta,
    EngineError,
    Exchange,
    FillEvent,
    OrderRequest,
    OrderUpdate,
    Side,
    Tradebust,
    VenueEvent,
)

from .test_engine_helpers import BTC, apply_frame, engine_book, exchange

D = Decimal
Op = tuple[Any, ...]
ACCOUNTS = ("a", "b", "c")
TICK = D("0.1")
MID = D("65000.0")

submit_op = st.tuples(
    st.just("submit"),
    st.sampled_from(ACCOUNTS),
    st.sampled_from(["BUY", "SELL"]),
    st.sampled_from(["GTC", "GTC", "IOC", "POST_ONLY", "MARKET"]),
    st.integers(-6, 6),
    st.integers(1, 30),
    st.sampled_from([False, False, False, True]),  # reduce-only
    st.sampled_from(["", "", "EXPIRE_MAKER", "EXPIRE_BOTH"]),
)
cancel_op = st.tuples(st.just("cancel"), st.sampled_from(ACCOUNTS), st.integers(0, 50))
modify_op = st.tuples(
    st.just("modify"), st.sampled_from(ACCOUNTS), st.integers(0, 50), st.integers(-6, 6), st.integers(1, 30)
)
others = st.one_of(
    cancel_op,
    modify_op,
    st.tuples(st.just("bust"), st.integers(0, 50)),
    st.tuples(st.just("time"), st.integers(-3, 20)),
)
# one_of picks branches evenly: a third submits, a third risk-step runs, a third the rest.
ops = st.lists(st.one_of(submit_op, st.tuples(st.just("process")), others), min_size=15, max_size=60)


def run(ex: Exchange, operations: list[Op]) -> list[VenueEvent]:
    now = 1_000
    events: list[VenueEvent] = []
    for op in operations:
        kind = op[0]
        try:
            if kind == "submit":
                _, acct, side, instr, off, size, ro, stp = op
                typ = "MARKET" if instr == "MARKET" else "LIMIT"
                req = OrderRequest(
                    market=BTC,
                    side=str(side),
                    type=typ,
                    size=D(int(size)) * D("0.01"),
                    price=None if typ == "MARKET" else MID + int(off) * TICK,
                    instruction="GTC" if instr == "MARKET" else str(instr),
                    flags=["REDUCE_ONLY"] if ro else [],
                    stp=str(stp),
                )
                ex.submit_order(str(acct), req, now)
            elif kind == "cancel":
                orders = ex.orders_history(str(op[1]))
                if orders:
                    ex.cancel(str(op[1]), orders[int(op[2]) % len(orders)].id, now_ms=now)
            elif kind == "modify":
                _, acct, idx, off, size = op
                orders = ex.open_orders(str(acct))
                if orders:
                    o = orders[int(idx) % len(orders)]
                    ex.modify(
                        str(acct),
                        o.id,
                        side=o.side,
                        type=o.type,
                        size=D(int(size)) * D("0.01"),
                        price=MID + int(off) * TICK,
                        now_ms=now,
                    )
            elif kind == "process":
                events.extend(ex.process(now))
            elif kind == "bust":
                fills = [f for a in ACCOUNTS for f in ex.list_fills(a)]
                if fills:
                    events.extend(ex.bust_fill(fills[int(op[1]) % len(fills)].id, now))
            elif kind == "time":
                now += int(op[1])
        except EngineError:
            pass
        assert not ex.books[BTC].is_crossed(), "resting book crossed"
    events.extend(ex.process(now + 1))
    assert not ex.books[BTC].is_crossed()
    return events


fast = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fast
@given(ops)
def test_order_filled_size_equals_sum_of_its_fills(operations: list[Op]) -> None:
    ex = exchange()
    events = run(ex, operations)
    filled: dict[str, Decimal] = defaultdict(Decimal)
    for e in events:
        if isinstance(e, FillEvent):
            filled[e.fill.order_id] += e.fill.size
    for acct in ACCOUNTS:
        for o in ex.orders_history(acct):
            assert o.size - o.remaining_size == filled[o.id]
            assert o.remaining_size >= 0


@fast
@given(ops)
def test_positions_and_balances_follow_non_busted_fills_exactly(operations: list[Op]) -> None:
    ex = exchange()
    start = {a: ex.balances(a)[0].size for a in ACCOUNTS}
    run(ex, operations)
    for acct in ACCOUNTS:
        fills = ex.list_fills(acct)
        signed = sum((f.size if f.side is Side.BUY else -f.size for f in fills), D(0))
        pos = next((p.size for p in ex.positions(acct) if p.market == BTC), D(0))
        assert pos == signed
        cash = sum((f.realized_pnl - f.fee for f in fills), D(0))
        assert ex.balances(acct)[0].size == start[acct] + cash


@fast
@given(ops)
def test_book_deltas_are_contiguous_and_replay_to_the_engine_book(
    operations: list[Op],
) -> None:
    ex = exchange()
    half = len(operations) // 2
    first = run(ex, operations[:half])
    snapshot = ex.orderbook(BTC, depth=None)
    rest = run(ex, operations[half:])
    replay: dict[tuple[Side, Decimal], Decimal] = {}
    seq = 0
    for e in first + rest:
        if isinstance(e, BookDelta):
            assert e.seq_no == seq + 1
            seq = e.seq_no
            apply_frame(replay, e)
    assert replay == engine_book(ex)
    from_snapshot: dict[tuple[Side, Decimal], Decimal] = {}
    apply_frame(from_snapshot, snapshot)
    for e in rest:
        if isinstance(e, BookDelta) and e.seq_no > snapshot.seq_no:
            apply_frame(from_snapshot, e)
    assert from_snapshot == engine_book(ex)


@fast
@given(ops)
def test_order_updates_never_go_back_in_seq_no_or_time(operations: list[Op]) -> None:
    ex = exchange()
    events = run(ex, operations)
    last: dict[str, tuple[int, int]] = {}
    rank = {"NEW": 0, "OPEN": 1, "CLOSED": 2}
    last_rank: dict[str, int] = {}
    for e in events:
        if isinstance(e, OrderUpdate):
            o = e.order
            if o.id in last:
                assert o.seq_no > last[o.id][0] and o.last_updated_at >= last[o.id][1]
                assert rank[o.status] >= last_rank[o.id]
            last[o.id] = (o.seq_no, o.last_updated_at)
            last_rank[o.id] = rank[o.status]


@fast
@given(ops)
def test_reduce_only_fills_never_increase_a_position(operations: list[Op]) -> None:
    ex = exchange()
    events = run(ex, operations)
    reduce_only = {o.id for a in ACCOUNTS for o in ex.orders_history(a) if "REDUCE_ONLY" in o.flags}
    fills = {f.id: f for a in ACCOUNTS for f in ex.list_fills(a, include_busted=True)}
    position: dict[str, Decimal] = defaultdict(Decimal)
    for e in events:
        if isinstance(e, FillEvent):
            f = e.fill
            before = position[f.account]
            after = before + (f.size if f.side is Side.BUY else -f.size)
            if f.order_id in reduce_only:
                assert abs(after) < abs(before) and before * after >= 0
            position[f.account] = after
        elif isinstance(e, Tradebust):
            f = fills[e.busted_fill_id]
            position[f.account] -= f.size if f.side is Side.BUY else -f.size


@fast
@given(ops)
def test_balance_events_chain_before_and_after(operations: list[Op]) -> None:
    ex = exchange()
    events = run(ex, operations)
    balance = {a: D(100_000) for a in ACCOUNTS}
    for e in events:
        if isinstance(e, BalanceEvent):
            assert e.settlement_asset_balance_before == balance[e.account]
            change = e.realized_pnl - e.fees + e.realized_funding
            assert e.settlement_asset_balance_after == balance[e.account] + change
            balance[e.account] = e.settlement_asset_balance_after
    assert balance == {a: ex.balances(a)[0].size for a in ACCOUNTS}
