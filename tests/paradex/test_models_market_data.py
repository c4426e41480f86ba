"""Public market-data models: decode realistic payloads, round-trip, tolerate extras, name bad fields."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from shared.errors import DecodeError
from shared.paradex.models import (
    Bbo,
    BookLevel,
    BookUpdate,
    FundingData,
    MarketSummary,
    OrderBook,
    Trade,
    decode,
    encode,
)

BOOK_DELTA: dict[str, Any] = {
    "seq_no": 14127816,
    "market": "BTC-USD-PERP",
    "last_updated_at": 1718267837265,
    "update_type": "d",
    "inserts": [{"side": "SELL", "price": "67631.1", "size": "0.25"}],
    "updates": [{"side": "BUY", "price": "67629.7", "size": "0.5"}],
    "deletes": [{"side": "BUY", "price": "67628.0", "size": "0"}],
}
BOOK_SNAPSHOT: dict[str, Any] = {
    "seq_no": 14127815,
    "market": "BTC-USD-PERP",
    "last_updated_at": 1718267837265,
    "update_type": "s",
    "inserts": [
        {"side": "BUY", "price": "67629.7", "size": "0.992"},
        {"side": "SELL", "price": "69378.6", "size": "3.137"},
    ],
    "updates": [],
    "deletes": [],
    "best_bid_api": {"side": "BUY", "price": "67629.7", "size": "0.992"},
    "best_ask_api": {"side": "SELL", "price": "69378.6", "size": "3.137"},
    "best_bid_interactive": {"side": "BUY", "price": "67629.7", "size": "0.992"},
    "best_ask_interactive": {"side": "SELL", "price": "69378.6", "size": "3.137"},
    "relative_spread": "0.0255",
}
BBO: dict[str, Any] = {
    "market": "BTC-USD-PERP", "seq_no": 20784, "bid": "30112.22", "bid_size": "0.04",
    "ask": "30130.15", "ask_size": "0.05", "last_updated_at": 1681493939981,
}
TRADE: dict[str, Any] = {
    "id": "1718179273230201709233240002", "market": "BTC-USD-PERP", "side": "BUY", "size": "0.01",
    "price": "67000.1", "created_at": 1718179273230, "trade_type": "FILL",
}
SUMMARY: dict[str, Any] = {
    "symbol": "BTC-USD-PERP", "mark_price": "29799.70877478", "last_traded_price": "30109.53",
    "bid": "30112.22", "bid_size": "0.04", "ask": "30130.15", "ask_size": "0.05",
    "volume_24h": "47041.0424", "total_volume": "141341.0424", "created_at": 1681493939981,
    "underlying_price": "29876.3", "open_interest": "6100048.3", "funding_rate": "0.0003",
    "future_funding_rate": "0.0002", "price_change_rate_24h": "-0.05",
    "external_fair_price": "29876.3", "greeks": {"delta": "1", "gamma": "0", "vega": "0"},
}
FUNDING: dict[str, Any] = {
    "market": "BTC-USD-PERP", "funding_index": "-0.1013629022003508722",
    "funding_premium": "0.0000034985318", "funding_rate": "0.0000125", "funding_rate_8h": "0.0000125",
    "funding_period_hours": 8, "created_at": 1759822712054, "impact_premium_rate": "0.00001",
}
ORDERBOOK: dict[str, Any] = {
    "market": "ETH-USD-PERP", "seq_no": 20784, "last_updated_at": 1681462770114,
    "bids": [["1899.5", "1.2"], ["1899.4", "3"]], "asks": [["1900.1", "0.7"]],
    "best_bid_api": ["1899.5", "1.2"], "best_ask_api": ["1900.1", "0.7"],
}

CASES: list[tuple[type[Any], dict[str, Any]]] = [
    (BookUpdate, BOOK_DELTA),
    (BookUpdate, BOOK_SNAPSHOT),
    (Bbo, BBO),
    (Trade, TRADE),
    (MarketSummary, SUMMARY),
    (FundingData, FUNDING),
    (OrderBook, ORDERBOOK),
]


def test_book_delta_decodes_levels_as_exact_decimals() -> None:
    book = decode(BookUpdate, json.dumps(BOOK_DELTA))
    assert book.seq_no == 14127816 and not book.is_snapshot
    assert book.inserts == [BookLevel(side="SELL", price=Decimal("67631.1"), size=Decimal("0.25"))]
    assert book.updates[0].price == Decimal("67629.7") and book.updates[0].size == Decimal("0.5")
    assert book.deletes[0].price == Decimal("67628.0")
    assert book.best_bid_api is None and book.relative_spread is None


def test_book_snapshot_carries_best_levels_and_spread() -> None:
    book = decode(BookUpdate, json.dumps(BOOK_SNAPSHOT))
    assert book.is_snapshot
    assert book.best_ask_api == BookLevel(side="SELL", price=Decimal("69378.6"), size=Decimal("3.137"))
    assert book.relative_spread == Decimal("0.0255")


def test_rest_orderbook_pairs_decode_as_price_size_tuples() -> None:
    book = decode(OrderBook, json.dumps(ORDERBOOK))
    assert book.bids[0] == (Decimal("1899.5"), Decimal("1.2"))
    assert book.asks == [(Decimal("1900.1"), Decimal("0.7"))]
    assert book.best_bid_api == [Decimal("1899.5"), Decimal("1.2")]


def test_funding_and_summary_keep_values() -> None:
    funding = decode(FundingData, json.dumps(FUNDING))
    assert funding.funding_period_hours == 8 and isinstance(funding.funding_period_hours, int)
    assert funding.funding_index == Decimal("-0.1013629022003508722")
    summary = decode(MarketSummary, json.dumps(SUMMARY))
    assert summary.mark_price == "29799.70877478"
    assert summary.mark_price_value == Decimal("29799.70877478")
    assert summary.bid_value == Decimal("30112.22") and summary.underlying_price_value is not None
    assert summary.greeks is not None and summary.greeks.delta == Decimal("1")
    assert summary.mark_iv is None


@pytest.mark.parametrize(("model", "payload"), CASES, ids=lambda c: getattr(c, "__name__", "payload"))
def test_round_trip_encodes_venue_json_that_decodes_equal(model: type[Any], payload: dict[str, Any]) -> None:
    obj = decode(model, json.dumps(payload))
    wire = encode(obj)
    assert decode(model, wire) == obj
    # decimals go back out as strings, exactly as the venue sent them
    assert json.loads(wire) == payload


@pytest.mark.parametrize(("model", "payload"), CASES, ids=lambda c: getattr(c, "__name__", "payload"))
def test_unknown_fields_are_tolerated(model: type[Any], payload: dict[str, Any]) -> None:
    extra = {**payload, "brand_new_field": {"nested": [1, 2]}, "another": "x"}
    assert decode(model, json.dumps(extra)) == decode(model, json.dumps(payload))


def test_bad_decimal_in_nested_level_names_the_path() -> None:
    bad = {**BOOK_DELTA, "updates": [{"side": "BUY", "price": "67,629.7", "size": "1"}]}
    with pytest.raises(DecodeError) as err:
        decode(BookUpdate, json.dumps(bad))
    assert err.value.field == "$.updates[0].price"
    assert "decimal" in err.value.reason.lower()


def test_missing_required_field_names_it() -> None:
    bad = {k: v for k, v in BBO.items() if k != "seq_no"}
    with pytest.raises(DecodeError) as err:
        decode(Bbo, json.dumps(bad))
    assert err.value.field == "$.seq_no"
    assert "missing" in err.value.reason


EMPTY_SIDE_PRICES = ("mark_price", "last_traded_price", "bid", "bid_size", "ask", "ask_size",
                     "underlying_price")


def test_bbo_with_empty_bid_side_decodes_with_no_bid_not_zero() -> None:
    bbo = decode(Bbo, json.dumps({**BBO, "bid": "", "bid_size": ""}))
    assert (bbo.bid, bbo.bid_size) == ("", "")
    assert (bbo.bid_value, bbo.bid_size_value) == (None, None)
    assert (bbo.ask_value, bbo.ask_size_value) == (Decimal("30130.15"), Decimal("0.05"))


def test_bbo_without_side_fields_decodes_as_empty_and_encodes_every_field() -> None:
    bare = {k: v for k, v in BBO.items() if k not in ("ask", "ask_size")}
    bbo = decode(Bbo, json.dumps(bare))
    assert bbo.ask_value is None and bbo.ask_size_value is None
    # the spec requires all four on the wire: an empty side is written as "" (never left out)
    assert json.loads(encode(bbo)) == {**BBO, "ask": "", "ask_size": ""}


def test_summary_with_empty_prices_decodes_them_as_none() -> None:
    summary = decode(MarketSummary, json.dumps({**SUMMARY, **dict.fromkeys(EMPTY_SIDE_PRICES, "")}))
    assert all(getattr(summary, name) == "" for name in EMPTY_SIDE_PRICES)
    assert all(getattr(summary, f"{name}_value") is None for name in EMPTY_SIDE_PRICES)
    assert json.loads(encode(summary))["bid"] == ""


@pytest.mark.parametrize(("model", "payload", "field"), [
    (Bbo, BBO, "bid"), (Bbo, BBO, "ask_size"), (MarketSummary, SUMMARY, "mark_price"),
    (MarketSummary, SUMMARY, "underlying_price"),
])
@pytest.mark.parametrize("value", ["67,629.7", "abc", " ", "NaN", "1.2.3"])
def test_text_price_that_is_neither_empty_nor_decimal_is_rejected_with_its_field(
    model: type[Any], payload: dict[str, Any], field: str, value: str
) -> None:
    with pytest.raises(DecodeError) as err:
        decode(model, json.dumps({**payload, field: value}))
    assert err.value.field == f"$.{field}"


@pytest.mark.parametrize("value", ["0", "-1.5", "1E+2", "1e-8", ".5", "5.", "+3"])
def test_text_price_accepts_every_decimal_notation(value: str) -> None:
    bbo = decode(Bbo, json.dumps({**BBO, "bid": value}))
    assert bbo.bid_value == Decimal(value)


def test_missing_field_inside_nested_level_names_the_full_path() -> None:
    bad = {**BOOK_DELTA, "inserts": [{"side": "SELL", "price": "1"}]}
    with pytest.raises(DecodeError) as err:
        decode(BookUpdate, json.dumps(bad))
    assert err.value.field == "$.inserts[0].size"


def test_wrong_type_names_the_field() -> None:
    with pytest.raises(DecodeError) as err:
        decode(Trade, json.dumps({**TRADE, "created_at": "yesterday"}))
    assert err.value.field == "$.created_at"


def test_orderbook_pair_of_wrong_length_is_rejected() -> None:
    with pytest.raises(DecodeError) as err:
        decode(OrderBook, json.dumps({**ORDERBOOK, "asks": [["1900.1"]]}))
    assert err.value.field == "$.asks[0]"


def test_not_json_is_a_decode_error_without_field() -> None:
    with pytest.raises(DecodeError) as err:
        decode(Trade, b"{not json")
    assert err.value.field is None
