"""Named scenarios for the simulator's matching engine."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.simulator.engine import (
    BboUpdate,
    BookDelta,
    CancelReason,
    CancelStatus,
    EngineError,
    ErrorCode,
    FillEvent,
    PositionUpdate,
    Status,
    Tradebust,
    TradeEvent,
)

from .test_engine_helpers import BTC, exchange, limit, market, order_updates, place

D = Decimal


def test_submit_returns_new_then_process_opens_resting_limit_order() -> None:
    ex = exchange()
    view = ex.submit_order("u", limit("BUY", "0.01", "64000"), 1_000)
    assert view.status is Status.NEW and ex.pending() == 1
    events = ex.process(1_001)
    statuses = [o.status for o in order_updates(events, view.id)]
    assert statuses == [Status.NEW, Status.OPEN]
    assert ex.bbo(BTC).bid == D("64000.0")
    assert [o.id for o in ex.open_orders("u")] == [view.id]


def test_limit_crossing_order_fills_at_maker_price_with_fees_and_closes() -> None:
    ex = exchange()
    place(ex, "mm", limit("SELL", "1", "65000"))
    taker, events = place(ex, "u", limit("BUY", "0.5", "65100"))
    assert taker.status is Status.CLOSED and taker.cancel_reason is CancelReason.NONE
    assert taker.remaining_size == 0 and taker.avg_fill_price == D("65000")
    fills = {e.fill.account: e.fill for e in events if isinstance(e, FillEvent)}
    assert fills["u"].liquidity == "TAKER" and fills["u"].fee == D("65000") * D("0.5") * D("0.0003")
    assert fills["mm"].liquidity == "MAKER" and fills["mm"].fee == 0
    trades = [e for e in events if isinstance(e, TradeEvent)]
    assert [(t.side, t.size, t.price) for t in trades] == [("BUY", D("0.5"), D("65000"))]
    delta = next(e for e in events if isinstance(e, BookDelta))
    assert fills["u"].orderbook_seq_no == delta.seq_no
    assert ex.account_summary("u").account_value < D(100_000)


def test_price_time_priority_fills_oldest_order_at_best_price_first() -> None:
    ex = exchange()
    first, _ = place(ex, "a", limit("SELL", "0.1", "65000"), now=1_000)
    second, _ = place(ex, "b", limit("SELL", "0.1", "65000"), now=1_010)
    better, _ = place(ex, "c", limit("SELL", "0.1", "64999.9"), now=1_020)
    place(ex, "u", limit("BUY", "0.15", "65000"), now=1_030)
    assert ex.get_order("c", better.id).status is Status.CLOSED
    assert ex.get_order("a", first.id).remaining_size == D("0.05")
    assert ex.get_order("b", second.id).remaining_size == D("0.1")


def test_post_only_that_would_cross_is_closed() -> None:
    ex = exchange()
    place(ex, "mm", limit("SELL", "1", "65000"))
    order, _ = place(ex, "u", limit("BUY", "0.1", "65000", instruction="POST_ONLY"))
    assert order.status is Status.CLOSED and order.cancel_reason is CancelReason.POST_ONLY_WOULD_CROSS
    assert ex.bbo(BTC).bid is None


def test_ioc_remainder_is_closed_after_partial_fill() -> None:
    ex = exchange()
    place(ex, "mm", limit("SELL", "0.1", "65000"))
    order, _ = place(ex, "u", limit("BUY", "0.3", "65000", instruction="IOC"))
    assert order.status is Status.CLOSED and order.cancel_reason is CancelReason.NO_LIQUIDITY
    assert order.remaining_size == D("0.2")
    assert ex.bbo(BTC).bid is None


def test_market_order_stops_at_max_slippage_band() -> None:
    ex = exchange()
    place(ex, "mm", limit("BUY", "1", "64990"))
    place(ex, "mm", limit("SELL", "0.1", "65010"))
    place(ex, "mm", limit("SELL", "0.1", "70000"))  # > mid * 1.05
    order, _ = place(ex, "u", market("BUY", "0.2"))
    assert order.price == 0 and order.remaining_size == D("0.1")
    assert order.cancel_reason is CancelReason.NO_LIQUIDITY


def test_reduce_only_cannot_open_or_grow_a_position() -> None:
    ex = exchange()
    place(ex, "mm", limit("SELL", "1", "65000"))
    order, _ = place(ex, "u", limit("BUY", "0.1", "65000", flags=["REDUCE_ONLY"]))
    assert order.cancel_reason is CancelReason.REDUCE_ONLY_WOULD_INCREASE
    assert ex.positions("u") == [] or ex.positions("u")[0].size == 0


def test_reduce_only_larger_than_position_is_capped_and_never_flips() -> None:
    ex = exchange()
    place(ex, "mm", limit("SELL", "1", "65000"))
    place(ex, "u", limit("BUY", "0.2", "65000"))
    place(ex, "mm", limit("BUY", "1", "64900"))
    order, _ = place(ex, "u", limit("SELL", "0.5", "64900", flags=["REDUCE_ONLY"]))
    assert ex.positions("u")[0].size == 0
    assert order.status is Status.CLOSED and order.remaining_size == D("0.3")


def test_self_trade_expire_taker_closes_taker_and_keeps_maker() -> None:
    ex = exchange()
    maker, _ = place(ex, "u", limit("SELL", "0.1", "65000"))
    taker, events = place(ex, "u", limit("BUY", "0.1", "65000"))
    assert taker.cancel_reason is CancelReason.SELF_TRADE
    assert ex.get_order("u", maker.id).status is Status.OPEN
    assert not [e for e in events if isinstance(e, FillEvent)]


def test_self_trade_expire_maker_cancels_resting_and_continues() -> None:
    ex = exchange()
    own, _ = place(ex, "u", limit("SELL", "0.1", "65000"))
    place(ex, "mm", limit("SELL", "0.1", "65001"))
    taker, _ = place(ex, "u", limit("BUY", "0.1", "65001", stp="EXPIRE_MAKER"))
    assert ex.get_order("u", own.id).cancel_reason is CancelReason.SELF_TRADE
    assert taker.status is Status.CLOSED and taker.remaining_size == 0


def test_not_enough_margin_and_position_limit_reject_in_risk_step() -> None:
    ex = exchange()
    ex.set_balance("poor", "10", 1_000)
    order, _ = place(ex, "poor", limit("BUY", "0.1", "64000"))
    assert order.cancel_reason is CancelReason.NOT_ENOUGH_MARGIN
    ex.set_balance("rich", "100000000000", 1_000)
    for _ in range(5):
        place(ex, "rich", limit("BUY", "100", "60000"))
    order, _ = place(ex, "rich", limit("BUY", "100", "60000"))
    assert order.cancel_reason is CancelReason.ORDER_EXCEEDS_POSITION_LIMIT


def test_cancel_is_queued_then_closed_and_second_cancel_gives_order_is_closed() -> None:
    ex = exchange()
    order, _ = place(ex, "u", limit("BUY", "0.1", "64000", client_id="c1"))
    ex.cancel("u", order.id, now_ms=2_000)
    assert ex.get_order("u", order.id).status is Status.OPEN
    events = ex.process(2_001)
    closed = order_updates(events, order.id)[-1]
    assert closed.status is Status.CLOSED and closed.cancel_reason is CancelReason.USER_CANCELED
    with pytest.raises(EngineError) as err:
        ex.cancel("u", order.id, now_ms=2_002)
    assert err.value.code == ErrorCode.ORDER_IS_CLOSED and err.value.status == 400
    with pytest.raises(EngineError) as err:
        ex.cancel("u", client_id="nope", now_ms=2_002)
    assert err.value.code == ErrorCode.CLIENT_ORDER_ID_NOT_FOUND
    with pytest.raises(EngineError) as err:
        ex.cancel("u", "123", now_ms=2_002)
    assert err.value.code == ErrorCode.ORDER_ID_NOT_FOUND


def test_cancel_by_client_id_cancel_all_and_batch_statuses() -> None:
    ex = exchange()
    a, _ = place(ex, "u", limit("BUY", "0.1", "64000", client_id="a"))
    b, _ = place(ex, "u", limit("BUY", "0.1", "63000", client_id="b"))
    ex.cancel("u", client_id="a", now_ms=2_000)
    ex.process(2_001)
    results = ex.cancel_batch("u", [a.id, b.id, "999"], now_ms=2_002)
    assert [r.status for r in results] == [
        CancelStatus.ALREADY_CLOSED,
        CancelStatus.QUEUED_FOR_CANCELLATION,
        CancelStatus.NOT_FOUND,
    ]
    place(ex, "u", limit("SELL", "0.1", "66000"))
    ex.process(2_003)
    assert ex.cancel_all("u", BTC, now_ms=2_004) == 1
    ex.process(2_005)
    assert ex.open_orders("u") == []


def test_duplicated_client_id_rejected_while_live_and_reusable_after_close() -> None:
    ex = exchange()
    order, _ = place(ex, "u", limit("BUY", "0.1", "64000", client_id="x"))
    with pytest.raises(EngineError) as err:
        ex.submit_order("u", limit("BUY", "0.1", "64000", client_id="x"), 1_100)
    assert err.value.code == ErrorCode.DUPLICATED_CLIENT_ID
    ex.cancel("u", order.id, now_ms=1_200)
    ex.process(1_201)
    again, _ = place(ex, "u", limit("BUY", "0.1", "64000", client_id="x"), now=1_300)
    assert ex.get_order_by_client_id("u", "x").id == again.id != order.id


@pytest.mark.parametrize(
    ("req", "code"),
    [
        (limit("BUY", "0.1", "64000.05"), ErrorCode.INVALID_PRICE_PRECISION),
        (limit("BUY", "0.0001", "64000"), ErrorCode.INVALID_ORDER_SIZE),
        (limit("BUY", "-1", "64000"), ErrorCode.INVALID_ORDER_SIZE),
        (limit("BUY", "0.1", "abc"), ErrorCode.INVALID_REQUEST_PARAMETER),
        (limit("HOLD", "0.1", "64000"), ErrorCode.VALIDATION_ERROR),
        (market("BUY", "0.1", price="100"), ErrorCode.VALIDATION_ERROR),
    ],
)
def test_invalid_requests_raise_typed_venue_errors(req: object, code: ErrorCode) -> None:
    ex = exchange()
    with pytest.raises(EngineError) as err:
        ex.submit_order("u", req, 1_000)  # type: ignore[arg-type]
    assert err.value.code == code


def test_modify_keeps_id_reprices_and_rejects_side_change() -> None:
    ex = exchange()
    order, _ = place(ex, "u", limit("BUY", "0.1", "64000"))
    with pytest.raises(EngineError):
        ex.modify("u", order.id, side="SELL", type="LIMIT", size="0.1", price="64000", now_ms=2_000)
    ex.modify("u", order.id, side="BUY", type="LIMIT", size="0.2", price="64100", now_ms=2_000)
    events = ex.process(2_001)
    updated = order_updates(events, order.id)[-1]
    assert (updated.id, updated.price, updated.size, updated.status) == (
        order.id,
        D("64100"),
        D("0.2"),
        "OPEN",
    )
    assert ex.bbo(BTC).bid == D("64100") and ex.bbo(BTC).bid_size == D("0.2")


def test_order_history_lists_closed_orders_newest_first_with_filters() -> None:
    ex = exchange()
    first, _ = place(ex, "u", limit("BUY", "0.1", "64000"), now=1_000)
    second, _ = place(ex, "u", limit("BUY", "0.1", "63000"), now=2_000)
    ex.cancel("u", first.id, now_ms=3_000)
    ex.process(3_001)
    assert [o.id for o in ex.orders_history("u")] == [second.id, first.id]
    assert [o.id for o in ex.orders_history("u", status=Status.CLOSED)] == [first.id]
    assert [o.id for o in ex.orders_history("u", start_at=1_500)] == [second.id]


def test_position_flips_through_zero_and_realizes_pnl_on_the_closed_part() -> None:
    ex = exchange()
    place(ex, "mm", limit("SELL", "1", "65000"))
    place(ex, "u", limit("BUY", "0.1", "65000"))
    ex.cancel_all("mm", now_ms=1_500)
    place(ex, "mm", limit("BUY", "1", "66000"))
    _, events = place(ex, "u", limit("SELL", "0.3", "66000"))
    fill = next(e.fill for e in events if isinstance(e, FillEvent) and e.fill.account == "u")
    assert fill.realized_pnl == D("100")  # 0.1 * (66000 - 65000)
    pos = ex.positions("u")[0]
    assert pos.size == D("-0.2") and pos.side == "SHORT" and pos.average_entry_price == D("66000")


def test_tradebust_reverts_position_and_balance_and_emits_events() -> None:
    ex = exchange()
    place(ex, "mm", limit("SELL", "1", "65000"))
    balance0 = ex.balances("u")[0].size
    _, events = place(ex, "u", limit("BUY", "0.1", "65000"))
    fill = next(e.fill for e in events if isinstance(e, FillEvent) and e.fill.account == "u")
    bust_events = ex.bust_fill(fill.id, 5_000)
    assert any(isinstance(e, Tradebust) and e.busted_fill_id == fill.id for e in bust_events)
    assert any(isinstance(e, PositionUpdate) and e.position.size == 0 for e in bust_events)
    assert ex.positions("u")[0].size == 0 and ex.balances("u")[0].size == balance0
    assert ex.list_fills("u") == [] and len(ex.list_fills("u", include_busted=True)) == 1
    with pytest.raises(EngineError):
        ex.bust_fill(fill.id, 5_001)


def test_bbo_event_only_when_top_changes_and_snapshot_matches_depth() -> None:
    ex = exchange()
    _, events = place(ex, "mm", limit("BUY", "1", "64000"))
    assert any(isinstance(e, BboUpdate) for e in events)
    _, events = place(ex, "mm", limit("BUY", "1", "63000"))
    assert not any(isinstance(e, BboUpdate) for e in events)
    snap = ex.orderbook(BTC, depth=1)
    assert snap.update_type == "s" and [lv.price for lv in snap.inserts] == [D("64000")]


def test_market_summary_and_funding_data_are_consistent_with_the_book() -> None:
    ex = exchange()
    place(ex, "mm", limit("BUY", "1", "64000"))
    place(ex, "mm", limit("SELL", "1", "64010"))
    summary = ex.market_summary(BTC)
    assert summary.mark_price == D("64005") and summary.bid == D("64000")
    ex.set_index_price(BTC, D("64005"))
    assert ex.funding_data(BTC).funding_premium == 0
