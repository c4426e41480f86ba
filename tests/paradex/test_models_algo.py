"""Algo orders, funding payments and liquidations: realistic payloads, round trips, tolerance of
unknown fields, the venue's ``""`` numbers and strictness of the algo request body."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from shared.errors import DecodeError
from shared.paradex.models import (
    AlgoOrder,
    AlgoOrderRequest,
    FundingPayment,
    Liquidation,
    Page,
    Results,
    decode,
    encode,
)

ACCT = "0x4638e3041366aa71720be63e32e53e1223316c7f0d56f7aa617542ed1e7512"
ALGO: dict[str, Any] = {
    "id": "1700000000000000000000000001", "account": ACCT, "market": "BTC-USD-PERP", "side": "BUY",
    "size": "0.05", "remaining_size": "0.03", "avg_fill_price": "26000.5", "status": "OPEN",
    "algo_type": "TWAP", "cancel_reason": "", "created_at": 1681493746016,
    "last_updated_at": 1681493776016, "end_at": 1681497346016,
    "algo_params": {"duration_seconds": "3600", "frequency": "30"},
}
PAYMENT: dict[str, Any] = {
    "id": "1681375578221101699352320000", "account": ACCT, "market": "BTC-USD-PERP",
    "payment": "-34.4490622", "index": "-2819.53434361", "fill_id": "", "created_at": 1681375481000,
}
REQUEST: dict[str, Any] = {
    "algo_type": "TWAP", "market": "BTC-USD-PERP", "side": "SELL", "type": "MARKET", "size": "1.2",
    "duration_seconds": 3600, "frequency": 60, "signature_timestamp": 1700000000000,
    "signature": '["1","2"]',
}


def test_algo_order_decodes_a_realistic_payload_and_round_trips() -> None:
    algo = decode(AlgoOrder, json.dumps(ALGO))
    assert algo.remaining_size == Decimal("0.03") and algo.avg_fill_price_value == Decimal("26000.5")
    assert algo.algo_params == {"duration_seconds": "3600", "frequency": "30"}
    assert json.loads(encode(algo)) == ALGO


def test_algo_order_without_fills_has_no_average_price_and_encodes_every_field() -> None:
    minimal = {k: ALGO[k] for k in ("id", "market", "side", "size", "remaining_size", "status")}
    algo = decode(AlgoOrder, json.dumps({**minimal, "avg_fill_price": ""}))
    assert algo.avg_fill_price_value is None
    assert set(json.loads(encode(algo))) == set(ALGO)  # omit_defaults is off: all fields written


def test_algo_order_tolerates_unknown_fields_and_rejects_a_bad_number() -> None:
    assert decode(AlgoOrder, json.dumps({**ALGO, "new_field": {"x": 1}})).id == ALGO["id"]
    with pytest.raises(DecodeError) as err:
        decode(AlgoOrder, json.dumps({**ALGO, "avg_fill_price": "abc"}))
    assert err.value.field == "$.avg_fill_price"
    with pytest.raises(DecodeError) as err:
        decode(AlgoOrder, json.dumps({k: v for k, v in ALGO.items() if k != "status"}))
    assert err.value.field == "$.status"


def test_algo_request_is_strict_about_enums_and_durations() -> None:
    req = decode(AlgoOrderRequest, json.dumps(REQUEST))
    assert req.frequency == 60 and req.size == Decimal("1.2")
    assert "frequency" not in json.loads(encode(msgspec.structs.replace(req, frequency=None)))
    for field, bad in (("algo_type", "VWAP"), ("side", "MARKET"), ("duration_seconds", 0), ("type", "X")):
        with pytest.raises(DecodeError) as err:
            decode(AlgoOrderRequest, json.dumps({**REQUEST, field: bad}))
        assert err.value.field == f"$.{field}"


def test_funding_payment_and_liquidation_decode_inside_their_envelopes() -> None:
    page = decode(Page[FundingPayment], json.dumps({"next": "abc", "prev": None, "results": [PAYMENT]}))
    assert page.next == "abc" and page.results[0].payment == Decimal("-34.4490622")
    assert page.results[0].index == Decimal("-2819.53434361") and page.results[0].fill_id == ""
    assert json.loads(encode(page.results[0])) == PAYMENT
    liq = decode(Results[Liquidation], b'{"results":[{"id":"0xabc","created_at":1697213130097,"x":1}]}')
    assert liq.results == [Liquidation(id="0xabc", created_at=1697213130097)]
    with pytest.raises(DecodeError) as err:
        decode(FundingPayment, json.dumps({k: v for k, v in PAYMENT.items() if k != "index"}))
    assert err.value.field == "$.index"
