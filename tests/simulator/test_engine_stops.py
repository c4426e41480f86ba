"""Stop and take-profit orders through the pure engine: trigger by mark, child behaviour,
default conditions, validation, cancel/modify of untriggered orders, reduce-only and
position-sized TP/SL, margin and the open-orders cap."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from services.simulator.engine import (
    CancelReason,
    EngineError,
    ErrorCode,
    Exchange,
    FillEvent,
    OrderRequest,
    OrderUpdate,
    Status,
    VenueEvent,
    default_markets,
)

from .test_engine_helpers import BTC, exchange, limit, market, order_updates, place

D = Decimal


def stop(
    type_: str, side: str, size: str, trigger: str, price: str | None = None, **kw: object
) -> OrderRequest:
    return OrderRequest(market=BTC, side=side, type=type_, size=size, price=price,  # type: ignore[arg-type]
                        trigger_price=trigger, **kw)


def book(ex: Exchange, bid: str = "64990", ask: str = "65010", size: str = "5") -> None:
    """A two-sided book from a market maker: mark = mid = 65000."""
    place(ex, "mm", limit("BUY", size, bid))
    place(ex, "mm", limit("SELL", size, ask))


def statuses(events: list[VenueEvent], order_id: str) -> list[str]:
    return [str(o.status) for o in order_updates(events, order_id)]


def test_stop_market_waits_untriggered_then_trades_as_a_market_order_when_the_mark_falls() -> None:
    ex = exchange()
    place(ex, "mm", limit("BUY", "1", "64990"))
    place(ex, "mm", limit("BUY", "1", "64800"))
    place(ex, "mm", limit("BUY", "5", "64700"))
    place(ex, "mm", limit("SELL", "5", "65010"))  # mark = mid = 65000
    before = ex.orderbook(BTC, depth=None)
    view = ex.submit_order("u", stop("STOP_MARKET", "SELL", "0.5", "64900"), 1_000)
    assert view.status is Status.NEW and view.trigger_price == D("64900")
    assert "STOP_CONDITION_BELOW_TRIGGER" in view.flags  # trigger below the mark: waits for a fall
    events = ex.process(1_001)
    assert statuses(events, view.id) == ["NEW", "UNTRIGGERED"]
    assert ex.orderbook(BTC, depth=None) == before  # an untriggered stop is not in the book
    assert [o.id for o in ex.open_orders("u")] == [view.id]
    assert ex.orders_history("u", status=Status.UNTRIGGERED)[0].id == view.id
    place(ex, "t", market("SELL", "1"), now=1_002)  # bid 64800: mark 64905, not yet
    place(ex, "t", market("SELL", "0.5"), now=1_003)  # same mark
    assert ex.get_order("u", view.id).status is Status.UNTRIGGERED
    _, events = place(ex, "t", market("SELL", "0.5"), now=1_004)  # bid 64700: mark 64855
    updates = order_updates(events, view.id)
    assert [str(o.status) for o in updates] == ["OPEN", "CLOSED"]
    fills = [e.fill for e in events if isinstance(e, FillEvent) and e.fill.order_id == view.id]
    assert [(f.price, f.size, f.liquidity) for f in fills] == [(D("64700"), D("0.5"), "TAKER")]
    assert updates[-1].cancel_reason is CancelReason.NONE
    assert ex.positions("u")[0].size == D("-0.5")
    taker_updates = [e for e in events if isinstance(e, OrderUpdate) and e.order.account == "t"]
    assert events.index(taker_updates[-1]) < events.index(next(
        e for e in events if isinstance(e, OrderUpdate) and e.order.id == view.id))


def test_stop_limit_triggers_into_a_resting_limit_order_that_is_then_modified_like_one() -> None:
    ex = exchange()
    book(ex)
    view = ex.submit_order("u", stop("STOP_LIMIT", "BUY", "0.1", "65100", price="65000"), 1_000)
    ex.process(1_001)
    assert ex.get_order("u", view.id).status is Status.UNTRIGGERED
    events = ex.set_mark_price(BTC, "65100", 1_002)
    assert statuses(events, view.id) == ["OPEN"]
    order = ex.get_order("u", view.id)
    assert order.status is Status.OPEN and order.type == "STOP_LIMIT" and ex.bbo(BTC).bid == D("65000")
    ex.modify("u", view.id, side="BUY", type="STOP_LIMIT", size="0.2", price="64995", now_ms=1_003)
    ex.process(1_004)
    assert ex.get_order("u", view.id).size == D("0.2") and ex.bbo(BTC).bid == D("64995")
    with pytest.raises(EngineError, match="cannot change once triggered"):
        ex.modify("u", view.id, side="BUY", type="STOP_LIMIT", size="0.2", price="64995",
                  trigger_price="65200", now_ms=1_005)


@pytest.mark.parametrize(
    ("type_", "side", "trigger", "flag"),
    [
        ("STOP_MARKET", "BUY", "65100", "ABOVE"), ("STOP_MARKET", "SELL", "64900", "BELOW"),
        ("STOP_MARKET", "BUY", "64900", "BELOW"),  # below the mark: waits for the mark to fall
        ("TAKE_PROFIT_MARKET", "SELL", "65100", "ABOVE"), ("TAKE_PROFIT_MARKET", "BUY", "64900", "BELOW"),
        ("STOP_LOSS_MARKET", "SELL", "64900", "BELOW"), ("STOP_LOSS_MARKET", "BUY", "65100", "ABOVE"),
        # trigger == mark: the type's usual direction, which is met at once
        ("STOP_MARKET", "BUY", "65000", "ABOVE"), ("STOP_LOSS_MARKET", "SELL", "65000", "BELOW"),
        ("TAKE_PROFIT_MARKET", "SELL", "65000", "ABOVE"), ("TAKE_PROFIT_MARKET", "BUY", "65000", "BELOW"),
    ],
)
def test_default_stop_condition_follows_the_mark_crossing_rule(
    type_: str, side: str, trigger: str, flag: str
) -> None:
    ex = exchange()
    book(ex)
    view = ex.submit_order("u", stop(type_, side, "0.01", trigger), 1_000)
    assert f"STOP_CONDITION_{flag}_TRIGGER" in view.flags
    ex.process(1_001)
    expected = Status.CLOSED if trigger == "65000" else Status.UNTRIGGERED
    assert ex.get_order("u", view.id).status is expected


def test_an_explicit_condition_flag_wins_even_when_it_is_met_at_once() -> None:
    ex = exchange()
    book(ex)
    req = stop("STOP_MARKET", "BUY", "0.01", "64000", flags=["STOP_CONDITION_ABOVE_TRIGGER"])
    view = ex.submit_order("u", req, 1_000)
    events = ex.process(1_001)
    assert statuses(events, view.id) == ["NEW", "UNTRIGGERED", "OPEN", "CLOSED"]
    assert ex.positions("u")[0].size == D("0.01")


VALIDATION, SIZE = ErrorCode.VALIDATION_ERROR, ErrorCode.INVALID_ORDER_SIZE
BOTH = ["STOP_CONDITION_BELOW_TRIGGER", "STOP_CONDITION_ABOVE_TRIGGER"]


@pytest.mark.parametrize(
    ("req", "code", "text"),
    [
        (stop("STOP_MARKET", "SELL", "0.1", ""), VALIDATION, "trigger_price is required"),
        (limit("BUY", "0.1", "64000", trigger_price="63000"), VALIDATION, "trigger_price is for"),
        (limit("BUY", "0.1", "64000", flags=BOTH[:1]), VALIDATION, "applies only to stop"),
        (stop("STOP_MARKET", "SELL", "0.1", "64000", flags=BOTH), VALIDATION, "both"),
        (stop("STOP_MARKET", "SELL", "0.1", "64000", price="64000"), VALIDATION, "price must be 0"),
        (stop("STOP_LIMIT", "SELL", "0.1", "64000"), VALIDATION, "price must be positive"),
        (stop("STOP_MARKET", "SELL", "0.1", "64000", instruction="POST_ONLY"), VALIDATION, "POST_ONLY"),
        (stop("STOP_MARKET", "SELL", "0.1", "64000.05"), ErrorCode.INVALID_PRICE_PRECISION, "trigger_price"),
        (stop("STOP_MARKET", "SELL", "0.1", "-1"), VALIDATION, "trigger_price must be positive"),
        (stop("STOP_MARKET", "SELL", "0", "64000", flags=["REDUCE_ONLY"]), SIZE, "size"),
        (stop("STOP_LOSS_MARKET", "SELL", "0", "64000"), SIZE, "size"),
    ],
)
def test_invalid_stop_orders_are_refused_naming_the_rule(
    req: OrderRequest, code: ErrorCode, text: str
) -> None:
    ex = exchange()
    with pytest.raises(EngineError, match=text) as err:
        ex.submit_order("u", req, 1_000)
    assert err.value.error_code is code


def test_cancelled_untriggered_stop_leaves_the_trigger_queue() -> None:
    ex = exchange()
    book(ex)
    view = ex.submit_order("u", stop("STOP_MARKET", "SELL", "0.1", "64900"), 1_000)
    ex.process(1_001)
    ex.cancel("u", view.id, now_ms=1_002)
    events = ex.process(1_003)
    assert [(str(o.status), str(o.cancel_reason)) for o in order_updates(events, view.id)] == [
        ("CLOSED", "USER_CANCELED")]
    assert len(ex.stops[BTC]) == 0
    events = ex.set_mark_price(BTC, "64000", 1_004)
    assert not order_updates(events, view.id) and ex.positions("u") == []


def test_modify_untriggered_moves_its_trigger_and_size() -> None:
    ex = exchange()
    book(ex)
    view = ex.submit_order("u", stop("STOP_MARKET", "SELL", "0.1", "64900"), 1_000)
    ex.process(1_001)
    ex.modify("u", view.id, side="SELL", type="STOP_MARKET", size="0.2", price="0", trigger_price="64500",
              now_ms=1_002)
    events = ex.process(1_003)
    modified = order_updates(events, view.id)[-1]
    assert modified.status is Status.UNTRIGGERED and modified.trigger_price == D("64500")
    assert modified.size == D("0.2") and modified.remaining_size == D("0.2")
    with pytest.raises(EngineError, match="price must be 0"):
        ex.modify("u", view.id, side="SELL", type="STOP_MARKET", size="0.2", price="1", now_ms=1_004)
    assert not order_updates(ex.set_mark_price(BTC, "64800", 1_004), view.id)  # the old trigger
    fired = order_updates(ex.set_mark_price(BTC, "64500", 1_005), view.id)
    assert fired[0].status is Status.OPEN


def test_a_stop_is_modifiable_only_after_its_risk_step_and_with_its_own_type() -> None:
    ex = exchange()
    book(ex)
    view = ex.submit_order("u", stop("STOP_MARKET", "SELL", "0.1", "64900"), 1_000)
    with pytest.raises(EngineError) as err:
        ex.modify("u", view.id, side="SELL", type="STOP_MARKET", size="0.2", price="0", now_ms=1_000)
    assert err.value.error_code is ErrorCode.ORDER_IS_NOT_OPEN
    ex.process(1_001)
    with pytest.raises(EngineError, match="side and type"):
        ex.modify("u", view.id, side="SELL", type="MARKET", size="0.2", price="0", now_ms=1_002)


def test_reduce_only_stop_on_a_flat_position_closes_at_trigger_and_caps_at_the_position() -> None:
    ex = exchange()
    book(ex)
    flat = ex.submit_order("u", stop("STOP_MARKET", "SELL", "1", "64900", flags=["REDUCE_ONLY"]), 1_000)
    ex.process(1_001)
    assert ex.get_order("u", flat.id).status is Status.UNTRIGGERED  # accepted: a bracket leg
    ex.set_mark_price(BTC, "64900", 1_002)
    closed = ex.get_order("u", flat.id)
    assert closed.status is Status.CLOSED and closed.cancel_reason is CancelReason.REDUCE_ONLY_WOULD_INCREASE
    ex.set_mark_price(BTC, None, 1_003)
    place(ex, "u", market("BUY", "0.3"), now=1_004)  # long 0.3
    capped = ex.submit_order("u", stop("STOP_MARKET", "SELL", "1", "64900", flags=["REDUCE_ONLY"]), 1_005)
    ex.process(1_006)
    ex.set_mark_price(BTC, "64900", 1_007)
    assert ex.positions("u")[0].size == 0
    assert ex.get_order("u", capped.id).remaining_size == D("0.7")


def test_position_sized_take_profit_closes_the_whole_position_when_triggered() -> None:
    ex = exchange()
    book(ex)
    place(ex, "u", market("BUY", "0.25"), now=1_000)
    req = stop("TAKE_PROFIT_MARKET", "SELL", "0", "65200", flags=["REDUCE_ONLY"])
    view = ex.submit_order("u", req, 1_001)
    assert view.size == 0 and "STOP_CONDITION_ABOVE_TRIGGER" in view.flags
    ex.process(1_002)
    assert ex.get_order("u", view.id).status is Status.UNTRIGGERED
    events = ex.set_mark_price(BTC, "65200", 1_003)
    final = order_updates(events, view.id)[-1]
    assert final.size == D("0.25") and final.status is Status.CLOSED and final.remaining_size == 0
    assert ex.positions("u")[0].size == 0


def test_untriggered_stops_are_not_margin_exposure_but_their_child_is_risk_checked() -> None:
    ex = exchange()
    book(ex)
    ex.set_balance("poor", "50", 1_000)
    big = ex.submit_order("poor", stop("STOP_LIMIT", "BUY", "50", "65500", price="65600"), 1_000)
    ex.process(1_001)
    assert ex.get_order("poor", big.id).status is Status.UNTRIGGERED
    assert ex.account_summary("poor").initial_margin_requirement == 0
    assert ex.account_summary("poor").free_collateral == D("50")
    ex.set_mark_price(BTC, "65500", 1_002)
    rejected = ex.get_order("poor", big.id)
    assert rejected.status is Status.CLOSED and rejected.cancel_reason is CancelReason.NOT_ENOUGH_MARGIN


def test_untriggered_stops_count_toward_the_open_orders_cap() -> None:
    ex = Exchange([replace(m, max_open_orders=2) for m in default_markets()])
    ids = [place(ex, "u", stop("STOP_MARKET", "SELL", "0.01", str(64000 - i)))[0].id for i in range(3)]
    got = [ex.get_order("u", i).status for i in ids]
    assert got == [Status.UNTRIGGERED, Status.UNTRIGGERED, Status.CLOSED]
    assert ex.get_order("u", ids[2]).cancel_reason is CancelReason.MAX_OPEN_ORDERS_EXCEEDED


def test_one_stop_filling_moves_the_mark_and_triggers_the_next_in_the_same_step() -> None:
    ex = exchange()
    place(ex, "mm", limit("BUY", "1", "64990"))
    place(ex, "mm", limit("BUY", "0.5", "64800"))
    place(ex, "mm", limit("BUY", "5", "64000"))
    place(ex, "mm", limit("SELL", "5", "65010"))
    first = ex.submit_order("a", stop("STOP_MARKET", "SELL", "0.5", "64920"), 1_000)
    second = ex.submit_order("b", stop("STOP_MARKET", "SELL", "0.1", "64600"), 1_000)
    ex.process(1_001)
    # the taker empties 64990: mark 64905 fires `first`, whose sale empties 64800: mark 64505
    _, events = place(ex, "t", market("SELL", "1"), now=1_002)
    order_ids = [e.order.id for e in events if isinstance(e, OrderUpdate)]
    assert order_ids.index(first.id) < order_ids.index(second.id)
    assert ex.get_order("a", first.id).status is Status.CLOSED
    assert ex.get_order("b", second.id).status is Status.CLOSED
    assert ex.positions("b")[0].size == D("-0.1")


def test_unpinning_the_mark_rechecks_triggers_against_the_book() -> None:
    ex = exchange()
    book(ex)
    view = ex.submit_order("u", stop("STOP_MARKET", "BUY", "0.1", "65100"), 1_000)
    ex.process(1_001)
    assert not order_updates(ex.set_mark_price(BTC, "64000", 1_002), view.id)
    place(ex, "mm", limit("SELL", "1", "65300"), now=1_003)
    place(ex, "mm", limit("BUY", "1", "65000"), now=1_004)  # book mid now 65005: pinned 64000 rules
    assert ex.get_order("u", view.id).status is Status.UNTRIGGERED
    ex.cancel_all("mm", now_ms=1_005)
    ex.process(1_006)
    place(ex, "mm", limit("BUY", "1", "65190"), now=1_007)
    place(ex, "mm", limit("SELL", "1", "65210"), now=1_008)
    assert order_updates(ex.set_mark_price(BTC, None, 1_009), view.id)[0].status is Status.OPEN
