"""Pure core of the commands service: validation rules, limits, token bucket, ids, strategies."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.commands.core.bucket import TokenBucket
from services.commands.core.ids import new_client_id
from services.commands.core.risk import Exposure, LiveOrder, check_cancel, check_limits
from services.commands.core.rules import Intent, check_client_id, check_modify, check_order, check_system
from services.commands.core.strategies import Strategies, Strategy
from shared.errors import ConfigError
from shared.paradex.models.reference import Market

BTC = Market(
    symbol="BTC-USD-PERP",
    price_tick_size=D("0.1"),
    order_size_increment=D("0.001"),
    min_notional=D(10),
    max_order_size=D(100),
    open_at=1,
    expiry_at=0,
)
NOW = 1_700_000_000_000


def intent(**kw: object) -> Intent:
    base: dict[str, object] = {
        "market": "BTC-USD-PERP",
        "side": "BUY",
        "type": "LIMIT",
        "size": D("0.01"),
        "price": D("60000"),
    }
    base.update(kw)
    return Intent(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kw", "market", "error", "rule"),
    [
        ({"price": D("60000.05")}, BTC, "PRICE_NOT_ON_TICK", "tick_size"),
        ({"size": D("0.0015")}, BTC, "SIZE_NOT_ON_INCREMENT", "size_increment"),
        ({"size": D("101")}, BTC, "SIZE_ABOVE_MAX", "max_order_size"),
        ({"size": D("0.001"), "price": D("100")}, BTC, "NOTIONAL_BELOW_MIN", "min_notional"),
        ({"price": None}, BTC, "PRICE_REQUIRED", "price"),
        ({"price": D("-1")}, BTC, "PRICE_NOT_POSITIVE", "price"),
        ({"size": D("0")}, BTC, "SIZE_NOT_POSITIVE", "size"),
        ({"type": "STOP_LIMIT"}, BTC, "TRIGGER_PRICE_REQUIRED", "trigger_price"),
        ({}, None, "MARKET_NOT_FOUND", "market"),
        ({}, Market(symbol="BTC-USD-PERP", open_at=NOW + 1), "MARKET_NOT_OPEN", "market_open"),
        ({}, Market(symbol="BTC-USD-PERP", expiry_at=NOW - 1), "MARKET_NOT_OPEN", "market_open"),
    ],
)
def test_each_market_rule_broken_is_named(
    kw: dict[str, object], market: Market | None, error: str, rule: str
) -> None:
    v = check_order(intent(**kw), market, NOW)
    assert v is not None and (v.error, v.rule, v.status) == (error, rule, 422)


def test_valid_limit_and_market_orders_pass() -> None:
    assert check_order(intent(), BTC, NOW) is None
    assert check_order(intent(type="MARKET", price=None), BTC, NOW) is None


@given(ticks=st.integers(1, 10**7), frac=st.integers(1, 9))
@settings(max_examples=100)
def test_price_is_on_tick_exactly_when_a_multiple(ticks: int, frac: int) -> None:
    assert check_order(intent(price=D(ticks) * D("0.1"), size=D(100)), BTC, NOW) is None
    off = D(ticks) * D("0.1") + D(frac) / 100
    v = check_order(intent(price=off, size=D(100)), BTC, NOW)
    assert v is not None and v.error == "PRICE_NOT_ON_TICK"


@pytest.mark.parametrize(
    ("status", "instruction", "error"),
    [
        ("cancel_only", "POST_ONLY", "SYSTEM_STATUS_CANCEL_ONLY"),
        ("maintenance", "GTC", "SYSTEM_STATUS_CANCEL_ONLY"),
        ("post_only", "GTC", "SYSTEM_STATUS_POST_ONLY"),
        ("post_only", "POST_ONLY", None),
        ("ok", "GTC", None),
    ],
)
def test_system_state_rules(status: str, instruction: str, error: str | None) -> None:
    v = check_system(status, intent(instruction=instruction))
    assert (v.error if v else None) == error
    assert check_system(status, None) is None  # cancels always pass


@pytest.mark.parametrize("cid", ["", "x" * 65, "has space", "slash/no"])
def test_bad_client_ids_are_refused(cid: str) -> None:
    assert check_client_id(cid) is not None


def test_generated_client_ids_are_unique_prefixed_and_short() -> None:
    ids = {new_client_id("a" * 24) for _ in range(1000)}
    assert len(ids) == 1000
    assert all(i.startswith("a" * 24 + "-") and len(i) <= 64 and check_client_id(i) is None for i in ids)


MM = Strategy(
    name="mm",
    token="t" * 16,
    markets=("BTC-USD-PERP",),
    max_order_notional=D(10_000),
    max_open_orders_per_market=2,
    max_position=D(1),
)


@pytest.mark.parametrize(
    ("kw", "exposure", "error"),
    [
        ({"market": "ETH-USD-PERP"}, Exposure(), "MARKET_NOT_ALLOWED"),
        ({"size": D("0.2")}, Exposure(), "ORDER_NOTIONAL_ABOVE_LIMIT"),
        ({"type": "MARKET", "price": None}, Exposure(), "NO_REFERENCE_PRICE"),
        (
            {},
            Exposure(orders={c: LiveOrder(c, "BTC-USD-PERP", "SELL", D(1), "mm") for c in "ab"}),
            "OPEN_ORDERS_LIMIT",
        ),
        ({}, Exposure(positions={"BTC-USD-PERP": D("0.995")}), "POSITION_LIMIT"),
        (
            {},
            Exposure(orders={"a": LiveOrder("a", "BTC-USD-PERP", "BUY", D("0.995"), "other")}),
            "POSITION_LIMIT",
        ),
    ],
)
def test_limits_broken_give_403_with_reason(kw: dict[str, object], exposure: Exposure, error: str) -> None:
    v = check_limits(MM, intent(**kw), exposure)
    assert v is not None and v.error == error and v.status == 403 and v.message


def test_limits_pass_within_bounds_and_other_strategies_orders_do_not_count() -> None:
    exposure = Exposure(
        orders={c: LiveOrder(c, "BTC-USD-PERP", "SELL", D(1), "other") for c in "abc"},
        positions={"BTC-USD-PERP": D("0.5")},
    )
    assert check_limits(MM, intent(), exposure) is None
    assert (
        check_limits(
            MM,
            intent(side="SELL", size=D("0.01")),
            Exposure(positions={"BTC-USD-PERP": D(-1)}),
        )
        is not None
    )
    assert (
        check_limits(
            MM, intent(side="SELL", flags=("REDUCE_ONLY",)), Exposure(positions={"BTC-USD-PERP": D(-1)})
        )
        is None
    )


def test_cancel_ownership() -> None:
    assert check_cancel(MM, "mm") is None
    assert check_cancel(MM, "other") is not None
    assert check_cancel(MM, None) is not None
    boss = Strategy(name="boss", token="b" * 16, can_cancel_others=True)
    assert check_cancel(boss, "mm") is None


def test_token_bucket_refills_continuously_and_says_how_long_to_wait() -> None:
    b = TokenBucket(rate=10, burst=2, now=0.0)
    assert b.take(0.0) == 0.0 and b.take(0.0) == 0.0
    assert b.take(0.0) == pytest.approx(0.1)
    assert b.take(0.05) == pytest.approx(0.05)
    assert b.take(0.1) == 0.0
    b.refund()
    assert b.take(0.1) == 0.0


def test_strategies_authenticate_by_bearer_token_only() -> None:
    s = Strategies.parse(
        '[{"name":"mm","token":"' + "s" * 20 + '","markets":["BTC-USD-PERP"],"max_order_notional":"100"}]'
    )
    found = s.authenticate("Bearer " + "s" * 20)
    assert found is not None and found.name == "mm" and found.max_order_notional == D(100)
    assert s.authenticate("Bearer " + "s" * 19) is None
    assert s.authenticate(None) is None
    assert s.authenticate("s" * 20) is None
    assert "s" * 20 not in repr(found)


@pytest.mark.parametrize(
    "raw",
    [
        '[{"name":"a b","token":"' + "x" * 16 + '"}]',
        '[{"name":"a","token":"short"}]',
        '[{"name":"a","token":"' + "x" * 16 + '"},{"name":"a","token":"' + "y" * 16 + '"}]',
        '[{"name":"a","token":"' + "x" * 16 + '","bogus":1}]',
        "not json",
    ],
)
def test_bad_strategy_config_stops_startup(raw: str) -> None:
    with pytest.raises(ConfigError):
        Strategies.parse(raw)


def test_check_modify_refuses_a_changed_side_type_or_market_and_skips_unknown_fields() -> None:
    new = Intent(market="BTC-USD-PERP", side="BUY", type="LIMIT", size=D("1"), price=D("1"))
    assert check_modify("BTC-USD-PERP", "BUY", "LIMIT", new) is None
    assert check_modify("", "", "", new) is None
    v = check_modify("BTC-USD-PERP", "SELL", "LIMIT", new)
    assert v is not None and (v.error, v.status) == ("MODIFY_SIDE_MISMATCH", 422)
    v = check_modify("BTC-USD-PERP", "BUY", "STOP_LIMIT", new)
    assert v is not None and v.error == "MODIFY_TYPE_MISMATCH"
    v = check_modify("ETH-USD-PERP", "BUY", "LIMIT", new)
    assert v is not None and v.error == "MODIFY_MARKET_MISMATCH"
