"""TWAP algo orders in the commands service, pure parts: the validation rules, the signed body
against the venue's spec field for field, and the stop/take-profit order rules."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import msgspec
import pytest

from services.commands.algo import PlaceAlgo, check_algo
from services.commands.core.exposure import ExposureBook
from services.commands.core.place import Context
from services.commands.core.rules import Intent, Violation, check_order
from services.commands.core.strategies import Strategy
from shared.paradex.models.reference import Market
from shared.paradex.rest import ParadexRest
from shared.paradex.signer import OrderSigner, order_hash, verify_signature
from tests.spec import load_spec

M = "BTC-USD-PERP"
NOW = 1_700_000_000_000
BTC = Market(symbol=M, price_tick_size=D("0.1"), order_size_increment=D("0.001"), min_notional=D(10),
             max_order_size=D(1), open_at=1, expiry_at=0)
MM = Strategy(name="mm", token="t" * 20, markets=(M,), max_order_notional=D(100_000), max_position=D(5))


def ctx(**kw: Any) -> Context:
    base: dict[str, Any] = {"markets": {M: BTC}, "system_status": "ok", "prices": {M: D(60_000)},
                            "now_ms": NOW}
    return Context(**{**base, **kw})


def check(ctx_: Context | None = None, strategy: Strategy = MM, **body: Any) -> Violation | None:
    req = msgspec.convert({"market": M, "side": "BUY", "size": "0.003", "duration_seconds": 90, **body},
                          PlaceAlgo, strict=False)
    book = ExposureBook()
    book.exposure.prices[M] = D(60_000)
    return check_algo(req, strategy, ctx_ or ctx(), book)


def test_a_valid_twap_passes() -> None:
    assert check() is None
    assert check(duration_seconds=86_400, frequency=3600, size="0.024") is None
    assert check(duration_seconds=30, size="1") is None  # one child, at the max order size


@pytest.mark.parametrize(("body", "error", "rule"), [
    ({"size": "NaN"}, "NUMBER_NOT_FINITE", "finite_number"),
    ({"size": "1e20"}, "NUMBER_OUT_OF_RANGE", "number_range"),
    ({"market": "ETH-USD-PERP"}, "MARKET_NOT_FOUND", "market"),
    ({"size": "0"}, "SIZE_NOT_POSITIVE", "size"),
    ({"size": "0.0031"}, "SIZE_NOT_ON_INCREMENT", "size_increment"),
    ({"duration_seconds": 29}, "DURATION_OUT_OF_RANGE", "duration_seconds"),
    ({"duration_seconds": 86_430}, "DURATION_OUT_OF_RANGE", "duration_seconds"),
    ({"duration_seconds": 100}, "DURATION_OUT_OF_RANGE", "duration_seconds"),
    ({"frequency": 0}, "FREQUENCY_INVALID", "frequency"),
    ({"frequency": 45}, "FREQUENCY_INVALID", "frequency"),
    ({"frequency": 60}, "FREQUENCY_INVALID", "frequency"),  # 90 is not a multiple of 60
    ({"frequency": 120}, "FREQUENCY_INVALID", "frequency"),  # longer than the duration
    ({"recv_window": 9}, "RECV_WINDOW_TOO_SMALL", "recv_window"),
    ({"size": "0.002"}, "CHILD_SIZE_TOO_SMALL", "child_size"),  # 3 children of 0.000667
    ({"size": "3.3"}, "CHILD_SIZE_ABOVE_MAX", "child_size"),  # 3 children of 1.1 > max 1
])
def test_each_broken_rule_is_named(body: dict[str, Any], error: str, rule: str) -> None:
    v = check(**body)
    assert v is not None and (v.error, v.rule, v.status) == (error, rule, 422)


def test_the_strategy_limits_and_the_venue_state_refuse_with_their_rule() -> None:
    v = check(size="2.4")  # 2.4 x 60 000 = 144 000 > the 100 000 notional limit
    assert v is not None and (v.rule, v.status) == ("max_order_notional", 403)
    wide = Strategy(name="mm", token="t" * 20, markets=(M,), max_position=D(1))
    v = check(strategy=wide, size="1.5")
    assert v is not None and (v.rule, v.status) == ("max_position", 403)
    other = Strategy(name="arb", token="u" * 20, markets=("ETH-USD-PERP",))
    v = check(strategy=other)
    assert v is not None and v.rule == "allowed_markets"
    v = check(ctx(system_status="cancel_only"))
    assert v is not None and v.rule == "system_state"
    v = check(ctx(system_status="post_only"))  # a TWAP's children are MARKET orders
    assert v is not None and v.rule == "system_state"
    v = check(ctx(now_ms=0))
    assert v is not None and v.rule == "market_open"
    killed = Violation(error="KILL_SWITCH", rule="kill_switch", message="killed", status=403)
    assert check(ctx(killed=killed)) == killed


def test_the_request_schema_is_strict() -> None:
    dec = msgspec.json.Decoder(PlaceAlgo)
    ok = b'{"market":"BTC-USD-PERP","side":"SELL","size":"1","duration_seconds":60}'
    req = dec.decode(ok)
    assert (req.type, req.algo_type, req.frequency) == ("MARKET", "TWAP", None)
    for bad in (b'{"market":"BTC-USD-PERP","side":"SELL","size":"1","duration_seconds":60,"x":1}',
                b'{"market":"BTC-USD-PERP","side":"SELL","size":"1","duration_seconds":60,"type":"LIMIT"}',
                b'{"market":"BTC-USD-PERP","side":"HOLD","size":"1","duration_seconds":60}',
                b'{"market":"BTC-USD-PERP","side":"SELL","size":"1"}'):
        with pytest.raises(msgspec.ValidationError):
            dec.decode(bad)


KEY = 0x1234567890ABCDEF
ACCOUNT = "0x49ddd7a5"
CHAIN = "PRIVATE_SN_PARACLEAR_MAINNET"


def test_the_signed_twap_body_matches_the_spec_field_for_field_and_its_signature_verifies() -> None:
    rest = ParadexRest("http://127.0.0.1:1", signer=OrderSigner(KEY, ACCOUNT, CHAIN))
    body = rest.sign_algo(market=M, side="SELL", size=D("0.5"), duration_seconds=600, frequency=60,
                          now_ms=NOW)
    wire = msgspec.json.decode(msgspec.json.encode(body))
    schema = load_spec("openapi.json")["components"]["schemas"]["requests.AlgoOrderRequest"]
    assert set(schema["required"]) <= set(wire), set(schema["required"]) - set(wire)
    assert set(wire) <= set(schema["properties"]), set(wire) - set(schema["properties"])
    assert wire["algo_type"] == "TWAP" and wire["type"] == "MARKET"  # "only MARKET is supported"
    assert wire["size"] == "0.5" and isinstance(wire["duration_seconds"], int)
    assert wire["signature_timestamp"] == NOW and wire["frequency"] == 60
    # signed like an order: Order typed data of type MARKET, price 0 (PROTOCOL 4.2)
    signer = OrderSigner(KEY, ACCOUNT, CHAIN)
    msg = order_hash(CHAIN, ACCOUNT, M, "SELL", "MARKET", D("0.5"), D(0), NOW)
    assert verify_signature(signer.public_key, msg, wire["signature"])
    wrong = order_hash(CHAIN, ACCOUNT, M, "BUY", "MARKET", D("0.5"), D(0), NOW)
    assert not verify_signature(signer.public_key, wrong, wire["signature"])


def test_the_signed_stop_body_carries_trigger_flags_and_stp_unsigned() -> None:
    rest = ParadexRest("http://127.0.0.1:1", signer=OrderSigner(KEY, ACCOUNT, CHAIN))
    body = rest.sign_order(market=M, side="BUY", type="STOP_LIMIT", size="0.01", price="61000",
                           trigger_price="60500", flags=["STOP_CONDITION_ABOVE_TRIGGER", "REDUCE_ONLY"],
                           stp="EXPIRE_BOTH", instruction="POST_ONLY", client_id="s-1", now_ms=NOW)
    wire = msgspec.json.decode(msgspec.json.encode(body))
    schema = load_spec("openapi.json")["components"]["schemas"]["requests.OrderRequest"]
    assert set(schema["required"]) <= set(wire) <= set(schema["properties"])
    assert (wire["trigger_price"], wire["stp"], wire["instruction"]) == ("60500", "EXPIRE_BOTH", "POST_ONLY")
    assert wire["flags"] == ["STOP_CONDITION_ABOVE_TRIGGER", "REDUCE_ONLY"]
    msg = order_hash(CHAIN, ACCOUNT, M, "BUY", "STOP_LIMIT", D("0.01"), D(61000), NOW)
    assert verify_signature(OrderSigner(KEY, ACCOUNT, CHAIN).public_key, msg, wire["signature"])
    market = rest.sign_order(market=M, side="SELL", type="STOP_LOSS_MARKET", size="0.01", price="5",
                             trigger_price="59000", now_ms=NOW)
    assert market.price == 0  # MARKET types sign and send price 0


def intent(**kw: Any) -> Intent:
    return msgspec.convert({"market": M, "side": "SELL", "type": "STOP_MARKET", "size": "0.01",
                            "trigger_price": "59000", **kw}, Intent, strict=False)


@pytest.mark.parametrize(("kw", "rule"), [
    ({"trigger_price": None}, "trigger_price"),
    ({"trigger_price": "-1"}, "trigger_price"),
    ({"trigger_price": "59000.05"}, "tick_size"),
    ({"flags": ("STOP_CONDITION_BELOW_TRIGGER", "STOP_CONDITION_ABOVE_TRIGGER")}, "stop_condition"),
    ({"type": "LIMIT", "price": "60000"}, "trigger_price"),
    ({"type": "MARKET", "trigger_price": None, "flags": ("STOP_CONDITION_ABOVE_TRIGGER",)},
     "stop_condition"),
])
def test_trigger_rules(kw: dict[str, Any], rule: str) -> None:
    v = check_order(intent(**kw), BTC, NOW, D(60_000))
    assert v is not None and v.rule == rule, v


@pytest.mark.parametrize("type_", ["STOP_LIMIT", "STOP_MARKET", "TAKE_PROFIT_LIMIT", "TAKE_PROFIT_MARKET",
                                   "STOP_LOSS_LIMIT", "STOP_LOSS_MARKET"])
def test_every_trigger_type_with_a_good_trigger_passes(type_: str) -> None:
    price = {"price": "58000"} if type_.endswith("LIMIT") else {}
    assert check_order(intent(type=type_, flags=("STOP_CONDITION_BELOW_TRIGGER", "REDUCE_ONLY"), **price),
                       BTC, NOW, D(60_000)) is None
    # a trigger price of 0 on a LIMIT order is what some clients send for "none": accepted
    assert check_order(intent(type="LIMIT", price="60000", trigger_price="0"), BTC, NOW) is None


def test_the_commands_api_accepts_exactly_the_venue_s_enumerations() -> None:
    """Every type, instruction, STP mode and flag of the OpenAPI spec decodes in ``POST /v1/orders``
    (and nothing else does)."""
    from services.commands.core.messages import PlaceOrder

    spec = load_spec("openapi.json")["components"]["schemas"]
    dec = msgspec.json.Decoder(PlaceOrder)
    fields = {"type": "responses.OrderType", "instruction": "responses.OrderInstruction",
              "stp": "responses.STPMode"}
    for field, name in fields.items():
        for value in spec[name]["enum"]:
            dec.decode(msgspec.json.encode({"market": M, "side": "BUY", "size": "1", field: value}))
        with pytest.raises(msgspec.ValidationError):
            dec.decode(msgspec.json.encode({"market": M, "side": "BUY", "size": "1", field: "NOPE"}))
    flags = spec["responses.OrderFlag"]["enum"]
    req = dec.decode(msgspec.json.encode({"market": M, "side": "BUY", "size": "1", "flags": flags}))
    assert list(req.flags) == flags
