"""Private/account, request, reference and REST wrapper models: realistic payloads, round trips,
venue ``""`` numbers, tolerance of unknown fields and strictness of request bodies."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from shared.errors import DecodeError
from shared.paradex.models import (
    Account,
    ApiError,
    AuthResponse,
    Balance,
    BalanceEvent,
    BatchOrderResponse,
    CancelBatchRequest,
    CancelBatchResponse,
    Fill,
    Market,
    ModifyOrderRequest,
    Order,
    OrderRequest,
    Page,
    Position,
    Results,
    SystemConfig,
    SystemTime,
    Tradebust,
    decode,
    encode,
    opt_decimal,
)

ACCT = "0x495d2eb5236a12b8b4ad7d3849ce6a203ce21c43f473c248dfd5ce70d9454fa"
ORDER: dict[str, Any] = {
    "id": "1681462103821101699438490000", "client_id": "mm-1", "account": ACCT, "market": "BTC-USD-PERP",
    "side": "BUY", "type": "LIMIT", "size": "0.05", "remaining_size": "0.05", "price": "26000",
    "avg_fill_price": "", "status": "OPEN", "cancel_reason": "", "instruction": "GTC", "flags": [],
    "stp": "EXPIRE_TAKER", "created_at": 1681493746016, "last_updated_at": 1681493746020,
    "received_at": 1681493746010, "published_at": 1681493746021, "timestamp": 1681493746000,
    "seq_no": 1681493746020000000, "trigger_price": "0",
}
FILL: dict[str, Any] = {
    "id": "8615262148007718462", "order_id": "1681462103821101699438490000", "client_id": "mm-1",
    "account": ACCT, "market": "BTC-USD-PERP", "side": "BUY", "liquidity": "MAKER", "price": "26000",
    "size": "0.01", "remaining_size": "0.04", "fee": "-0.0052", "fee_currency": "USDC",
    "realized_pnl": "0", "realized_funding": "0", "fill_type": "FILL", "flags": ["rpi"],
    "underlying_price": "25990.1", "created_at": 1681375176910, "orderbook_seq_no": 12345,
}
POSITION: dict[str, Any] = {
    "id": f"{ACCT}-BTC-USD-PERP", "account": ACCT, "market": "BTC-USD-PERP", "status": "OPEN",
    "side": "SHORT", "size": "-0.345", "average_entry_price": "29001.34",
    "average_entry_price_usd": "29001.34",
    "average_exit_price": "0", "unrealized_pnl": "-123.23", "unrealized_funding_pnl": "12.234",
    "cost": "-10005.4623", "cost_usd": "-10005.4623", "cached_funding_index": "1234.3",
    "last_fill_id": "1234234", "seq_no": 1718950074249176253, "liquidation_price": "", "leverage": "",
    "realized_positional_pnl": "-123.23", "realized_positional_funding_pnl": "12.234",
    "created_at": 1681493939981, "last_updated_at": 1681493939981, "closed_at": 0,
}
ACCOUNT: dict[str, Any] = {
    "account": ACCT, "account_value": "136285.06918911", "total_collateral": "123003.62047353",
    "free_collateral": "73276.47229774", "initial_margin_requirement": "63008.59689218",
    "maintenance_margin_requirement": "31597.25239676", "margin_cushion": "104687.8167956",
    "settlement_asset": "USDC", "status": "ACTIVE", "updated_at": 1681471234972,
    "last_seen_notification": 1713400000000, "seq_no": 1681471234972000000,
}
BALANCE_EVENT: dict[str, Any] = {
    "type": "TRANSACTION_FILL", "fill_id": "8615262148007718462", "market": "ETH-USD-PERP",
    "status": "ON_BLOCKCHAIN", "settlement_asset_name": "USDC", "settlement_asset_address": "0x1234567890",
    "settlement_asset_balance_before": "1000.5", "settlement_asset_balance_after": "1000.25",
    "settlement_asset_price": "1", "funding_index": "0.1", "realized_pnl": "0", "fees": "0.25",
    "realized_funding": "0", "created_at": 1681497002041,
}
TRADEBUST: dict[str, Any] = {"account": ACCT, "busted_fill_id": "12342345", "created_at": 1681497002041}
ORDER_REQUEST: dict[str, Any] = {
    "market": "BTC-USD-PERP", "side": "BUY", "type": "LIMIT", "size": "0.01", "price": "30000.5",
    "instruction": "POST_ONLY", "client_id": "mm-1", "signature_timestamp": 1700000000000,
    "signature": '["3098","3506"]',
}
MARKET: dict[str, Any] = {
    "symbol": "BTC-USD-PERP", "base_currency": "BTC", "quote_currency": "USD", "settlement_currency": "USDC",
    "asset_kind": "PERP", "market_kind": "cross", "price_tick_size": "0.1", "order_size_increment": "0.001",
    "min_notional": "10", "max_order_size": "100", "position_limit": "500", "max_open_orders": 100,
    "funding_period_hours": 8, "funding_multiplier": 1, "open_at": 0, "expiry_at": 0, "tags": [],
    "delta1_cross_margin_params": {
        "imf_base": "0.11", "imf_factor": "0", "imf_shift": "0", "mmf_factor": "0.51"},
    "fee_config": {"api_fee": {"maker_fee": {"fee": "-0.00005"}, "taker_fee": {"fee": "0.0003"}}},
    "strike_price": "", "option_type": "",
}

CASES: list[tuple[type[Any], dict[str, Any]]] = [
    (Order, ORDER), (Fill, FILL), (Position, POSITION), (Account, ACCOUNT), (BalanceEvent, BALANCE_EVENT),
    (Tradebust, TRADEBUST), (OrderRequest, ORDER_REQUEST), (Market, MARKET),
]


@pytest.mark.parametrize(("model", "payload"), CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_round_trip_gives_the_venue_json_back(model: type[Any], payload: dict[str, Any]) -> None:
    obj = decode(model, json.dumps(payload))
    assert decode(model, encode(obj)) == obj
    wire = json.loads(encode(obj))
    # fields equal to their default ("" / []) are omitted on encode; everything else is identical
    assert wire == {k: v for k, v in payload.items() if k in wire}
    assert all(payload[k] in ("", []) for k in set(payload) - set(wire))


@pytest.mark.parametrize(("model", "payload"), CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_unknown_fields_are_tolerated(model: type[Any], payload: dict[str, Any]) -> None:
    extended = {**payload, "new_venue_field": [1]}
    assert decode(model, json.dumps(extended)) == decode(model, json.dumps(payload))


def test_order_empty_avg_fill_price_reads_as_none_and_values_are_exact() -> None:
    order = decode(Order, json.dumps(ORDER))
    assert order.avg_fill_price_value is None
    assert order.trigger_price_value == Decimal("0")
    assert order.size == Decimal("0.05") and order.seq_no == 1681493746020000000
    filled = decode(Order, json.dumps({**ORDER, "avg_fill_price": "26000.5", "status": "SOME_NEW_STATUS"}))
    assert filled.avg_fill_price_value == Decimal("26000.5")
    assert filled.status == "SOME_NEW_STATUS"  # unknown enum values never break the feed


def test_position_blank_liquidation_price_and_leverage() -> None:
    pos = decode(Position, json.dumps(POSITION))
    assert pos.liquidation_price_value is None and pos.leverage_value is None
    pos2 = decode(Position, json.dumps({**POSITION, "liquidation_price": "41000.2", "leverage": "5"}))
    assert pos2.liquidation_price_value == Decimal("41000.2") and pos2.leverage_value == Decimal("5")


def test_opt_decimal_rejects_garbage_with_decode_error() -> None:
    with pytest.raises(DecodeError):
        opt_decimal("abc")


@pytest.mark.parametrize(
    ("model", "payload", "change", "field"),
    [
        (Order, ORDER, {"size": "0.0.5"}, "$.size"),
        (Order, ORDER, {"seq_no": "x"}, "$.seq_no"),
        (Fill, FILL, {"fee": None}, "$.fee"),
        (Position, POSITION, {"size": []}, "$.size"),
        (Account, ACCOUNT, {"updated_at": 1.5}, "$.updated_at"),
        (BalanceEvent, BALANCE_EVENT, {"settlement_asset_price": "1e"}, "$.settlement_asset_price"),
    ],
)
def test_malformed_values_name_the_field(
    model: type[Any], payload: dict[str, Any], change: dict[str, Any], field: str
) -> None:
    with pytest.raises(DecodeError) as err:
        decode(model, json.dumps({**payload, **change}))
    assert err.value.field == field


@pytest.mark.parametrize("missing", ["id", "remaining_size", "flags", "trigger_price"])
def test_order_missing_required_field_is_named(missing: str) -> None:
    with pytest.raises(DecodeError) as err:
        decode(Order, json.dumps({k: v for k, v in ORDER.items() if k != missing}))
    assert err.value.field == f"$.{missing}"


def test_balance_event_for_non_fill_event_without_fill_fields_decodes() -> None:
    fill_only = {"fill_id", "market", "funding_index", "realized_pnl", "fees", "realized_funding"}
    ev = decode(BalanceEvent, json.dumps({k: v for k, v in BALANCE_EVENT.items() if k not in fill_only}))
    assert ev.fill_id == "" and ev.fees is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"side": "buy"}, "$.side"),
        ({"type": "ICEBERG"}, "$.type"),
        ({"instruction": "FOK"}, "$.instruction"),
        ({"stp": "EXPIRE_NONE"}, "$.stp"),
        ({"flags": ["REDUCE_ONLY", "NOPE"]}, "$.flags[1]"),
        ({"client_id": "x" * 65}, "$.client_id"),
        ({"recv_window": 5}, "$.recv_window"),
        ({"price": "cheap"}, "$.price"),
    ],
)
def test_order_request_is_strict(change: dict[str, Any], field: str) -> None:
    with pytest.raises(DecodeError) as err:
        decode(OrderRequest, json.dumps({**ORDER_REQUEST, **change}))
    assert err.value.field == field


def test_order_request_optional_fields_are_omitted_not_null() -> None:
    req = OrderRequest(market="BTC-USD-PERP", side="SELL", type="MARKET", size=Decimal("0.5"),
                       price=Decimal("0"), instruction="IOC", signature='["1","2"]',
                       signature_timestamp=1700000000000, flags=["REDUCE_ONLY"])
    body = json.loads(encode(req))
    assert body == {"market": "BTC-USD-PERP", "side": "SELL", "type": "MARKET", "size": "0.5", "price": "0",
                    "instruction": "IOC", "signature": '["1","2"]', "signature_timestamp": 1700000000000,
                    "flags": ["REDUCE_ONLY"]}


def test_modify_and_cancel_batch_requests_round_trip() -> None:
    mod = ModifyOrderRequest(id="1", market="BTC-USD-PERP", side="BUY", type="LIMIT", size=Decimal("0.02"),
                             price=Decimal("29600.00"), signature='["1","2"]', signature_timestamp=1)
    assert decode(ModifyOrderRequest, encode(mod)) == mod
    assert json.loads(encode(mod))["price"] == "29600.00"
    cb = decode(CancelBatchRequest, b'{"order_ids":["111","222"]}')
    assert cb.order_ids == ["111", "222"] and cb.client_order_ids == []


def test_rest_wrappers_decode_typed_items() -> None:
    page = decode(Page[Fill], json.dumps({"next": "eyJmaWx0", "prev": None, "results": [FILL]}))
    assert page.next == "eyJmaWx0" and page.prev is None and page.results[0].fee == Decimal("-0.0052")
    res = decode(Results[Balance], b'{"results":[{"token":"USDC","size":"123003.620","last_updated_at":1}]}')
    assert res.results == [Balance(token="USDC", size=Decimal("123003.620"), last_updated_at=1)]
    with pytest.raises(DecodeError) as err:
        decode(Results[Position], json.dumps({"results": [POSITION, {**POSITION, "cost": "?"}]}))
    assert err.value.field == "$.results[1].cost"


def test_batch_cancel_error_and_auth_bodies() -> None:
    batch = decode(BatchOrderResponse, json.dumps({"orders": [ORDER], "errors": [
        {"error": "INVALID_ORDER_SIZE", "message": "size too small"}]}))
    assert batch.orders[0].id == ORDER["id"] and batch.errors[0].error == "INVALID_ORDER_SIZE"
    cancel = decode(CancelBatchResponse, b'{"results":[{"id":"1","market":"BTC-USD-PERP",'
                                         b'"status":"QUEUED_FOR_CANCELLATION"},{"id":"2","status":"NOT_FOUND"}]}')
    assert [r.status for r in cancel.results] == ["QUEUED_FOR_CANCELLATION", "NOT_FOUND"]
    err = decode(ApiError, b'{"error":"NOT_ONBOARDED","message":"User has never called /onboarding endpoint",'
                           b'"data":null}')
    assert err.error == "NOT_ONBOARDED" and err.data is None
    assert decode(AuthResponse, b'{"jwt_token":"eyJ.a.b"}').jwt_token == "eyJ.a.b"


def test_reference_models() -> None:
    market = decode(Market, json.dumps(MARKET))
    assert market.price_tick_size == Decimal("0.1") and market.funding_period_hours == 8
    assert market.delta1_cross_margin_params is not None
    assert market.delta1_cross_margin_params.mmf_factor == Decimal("0.51")
    assert market.fee_config is not None and market.fee_config.api_fee is not None
    assert market.fee_config.api_fee.maker_fee is not None
    assert market.fee_config.api_fee.maker_fee.fee == Decimal("-0.00005")
    cfg = decode(SystemConfig, b'{"starknet_chain_id":"PRIVATE_SN_PARACLEAR_MAINNET","paraclear_decimals":8}')
    assert cfg.starknet_chain_id == "PRIVATE_SN_PARACLEAR_MAINNET" and cfg.paraclear_decimals == 8
    assert decode(SystemTime, b'{"server_time":"1681493415023"}').server_time_ms == 1681493415023


def test_account_without_last_seen_notification_decodes_and_encodes_it_as_zero() -> None:
    bare = {k: v for k, v in ACCOUNT.items() if k != "last_seen_notification"}
    account = decode(Account, json.dumps(bare))
    assert account.last_seen_notification == 0
    # the spec lists it as required: written even when it equals the default
    assert json.loads(encode(account)) == {**bare, "last_seen_notification": 0}


def test_fill_with_empty_underlying_price_decodes_with_no_value() -> None:
    fill = decode(Fill, json.dumps({**FILL, "underlying_price": ""}))
    assert fill.underlying_price == "" and fill.underlying_price_value is None
    assert decode(Fill, json.dumps(FILL)).underlying_price_value == Decimal(FILL["underlying_price"])
    with pytest.raises(DecodeError) as err:
        decode(Fill, json.dumps({**FILL, "underlying_price": "n/a"}))
    assert err.value.field == "$.underlying_price"
