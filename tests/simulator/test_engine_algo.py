"""TWAP algo orders through the pure engine: schedule, size split, carry-over of unfilled size,
children through the risk step, cancel, validation, and properties over random liquidity."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.simulator.engine import (
    AlgoRequest,
    AlgoUpdate,
    CancelReason,
    EngineError,
    ErrorCode,
    Exchange,
    FillEvent,
    OrderUpdate,
    Status,
    VenueEvent,
)

from .test_engine_helpers import BTC, exchange, limit, place

D = Decimal
T0 = 1_700_000_000_000


def twap(side: str = "BUY", size: str = "1", duration: int = 120, frequency: int | None = 30,
         **kw: Any) -> AlgoRequest:
    return AlgoRequest(market=BTC, side=side, type="MARKET", size=size, duration_seconds=duration,
                       frequency=frequency, **kw)


def liquid(ex: Exchange, size: str = "50") -> None:
    ex.set_balance("mm", "100000000", T0 - 10)
    place(ex, "mm", limit("SELL", size, "65010"), now=T0 - 10)
    place(ex, "mm", limit("BUY", size, "64990"), now=T0 - 10)


def children(ex: Exchange, algo_id: str) -> list[Any]:
    return [ex.get_order("u", i) for i in ex.algo_children("u", algo_id)]


def algo_states(events: list[VenueEvent]) -> list[str]:
    return [str(e.algo.status) for e in events if isinstance(e, AlgoUpdate)]


def test_twap_places_equal_market_children_every_frequency_until_filled() -> None:
    ex = exchange()
    liquid(ex)
    view = ex.submit_algo("u", twap(), T0)
    assert view.status is Status.NEW and view.remaining_size == D(1) and view.end_at == T0 + 120_000
    events = ex.process(T0 + 1)
    assert algo_states(events) == ["NEW", "OPEN", "OPEN"]
    first = children(ex, view.id)
    assert [(c.type, c.size, c.status) for c in first] == [("MARKET", D("0.25"), Status.CLOSED)]
    mine = [e.order for e in events if isinstance(e, OrderUpdate) and e.order.account == "u"]
    child_updates = [str(o.status) for o in mine]
    assert child_updates == ["NEW", "OPEN", "CLOSED"]
    assert ex.get_algo("u", view.id).remaining_size == D("0.75")
    assert ex.advance(T0 + 30_000) == []  # the next child is due at T0 + 1 + 30 s
    ex.advance(T0 + 30_001)
    assert len(children(ex, view.id)) == 2
    for t in (60_001, 90_001):
        ex.advance(T0 + t)
    done = ex.get_algo("u", view.id)
    assert done.status is Status.CLOSED and done.cancel_reason is CancelReason.NONE
    assert done.remaining_size == 0 and done.avg_fill_price == D("65010")
    placed = children(ex, view.id)
    assert [c.size for c in placed] == [D("0.25")] * 4
    assert [c.created_at - T0 for c in placed] == [1, 30_001, 60_001, 90_001]
    assert ex.positions("u")[0].size == D(1)
    assert ex.advance(T0 + 200_000) == []  # nothing after the end
    assert ex.open_algos("u") == [] and ex.algo_history("u")[0].id == view.id


def test_a_time_jump_places_every_missed_child_at_once() -> None:
    ex = exchange()
    liquid(ex)
    view = ex.submit_algo("u", twap(size="0.9", duration=90), T0)
    ex.process(T0)
    ex.advance(T0 + 3_600_000)
    assert [c.size for c in children(ex, view.id)] == [D("0.3")] * 3
    assert ex.get_algo("u", view.id).status is Status.CLOSED


def test_unfilled_size_is_spread_over_the_later_children() -> None:
    ex = exchange()
    place(ex, "mm", limit("SELL", "0.1", "65010"), now=T0 - 10)  # thin: the first child fills 0.1
    place(ex, "mm", limit("BUY", "1", "64990"), now=T0 - 10)
    view = ex.submit_algo("u", twap(size="1", duration=120), T0)
    ex.process(T0)
    first = children(ex, view.id)[0]
    assert first.size == D("0.25") and first.remaining_size == D("0.15")
    assert first.cancel_reason is CancelReason.NO_LIQUIDITY
    place(ex, "mm", limit("SELL", "5", "65020"), now=T0 + 10)
    ex.advance(T0 + 30_000)
    assert children(ex, view.id)[1].size == D("0.3")  # 0.9 left over 3 children
    ex.advance(T0 + 90_000)
    assert [c.size for c in children(ex, view.id)] == [D("0.25"), D("0.3"), D("0.3"), D("0.3")]
    assert ex.get_algo("u", view.id).remaining_size == 0


def test_an_algo_whose_last_child_cannot_fill_closes_with_no_liquidity() -> None:
    ex = exchange()
    place(ex, "mm", limit("SELL", "0.2", "65010"), now=T0 - 10)
    place(ex, "mm", limit("BUY", "1", "64990"), now=T0 - 10)
    view = ex.submit_algo("u", twap(size="0.6", duration=60), T0)
    ex.process(T0)
    ex.advance(T0 + 30_000)
    done = ex.get_algo("u", view.id)
    assert done.status is Status.CLOSED and done.cancel_reason is CancelReason.NO_LIQUIDITY
    assert done.remaining_size == D("0.4") and done.avg_fill_price == D("65010")


def test_a_child_refused_for_margin_stops_the_algo_with_that_reason() -> None:
    ex = exchange()
    liquid(ex)
    ex.set_balance("u", "1000", T0)
    view = ex.submit_algo("u", twap(size="4", duration=60), T0)  # 2 BTC a child: 6 500 USD margin
    events = ex.process(T0)
    done = ex.get_algo("u", view.id)
    assert done.status is Status.CLOSED and done.cancel_reason is CancelReason.NOT_ENOUGH_MARGIN
    assert algo_states(events)[-1] == "CLOSED" and len(children(ex, view.id)) == 1
    assert children(ex, view.id)[0].cancel_reason is CancelReason.NOT_ENOUGH_MARGIN
    assert ex.advance(T0 + 60_000) == []


def test_cancel_stops_the_schedule_and_errors_name_the_case() -> None:
    ex = exchange()
    liquid(ex)
    view = ex.submit_algo("u", twap(), T0)
    ex.process(T0)
    ex.cancel_algo("u", view.id, T0 + 5)
    assert ex.get_algo("u", view.id).status is Status.OPEN  # queued, like an order cancel
    events = ex.process(T0 + 6)
    assert algo_states(events) == ["CLOSED"]
    done = ex.get_algo("u", view.id)
    assert done.cancel_reason is CancelReason.USER_CANCELED and done.remaining_size == D("0.75")
    assert ex.advance(T0 + 300_000) == [] and len(children(ex, view.id)) == 1
    with pytest.raises(EngineError) as closed:
        ex.cancel_algo("u", view.id, T0 + 7)
    assert closed.value.error_code is ErrorCode.ORDER_IS_CLOSED
    for account, algo_id in (("u", "123"), ("other", view.id)):
        with pytest.raises(EngineError) as missing:
            ex.cancel_algo(account, algo_id, T0 + 7)
        assert missing.value.error_code is ErrorCode.ORDER_ID_NOT_FOUND and missing.value.status == 404


@pytest.mark.parametrize(
    ("req", "code", "text"),
    [
        (twap(algo_type="VWAP"), ErrorCode.VALIDATION_ERROR, "only TWAP"),
        (AlgoRequest(market=BTC, side="BUY", type="LIMIT", size="1", duration_seconds=60),
         ErrorCode.VALIDATION_ERROR, "type must be MARKET"),
        (twap(side="HOLD"), ErrorCode.VALIDATION_ERROR, "side"),
        (twap(duration=20), ErrorCode.VALIDATION_ERROR, "duration_seconds must be"),
        (twap(duration=45), ErrorCode.VALIDATION_ERROR, "duration_seconds must be"),
        (twap(duration=86_430), ErrorCode.VALIDATION_ERROR, "duration_seconds must be"),
        (twap(frequency=45), ErrorCode.VALIDATION_ERROR, "frequency must be"),
        (twap(duration=60, frequency=90), ErrorCode.VALIDATION_ERROR, "frequency must be"),
        (twap(duration=150, frequency=60), ErrorCode.VALIDATION_ERROR, "multiple of frequency"),
        (twap(size="0.0005"), ErrorCode.INVALID_ORDER_SIZE, "positive multiple"),
        (twap(size="0.003"), ErrorCode.INVALID_ORDER_SIZE, "child orders would be"),
        (twap(size="500", duration=120), ErrorCode.INVALID_ORDER_SIZE, "child orders would be"),
    ],
)
def test_invalid_twaps_are_refused_naming_the_rule(req: AlgoRequest, code: ErrorCode, text: str) -> None:
    with pytest.raises(EngineError, match=text) as err:
        exchange().submit_algo("u", req, T0)
    assert err.value.error_code is code


def test_the_parent_may_exceed_max_order_size_when_each_child_fits() -> None:
    ex = exchange()
    liquid(ex, size="100")
    ex.set_balance("u", "100000000", T0)
    view = ex.submit_algo("u", twap(size="150", duration=60), T0)  # max_order_size is 100
    ex.process(T0)
    ex.advance(T0 + 30_000)
    assert [c.size for c in children(ex, view.id)] == [D(75), D(75)]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lots=st.integers(10, 400),
    steps=st.sampled_from([(60, 30), (120, 30), (180, 60), (300, 30)]),
    liquidity=st.lists(st.integers(0, 60), min_size=1, max_size=12),
    ticks=st.lists(st.integers(1, 40_000), min_size=1, max_size=30),
    side=st.sampled_from(["BUY", "SELL"]),
)
def test_children_account_for_the_parent_exactly(
    lots: int, steps: tuple[int, int], liquidity: list[int], ticks: list[int], side: str
) -> None:
    ex = exchange()
    duration, frequency = steps
    size = D(lots) / 100
    view = ex.submit_algo("u", twap(side=side, size=str(size), duration=duration, frequency=frequency), T0)
    now = T0
    events = ex.process(now)
    for i, dt in enumerate(ticks):
        if liquidity:  # the book refills a little at a time
            lvl = liquidity[i % len(liquidity)]
            if lvl:
                book_side = "SELL" if side == "BUY" else "BUY"
                price = "65010" if book_side == "SELL" else "64990"
                place(ex, "mm", limit(book_side, str(D(lvl) / 100), price), now=now)
        now += dt
        events += ex.advance(now)
    algo = ex.get_algo("u", view.id)
    kids = children(ex, view.id)
    fills = [e.fill for e in events if isinstance(e, FillEvent) and e.fill.account == "u"]
    assert len(kids) <= duration // frequency
    assert sum((c.size - c.remaining_size for c in kids), D(0)) == size - algo.remaining_size
    assert sum((f.size for f in fills), D(0)) == size - algo.remaining_size
    assert all(c.type == "MARKET" and c.size > 0 for c in kids)
    assert algo.remaining_size >= 0
    if algo.status is Status.CLOSED:
        assert (algo.remaining_size == 0) == (algo.cancel_reason is CancelReason.NONE)
    else:
        assert len(kids) < duration // frequency
    created = [c.created_at for c in kids]
    assert created == sorted(created)


def test_a_schedule_skip_places_the_children_due_in_it_stamped_now() -> None:
    ex = exchange()
    liquid(ex)
    view = ex.submit_algo("u", twap(size="0.9", duration=90), T0)
    ex.process(T0)
    ex.advance(T0 + 7, skip_ms=60_000)
    kids = children(ex, view.id)
    assert [c.created_at for c in kids] == [T0, T0 + 7, T0 + 7]
    assert ex.get_algo("u", view.id).status is Status.CLOSED
