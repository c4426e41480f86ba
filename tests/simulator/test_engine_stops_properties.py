"""Property tests of stop/take-profit orders: random flows with stops, cancels, modifies and mark
moves keep the trigger invariants; a triggered stop behaves exactly as its child order."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.simulator.engine import (
    EngineError,
    Exchange,
    FillEvent,
    OrderRequest,
    OrderUpdate,
    Side,
    Status,
    VenueEvent,
)
from services.simulator.engine.state import Order

from .test_engine_helpers import BTC, engine_book, exchange, place

D = Decimal
Op = tuple[Any, ...]
ACCOUNTS = ("a", "b")
TICK = D("0.1")
MID = D("65000.0")
STOP_TYPES = ["STOP_MARKET", "STOP_LIMIT", "TAKE_PROFIT_MARKET", "TAKE_PROFIT_LIMIT",
              "STOP_LOSS_MARKET", "STOP_LOSS_LIMIT"]
CONDITIONS = ["", "", "STOP_CONDITION_ABOVE_TRIGGER", "STOP_CONDITION_BELOW_TRIGGER"]

submit = st.tuples(
    st.just("submit"), st.sampled_from(ACCOUNTS), st.sampled_from(["BUY", "SELL"]),
    st.sampled_from(["LIMIT", "MARKET", *STOP_TYPES, *STOP_TYPES]), st.integers(-8, 8), st.integers(-8, 8),
    st.integers(1, 20), st.sampled_from(CONDITIONS), st.booleans(),
)
ops = st.lists(
    st.one_of(
        submit,
        st.tuples(st.just("process")),
        st.tuples(st.just("cancel"), st.sampled_from(ACCOUNTS), st.integers(0, 30)),
        st.tuples(st.just("modify"), st.sampled_from(ACCOUNTS), st.integers(0, 30), st.integers(-8, 8),
                  st.integers(-8, 8), st.integers(1, 20)),
        st.tuples(st.just("mark"), st.integers(-10, 10) | st.none()),
    ),
    min_size=10, max_size=50,
)


def seeded() -> Exchange:
    ex = exchange()
    for i in range(1, 6):
        for side, sign in (("BUY", -1), ("SELL", 1)):
            price = MID + sign * 2 * i * TICK
            req = OrderRequest(market=BTC, side=side, type="LIMIT", size="0.3", price=price)
            place(ex, "mm", req)
    return ex


def condition_met(ex: Exchange, order: Order) -> bool:
    mark = ex.mark_price(order.market)
    return mark >= order.trigger_price if order.trigger_above else mark <= order.trigger_price


def check_invariants(ex: Exchange) -> None:
    for order in ex.orders.values():
        if order.status is Status.UNTRIGGERED:
            assert not order.resting and order.filled_size == 0
            assert not condition_met(ex, order), "an armed stop's condition holds but it did not trigger"
    live = sum(1 for o in ex.orders.values() if o.status is Status.UNTRIGGERED)
    assert live == len(ex.stops[BTC])


def run(ex: Exchange, operations: list[Op]) -> list[VenueEvent]:
    now = 2_000
    events: list[VenueEvent] = []
    for op in operations:
        now += 1
        kind = op[0]
        try:
            if kind == "submit":
                _, acct, side, typ, off, trig, lots, cond, ro = op
                limit_child = typ.endswith("LIMIT")
                req = OrderRequest(
                    market=BTC, side=side, type=typ, size=D(lots) * D("0.01"),
                    price=MID + off * TICK if limit_child else None,
                    trigger_price=MID + trig * TICK if typ not in ("LIMIT", "MARKET") else None,
                    flags=[f for f in (cond if typ not in ("LIMIT", "MARKET") else "",
                                       "REDUCE_ONLY" if ro else "") if f],
                )
                ex.submit_order(acct, req, now)
            elif kind == "process":
                events.extend(ex.process(now))
            elif kind == "cancel":
                orders = ex.open_orders(op[1])
                if orders:
                    ex.cancel(op[1], orders[op[2] % len(orders)].id, now_ms=now)
            elif kind == "modify":
                _, acct, idx, off, trig, lots = op
                orders = ex.open_orders(acct)
                if orders:
                    o = orders[idx % len(orders)]
                    ex.modify(acct, o.id, side=o.side, type=o.type, size=D(lots) * D("0.01"),
                              price=MID + off * TICK if o.type.endswith("LIMIT") else D(0),
                              trigger_price=MID + trig * TICK if o.trigger_price else None, now_ms=now)
            else:
                events.extend(ex.set_mark_price(BTC, None if op[1] is None else MID + op[1] * 5 * TICK, now))
        except EngineError:
            pass
        check_invariants(ex)
    events.extend(ex.process(now + 1))
    check_invariants(ex)
    return events


fast = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RANK = {"NEW": 0, "UNTRIGGERED": 1, "OPEN": 2, "CLOSED": 3}


@fast
@given(ops)
def test_untriggered_orders_never_trade_and_every_met_condition_triggers(operations: list[Op]) -> None:
    ex = seeded()
    events = run(ex, operations)
    last_status: dict[str, str] = {}
    for e in events:
        if isinstance(e, OrderUpdate):
            before = last_status.get(e.order.id)
            assert before is None or RANK[e.order.status] >= RANK[before]
            last_status[e.order.id] = e.order.status
        elif isinstance(e, FillEvent) and e.fill.account in ACCOUNTS:
            assert last_status[e.fill.order_id] in ("OPEN", "CLOSED")


@fast
@given(ops)
def test_reduce_only_stops_never_increase_a_position(operations: list[Op]) -> None:
    ex = seeded()
    events = run(ex, operations)
    reduce_only = {o.id for o in ex.orders.values() if o.reduce_only}
    position: dict[str, Decimal] = {a: D(0) for a in ACCOUNTS}
    for e in events:
        if isinstance(e, FillEvent) and e.fill.account in ACCOUNTS:
            f = e.fill
            before = position[f.account]
            after = before + (f.size if f.side is Side.BUY else -f.size)
            if f.order_id in reduce_only:
                assert abs(after) < abs(before) and before * after >= 0
            position[f.account] = after


child = st.tuples(
    st.sampled_from(["BUY", "SELL"]), st.sampled_from(["LIMIT", "MARKET"]),
    st.sampled_from(["GTC", "IOC", "POST_ONLY"]), st.integers(1, 150), st.integers(-12, 12),
    st.booleans(), st.integers(-60, 60), st.sampled_from(["STOP", "TAKE_PROFIT", "STOP_LOSS"]),
    st.integers(-20, 20),
)


def _outcome(ex: Exchange, order_id: str) -> tuple[Any, ...]:
    o = ex.get_order("u", order_id)
    fills = [(f.price, f.size, f.liquidity, f.fee, f.realized_pnl) for f in ex.list_fills("u")]
    pos = [(p.size, p.cost, p.realized_positional_pnl) for p in ex.positions("u")]
    return (o.status, o.remaining_size, o.cancel_reason, o.avg_fill_price, o.size, engine_book(ex),
            fills, pos, ex.balances("u")[0].size, ex.account_summary("u").free_collateral)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(child)
def test_a_triggered_stop_behaves_exactly_as_its_child_order(params: tuple[Any, ...]) -> None:
    side, kind, instruction, lots, off, reduce_only, held, family, trig_off = params
    if kind == "MARKET" and instruction == "POST_ONLY":
        instruction = "GTC"
    size = D(lots) * D("0.01")
    price = MID + off * TICK if kind == "LIMIT" else None
    flags = ["REDUCE_ONLY"] if reduce_only else []
    trigger = MID + trig_off * 5 * TICK
    start = MID + (trig_off * 5 + (50 if trig_off >= 0 else -50)) * TICK  # on the far side of trigger
    condition = "STOP_CONDITION_BELOW_TRIGGER" if start > trigger else "STOP_CONDITION_ABOVE_TRIGGER"
    worlds = []
    for stop_first in (True, False):
        ex = seeded()
        if held:  # an existing position, so reduce-only orders have something to reduce
            place(ex, "u", OrderRequest(market=BTC, side="BUY" if held > 0 else "SELL", type="MARKET",
                                        size=D(abs(held)) * D("0.01")))
        ex.set_mark_price(BTC, start, 1_100)
        plain = OrderRequest(market=BTC, side=side, type=kind, size=size, price=price,
                             instruction=instruction, flags=flags)
        if stop_first:
            stop_type = f"{family}_{kind}"
            req = OrderRequest(market=BTC, side=side, type=stop_type, size=size, price=price,
                               instruction=instruction, flags=[*flags, condition], trigger_price=trigger)
            order_id = ex.submit_order("u", req, 1_200).id
            ex.process(1_201)
            assert ex.get_order("u", order_id).status is Status.UNTRIGGERED
            ex.set_mark_price(BTC, trigger, 1_300)
        else:
            ex.set_mark_price(BTC, trigger, 1_300)
            order_id = ex.submit_order("u", plain, 1_300).id
            ex.process(1_300)
        worlds.append(_outcome(ex, order_id))
    assert worlds[0] == worlds[1]
