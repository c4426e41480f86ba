"""Conformance of the Paradex models with the official spec files (skipped when they are absent).

Two checks per (spec schema, model) pair:
1. every spec property exists on the model (field for field) and the model's required fields are
   exactly the spec's ``required`` list, minus the relaxations documented below;
2. an instance built from the schema's ``example`` values decodes into the model and every
   example value comes back equal (decimals compared as Decimal).

Spec quirks handled here (documented, not hidden):
- AsyncAPI writes integer examples as strings (``created_at: "1681497002041"``) and two address
  examples as integers (``account: 2073967...``): examples are coerced to the schema's ``type``.
- Array examples broken by the doc generator (FillResult.flags ``'["interactive", "rpi"]'`` as a
  string; CancelOrderBatchRequest ids ``['["order-id-1"', '"order-id-2"]']``) are replaced by a
  clean list and listed in BROKEN_EXAMPLES.
- OpenAPI response schemas have no ``required`` lists: our required fields there are the
  identity fields in REST_REQUIRED.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from shared.paradex.models import (
    Account,
    AlgoOrder,
    AlgoOrderRequest,
    ApiError,
    AuthResponse,
    Balance,
    BalanceEvent,
    BatchOrderResponse,
    Bbo,
    BookUpdate,
    BridgedToken,
    CancelBatchRequest,
    CancelBatchResponse,
    CancelOrderResult,
    Delta1CrossMarginParams,
    FeeWithCap,
    Fill,
    FundingData,
    FundingPayment,
    Greeks,
    Liquidation,
    MakerTakerFee,
    Market,
    MarketFeeConfig,
    MarketSummary,
    ModifyOrderRequest,
    OnboardingCheck,
    OptionCrossMarginParams,
    OptionMarginParams,
    Order,
    OrderBook,
    OrderRequest,
    Position,
    RequestInfo,
    RollingDetails,
    SystemConfig,
    SystemState,
    SystemTime,
    Trade,
    Tradebust,
    decode,
)
from tests.spec import load_spec

pytestmark = pytest.mark.spec

OPENAPI: dict[str, type[Any]] = {
    "responses.SystemConfigResponse": SystemConfig,
    "responses.BridgedToken": BridgedToken,
    "responses.SystemTimeResponse": SystemTime,
    "responses.SystemStateResponse": SystemState,
    "responses.MarketResp": Market,
    "responses.Delta1CrossMarginParams": Delta1CrossMarginParams,
    "responses.MarketFeeConfig": MarketFeeConfig,
    "responses.MakerTakerFee": MakerTakerFee,
    "responses.FeeWithCap": FeeWithCap,
    "responses.OptionCrossMarginParams": OptionCrossMarginParams,
    "responses.OptionMarginParams": OptionMarginParams,
    "responses.MarketSummaryResp": MarketSummary,
    "responses.Greeks": Greeks,
    "responses.RollingDetailsResp": RollingDetails,
    "responses.AskBidArray": OrderBook,
    "responses.BBOResp": Bbo,
    "responses.TradeResult": Trade,
    "responses.OrderResp": Order,
    "responses.RequestInfo": RequestInfo,
    "responses.FillResult": Fill,
    "responses.PositionResp": Position,
    "responses.AccountSummaryResponse": Account,
    "responses.BalanceResp": Balance,
    "responses.AuthResp": AuthResponse,
    "responses.GetOnboardingResp": OnboardingCheck,
    "responses.ApiError": ApiError,
    "responses.ErrorResponse": ApiError,
    "responses.BatchResponse": BatchOrderResponse,
    "responses.CancelOrderBatchResponse": CancelBatchResponse,
    "responses.CancelOrderResult": CancelOrderResult,
    "responses.TradebustResult": Tradebust,
    "responses.FundingDataResult": FundingData,
    "requests.OrderRequest": OrderRequest,
    "requests.ModifyOrderRequest": ModifyOrderRequest,
    "requests.CancelOrderBatchRequest": CancelBatchRequest,
    "responses.AlgoOrderResp": AlgoOrder,
    "requests.AlgoOrderRequest": AlgoOrderRequest,
    "responses.FundingPayment": FundingPayment,
    "responses.LiquidationResp": Liquidation,
}
ASYNCAPI: dict[str, type[Any]] = {
    "ResponsesPriceBookUpdate": BookUpdate,
    "ResponsesBBOResp": Bbo,
    "ResponsesTradeResult": Trade,
    "ResponsesMarketSummaryResp": MarketSummary,
    "ResponsesFundingDataResult": FundingData,
    "ResponsesOrderResp": Order,
    "ResponsesFillResult": Fill,
    "ResponsesPositionResp": Position,
    "ResponsesAccountSummaryResponse": Account,
    "ResponsesBalanceEventResponse": BalanceEvent,
    "ResponsesTradebustResult": Tradebust,
    "ResponsesFundingPayment": FundingPayment,
}
# Spec-required fields we deliberately give a default (reason on the model's docstring).
RELAXED: dict[type[Any], set[str]] = {
    Order: {"stp"},  # OpenRPC order results omit it
    Account: {"last_seen_notification"},  # UI notification marker, recently added
    Bbo: {"bid", "bid_size", "ask", "ask_size"},  # "" when a book side is empty (or left out)
    OrderRequest: {"price"},  # the SDK omits it for MARKET orders and the venue accepts that
    BalanceEvent: {"fill_id", "market", "funding_index", "realized_pnl", "fees", "realized_funding"},
}
# Models whose only spec is an OpenAPI response schema (no required list): what we require.
REST_REQUIRED: dict[type[Any], set[str]] = {
    SystemConfig: {"starknet_chain_id"},
    SystemTime: {"server_time"},
    SystemState: {"status"},
    Market: {"symbol"},
    OrderBook: {"market", "seq_no", "last_updated_at", "bids", "asks"},
    Balance: {"token", "size"},
    AuthResponse: {"jwt_token"},
    OnboardingCheck: {"exists"},
    ApiError: {"error"},
    CancelOrderResult: {"status"},
    CancelBatchResponse: {"results"},
    RequestInfo: {"id", "status", "message", "request_type"},  # AsyncAPI nested schema requires all
    Greeks: {"delta", "gamma", "vega"},  # AsyncAPI nested schema
    AlgoOrder: {"id", "market", "side", "size", "remaining_size", "status"},
    Liquidation: {"id", "created_at"},
}
BROKEN_EXAMPLES: dict[tuple[str, str], Any] = {
    ("responses.FillResult", "flags"): ["interactive", "rpi"],
    ("ResponsesFillResult", "flags"): ["interactive", "rpi"],
    ("requests.CancelOrderBatchRequest", "order_ids"): ["order-id-1", "order-id-2"],
    ("requests.CancelOrderBatchRequest", "client_order_ids"): ["client-id-1", "client-id-2"],
    # AlgoOrderRequest.side documents the example "MARKET" (the order type) for an OrderSide
    ("requests.AlgoOrderRequest", "side"): "BUY",
}
# Required request fields without an example in the spec: realistic values.
FILLERS: dict[str, Any] = {
    "side": "BUY", "type": "LIMIT", "instruction": "GTC", "signature": '["1","2"]',
    "signature_timestamp": 1700000000000, "id": "1681462103821101699438490000", "status": "OPEN",
    "liquidity": "MAKER", "account": "0x1", "leverage": "", "liquidation_price": "",
    "funding_index": "0", "funding_premium": "0", "funding_rate": "0", "funding_rate_8h": "0",
    "funding_period_hours": 8, "created_at": 1681497002041, "market": "BTC-USD-PERP",
    "seq_no": 1, "last_updated_at": 1681497002041, "update_type": "d", "inserts": [],
    "updates": [], "deletes": [], "request_type": "MODIFY_ORDER", "message": "", "flags": [],
    "exists": True, "price": "29500.12", "size": "1.213", "error": "VALIDATION_ERROR",
    "bids": [], "asks": [], "results": [], "token": "USDC", "starknet_chain_id": "SN_CHAIN_ID",
    "jwt_token": "eyJ", "symbol": "BTC-USD-PERP", "server_time": "1681493415023",
}


def _spec_schemas(kind: str) -> dict[str, Any]:
    if kind == "openapi":
        return load_spec("openapi.json")["components"]["schemas"]  # type: ignore[no-any-return]
    return load_spec("asyncapi.yaml")["components"]["schemas"]  # type: ignore[no-any-return]


def _resolve(schemas: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        return _resolve(schemas, schemas[node["$ref"].rsplit("/", 1)[1]])
    if "allOf" in node and len(node["allOf"]) == 1:
        merged = {k: v for k, v in node.items() if k != "allOf"}
        return {**_resolve(schemas, node["allOf"][0]), **merged}
    return node


def _coerce(value: Any, typ: str | None) -> Any:
    if typ == "integer" and isinstance(value, str):
        return int(value)
    if typ == "string" and isinstance(value, int):
        return str(value)
    return value


def _example(schemas: dict[str, Any], name: str, node: dict[str, Any]) -> dict[str, Any]:
    """Build an instance from property examples; nested objects recurse; required gaps filled."""
    node = _resolve(schemas, node)
    out: dict[str, Any] = {}
    required = set(node.get("required", []))
    for prop, sub in node.get("properties", {}).items():
        if (name, prop) in BROKEN_EXAMPLES:
            out[prop] = BROKEN_EXAMPLES[(name, prop)]
            continue
        sub = _resolve(schemas, sub)
        if ("example" in sub and sub.get("type") != "array") or ("example" in sub and isinstance(
            sub["example"], list
        )):
            out[prop] = _coerce(sub["example"], sub.get("type"))
        elif sub.get("type") == "object" and "properties" in sub:
            nested = _example(schemas, f"{name}.{prop}", sub)
            if nested:  # a nested schema without any example is left out
                out[prop] = nested
        elif prop in required:
            out[prop] = FILLERS[prop]
    return out


def _pairs() -> list[tuple[str, str, type[Any]]]:
    return [("openapi", k, m) for k, m in OPENAPI.items()] + [("asyncapi", k, m) for k, m in ASYNCAPI.items()]


def _model_required(model: type[Any]) -> set[str]:
    return {f.encode_name for f in msgspec.structs.fields(model) if f.required}


def _required_pairs() -> list[tuple[str, str, type[Any]]]:
    # a model with an AsyncAPI payload schema is checked against that one (OpenAPI has no lists)
    ws_models = set(ASYNCAPI.values())
    return [p for p in _pairs() if not (p[0] == "openapi" and p[2] in ws_models)]


def _assert_matches(value: Any, expected: Any, where: str) -> None:
    if isinstance(value, msgspec.Struct):
        assert isinstance(expected, dict), where
        for key, sub in expected.items():
            _assert_matches(getattr(value, key), sub, f"{where}.{key}")
    elif isinstance(value, Decimal):
        assert value == Decimal(str(expected)), where
    elif isinstance(value, list) and value and isinstance(value[0], Decimal):
        assert value == [Decimal(x) for x in expected], where
    else:
        assert value == expected, where


@pytest.mark.parametrize(("kind", "name", "model"), _pairs(), ids=lambda x: x if isinstance(x, str) else "")
def test_every_spec_property_is_a_model_field(kind: str, name: str, model: type[Any]) -> None:
    schema = _resolve(_spec_schemas(kind), _spec_schemas(kind)[name])
    fields = set(model.__struct_fields__)
    missing = set(schema.get("properties", {})) - fields
    assert not missing, f"{model.__name__} lacks spec fields {sorted(missing)}"


@pytest.mark.parametrize(
    ("kind", "name", "model"), _required_pairs(), ids=lambda x: x if isinstance(x, str) else ""
)
def test_required_fields_match_spec_required_list(kind: str, name: str, model: type[Any]) -> None:
    schema = _resolve(_spec_schemas(kind), _spec_schemas(kind)[name])
    fields = model.__struct_fields__
    ours = _model_required(model)
    spec_required = set(schema.get("required", []))
    assert spec_required <= set(fields), f"spec-required fields missing: {spec_required - set(fields)}"
    if spec_required:
        assert ours == spec_required - RELAXED.get(model, set())
    else:
        assert ours == REST_REQUIRED.get(model, set()), f"{model.__name__} requires {sorted(ours)}"


@pytest.mark.parametrize(("kind", "name", "model"), _pairs(), ids=lambda x: x if isinstance(x, str) else "")
def test_spec_examples_decode_to_equal_values(kind: str, name: str, model: type[Any]) -> None:
    schemas = _spec_schemas(kind)
    example = _example(schemas, name, schemas[name])
    # OpenAPI response schemas list nothing as required and some properties have no example:
    # fill the fields our model requires with realistic values (FILLERS)
    for field in _model_required(model) - set(example):
        example[field] = FILLERS[field]
    obj = decode(model, json.dumps(example))
    _assert_matches(obj, example, f"{kind}:{name}")
