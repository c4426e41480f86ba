"""SBE codec at the model level: round trips, JSON/SBE equivalence, versions, canonical form."""

from __future__ import annotations

import json
from decimal import Decimal as D
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.paradex import models
from shared.paradex.models import Bbo, BookLevel, BookUpdate, FundingData, Greeks, MarketSummary, Trade
from shared.paradex.sbe import (
    Heartbeat,
    SbeDecoder,
    SbeEncodeError,
    Skipped,
    canonical,
    decode,
    encode,
    trade_id_int64,
)
from shared.paradex.sbe.layout import (
    BBO,
    BOOK,
    FUNDING_DATA,
    INT64_MAX,
    INT64_MIN,
    MARKET_SUMMARY,
    NULL,
    TRADE,
)
from shared.paradex.sbe.wire import write_frame

MAX8 = D(INT64_MAX).scaleb(-8)  # 92233720368.54775807, the largest Price8
MIN8 = D(INT64_MIN + 1).scaleb(-8)  # the most negative non-null mantissa


def lv(side: str, price: str, size: str) -> BookLevel:
    return BookLevel(side=side, price=D(price), size=D(size))


TRADE_REAL = Trade(id="1681462103821101699438490000", market="BTC-USD-PERP", side="BUY", size=D("0.05"),
                   price=D("30112.22"), created_at=1681462103821, trade_type="FILL")
TRADE_EDGE = Trade(id="9" * 28, market="ETH-USD-PERP", side="SELL", size=D("0.00000001"), price=MAX8,
                   created_at=0, trade_type="LIQUIDATION")
BBO_REAL = Bbo(market="BTC-USD-PERP", seq_no=14127815, bid="67629.7", bid_size="0.992",
               ask="67629.8", ask_size="3.137", last_updated_at=1718267837265)
BBO_EMPTY = Bbo(market="X", seq_no=0, bid="", bid_size="", ask="", ask_size="", last_updated_at=0)
BBO_ZERO = Bbo(market="X", seq_no=1, bid="0", bid_size="0", ask="-0.00000001", ask_size="0.00000001",
               last_updated_at=0)
BOOK_SNAPSHOT = BookUpdate(
    seq_no=14127815, market="BTC-USD-PERP", last_updated_at=1718267837265, update_type="s",
    inserts=[lv("BUY", f"{67629 - i}.7", f"0.{i + 1}") for i in range(15)]
    + [lv("SELL", f"{67631 + i}.1", f"{i + 1}.5") for i in range(15)],
    updates=[], deletes=[],
)
BOOK_DELTA = BookUpdate(
    seq_no=14127816, market="BTC-USD-PERP", last_updated_at=1718267837315, update_type="d", inserts=[],
    updates=[lv("BUY", "67629.7", "0.5"), lv("BUY", "67620", "12"), lv("SELL", "67631.1", "1.25")],
    deletes=[lv("BUY", "67615.2", "0"), lv("SELL", "67640", "0")],
)
BOOK_EMPTY_DELTA = BookUpdate(seq_no=7, market="SOL-USD-PERP", last_updated_at=1, update_type="d",
                              inserts=[], updates=[], deletes=[])
BOOK_INTERACTIVE = BookUpdate(
    seq_no=INT64_MAX, market="BTC-USD-PERP", last_updated_at=1718267837265, update_type="s",
    inserts=[lv("BUY", "67629.7", "0.992"), lv("SELL", str(MAX8), "0.00000001")], updates=[], deletes=[],
    best_bid_api=lv("BUY", "67629.7", "0.992"), best_ask_api=lv("SELL", "67631", "2"),
    best_bid_interactive=lv("BUY", "67630", "0.1"), best_ask_interactive=lv("SELL", "67630.5", "0"),
    relative_spread=D("0.00000739"),
)
SUMMARY_PERP = MarketSummary(
    symbol="BTC-USD-PERP", mark_price="29799.70877478", last_traded_price="29813.5",
    bid="30112.22", bid_size="0.05", ask="30130.15", ask_size="0.4", volume_24h=D("47041.0424"),
    total_volume=D("141341.0424"), created_at=1681493746016, underlying_price="29813.5",
    open_interest=D("6000"), funding_rate=D("0.000100000013"), price_change_rate_24h=D("-0.05"),
    delta=D("1"), greeks=Greeks(delta=D("1"), gamma=D("0"), vega=D("0")),
)
SUMMARY_OPTION = MarketSummary(
    symbol="BTC-USD-26DEC26-100000-C", mark_price="1234.5", last_traded_price="", bid="",
    bid_size="", ask="1300", ask_size="2", volume_24h=D(0), total_volume=MAX8, created_at=1,
    underlying_price="99000", open_interest=D("0.1"), funding_rate=D("-0.000000000001"),
    price_change_rate_24h=D("0"), future_funding_rate=D("-0.0001"), external_fair_price=D("1235"),
    mark_iv=D("0.55"), bid_iv=D("0.5"), ask_iv=D("0.6"), last_iv=D("0.52"), delta=D("0.45"),
    greeks=Greeks(delta=D("0.45"), gamma=D("0.00001"), vega=D("12.5"), rho=D("-3"), theta=D("-20.1"),
                  vanna=D("0.1"), volga=D("0.2")),
    forward_rate=D("0.04"), risk_free_rate=D("0.035"),
)
FUNDING_REAL = FundingData(market="BTC-USD-PERP", funding_index=D("12345.67891234"),
                           funding_premium=D("0.00012"), funding_rate=D("0.0000125"),
                           funding_rate_8h=D("0.0001"), funding_period_hours=8, created_at=1718267837265,
                           impact_premium_rate=D("0.00001"))
FUNDING_EDGE = FundingData(market="ETH-USD-PERP", funding_index=MIN8, funding_premium=D("-0.5"),
                           funding_rate=D("-0.00000001"), funding_rate_8h=D(0), funding_period_hours=1,
                           created_at=0)

SAMPLES: dict[str, Any] = {
    "trade_real": TRADE_REAL, "trade_edge": TRADE_EDGE, "bbo_real": BBO_REAL, "bbo_empty": BBO_EMPTY,
    "bbo_zero": BBO_ZERO,
    "book_snapshot": BOOK_SNAPSHOT, "book_delta": BOOK_DELTA, "book_empty_delta": BOOK_EMPTY_DELTA,
    "book_interactive": BOOK_INTERACTIVE, "summary_perp": SUMMARY_PERP, "summary_option": SUMMARY_OPTION,
    "funding_real": FUNDING_REAL, "funding_edge": FUNDING_EDGE,
    "heartbeat": Heartbeat(ts_us=1718267837265123, seq=42),
}


@pytest.mark.parametrize("name", SAMPLES)
def test_round_trip_of_canonical_sample_returns_equal_model(name: str) -> None:
    model = SAMPLES[name]
    assert canonical(model) == model  # samples are written in canonical form
    assert decode(encode(model, seq=99)) == model


@pytest.mark.parametrize("name", SAMPLES)
@pytest.mark.parametrize("version", [0, 1, 2])
def test_round_trip_at_older_version_returns_canonical_for_that_version(name: str, version: int) -> None:
    model = SAMPLES[name]
    assert decode(encode(model, version=version)) == canonical(model, version=version)


def test_version_zero_market_summary_has_short_block_and_no_appended_fields() -> None:
    frame = encode(SUMMARY_OPTION, version=0)
    assert int.from_bytes(frame[0:2], "little") == 216
    decoded = decode(frame)
    assert isinstance(decoded, MarketSummary)
    assert decoded.forward_rate is None and decoded.risk_free_rate is None
    assert decoded.funding_rate == D("0")  # -1e-12 truncated toward zero at 8 dp


def test_trade_without_trade_id_str_falls_back_to_truncated_int64() -> None:
    frame = encode(TRADE_REAL, version=1)
    decoded = decode(frame)
    assert isinstance(decoded, Trade)
    assert decoded.id == str(trade_id_int64(TRADE_REAL.id))
    assert decoded.id != TRADE_REAL.id


def test_trade_id_int64_wraps_to_negative_above_2_pow_63() -> None:
    assert trade_id_int64(str(2**64 + 5)) == 5
    assert trade_id_int64(str(2**63)) == -(2**63)
    assert trade_id_int64("abc") == 0


def test_sbe_timestamps_are_floored_to_milliseconds() -> None:
    frame = encode(BBO_REAL, ts_us=1718267837265999)
    decoded = decode(frame)
    assert isinstance(decoded, Bbo) and decoded.last_updated_at == 1718267837265


def test_delta_in_non_canonical_form_decodes_to_its_canonical_form() -> None:
    messy = BookUpdate(
        seq_no=1, market="M", last_updated_at=5, update_type="d",
        inserts=[lv("SELL", "10", "1"), lv("BUY", "9", "2")], updates=[lv("BUY", "8", "0")],
        deletes=[lv("SELL", "11", "4")],
    )
    expected = BookUpdate(
        seq_no=1, market="M", last_updated_at=5, update_type="d", inserts=[],
        updates=[lv("BUY", "9", "2"), lv("SELL", "10", "1")],
        deletes=[lv("BUY", "8", "0"), lv("SELL", "11", "0")],
    )
    assert canonical(messy) == expected
    assert decode(encode(messy)) == expected


def test_book_level_with_bad_side_is_refused_by_encoder() -> None:
    bad = msgspec.structs.replace(BOOK_DELTA, updates=[lv("BID", "1", "1")])
    with pytest.raises(SbeEncodeError):
        encode(bad)


@pytest.mark.parametrize("model", [
    msgspec.structs.replace(TRADE_REAL, price=D("1.123456789")),  # 9 decimals
    msgspec.structs.replace(TRADE_REAL, size=MAX8 + D("0.00000001")),  # out of int64
    msgspec.structs.replace(TRADE_REAL, market="M" * 256),  # longer than varString8
    msgspec.structs.replace(FUNDING_REAL, funding_period_hours=1.5),
])
def test_unrepresentable_values_raise_encode_error(model: Any) -> None:
    with pytest.raises(SbeEncodeError):
        encode(model)


@pytest.mark.parametrize("model", [
    msgspec.structs.replace(BBO_REAL, bid="abc"),  # not a decimal (a model built in code, unchecked)
    msgspec.structs.replace(BBO_REAL, ask_size="0.000000001"),  # 9 decimals
    msgspec.structs.replace(SUMMARY_PERP, mark_price="1e400"),  # out of int64
])
def test_unrepresentable_text_prices_raise_encode_error(model: Any) -> None:
    with pytest.raises(SbeEncodeError):
        encode(model)


def test_text_prices_in_other_notations_decode_to_plain_text_without_trailing_zeros() -> None:
    bbo = msgspec.structs.replace(BBO_REAL, bid="67629.70", bid_size="1E+2", ask="-0.5000", ask_size="0.0")
    decoded = decode(encode(bbo))
    assert isinstance(decoded, Bbo)
    assert (decoded.bid, decoded.bid_size, decoded.ask, decoded.ask_size) == ("67629.7", "100", "-0.5", "0")
    assert decoded == canonical(bbo)


def test_encoding_unknown_type_raises_encode_error() -> None:
    with pytest.raises(SbeEncodeError):
        encode(object())


def test_decoder_counts_decoded_and_skipped_frames() -> None:
    decoder = SbeDecoder()
    unknown = bytes.fromhex("0800" "1500" "0100" "0200") + bytes(8)  # template 21 (Fill), not ours
    result = decoder.decode(unknown)
    assert result == Skipped(template_id=21, version=2, length=16)
    decoder.decode(encode(BBO_REAL))
    decoder.decode(unknown)
    assert decoder.skipped == {21: 2} and decoder.decoded == 1


# --- JSON vs SBE: the same logical message, built independently on both sides ---------------------


CHANNELS: dict[type[Any], str] = {BookUpdate: "order_book.BTC-USD-PERP.deltas", Trade: "trades.BTC-USD-PERP",
            Bbo: "bbo.BTC-USD-PERP", MarketSummary: "markets_summary.BTC-USD-PERP",
            FundingData: "funding_data.BTC-USD-PERP"}


def json_model(type_: type[Any], payload: dict[str, Any]) -> Any:
    """A whole JSON-RPC push frame carrying ``payload``, decoded by the JSON feed's own decoder."""
    push = {"jsonrpc": "2.0", "method": "subscription",
            "params": {"channel": CHANNELS[type_], "data": payload}}
    data = models.decode_push(json.dumps(push).encode()).data
    assert type(data) is type_
    return data


def test_json_and_sbe_book_delta_decode_to_equal_models() -> None:
    payload = {"seq_no": 14127816, "market": "BTC-USD-PERP", "last_updated_at": 1718267837315,
               "update_type": "d", "inserts": [],
               "updates": [{"side": "BUY", "price": "67629.7", "size": "0.5"},
                           {"side": "SELL", "price": "67631.1", "size": "1.25"}],
               "deletes": [{"side": "SELL", "price": "67640", "size": "0"}]}
    values = (1718267837315432, 14127816, 1, *[NULL] * 9)
    bids = [(6762970000000, 50000000)]
    asks = [(6763110000000, 125000000), (6764000000000, 0)]
    frame = write_frame(BOOK, values, version=2, groups=(bids, asks), data=("BTC-USD-PERP",))
    assert decode(frame) == json_model(BookUpdate, payload)


def test_json_and_sbe_book_snapshot_decode_to_equal_models() -> None:
    payload = {"seq_no": 5, "market": "ETH-USD-PERP", "last_updated_at": 1000, "update_type": "s",
               "inserts": [{"side": "BUY", "price": "3000.01", "size": "2"},
                           {"side": "SELL", "price": "3000.5", "size": "0.001"}],
               "updates": [], "deletes": [],
               "best_bid_api": {"side": "BUY", "price": "3000.01", "size": "2"}}
    values = (1000999, 5, 0, *[NULL] * 5, 300001000000, 200000000, NULL, NULL)
    groups = ([(300001000000, 200000000)], [(300050000000, 100000)])
    frame = write_frame(BOOK, values, version=2, groups=groups, data=("ETH-USD-PERP",))
    assert decode(frame) == json_model(BookUpdate, payload)


def test_json_and_sbe_trade_decode_to_equal_models() -> None:
    trade_id = "1681462103821101699438490000"
    payload = {"id": trade_id, "market": "BTC-USD-PERP", "side": "SELL",
               "size": "0.05", "price": "30112.22", "created_at": 1681462103821, "trade_type": "RPI"}
    values = (1681462103822000, 77, trade_id_int64(trade_id), 2, 3011222000000, 5000000,
              1681462103821500, 5)
    frame = write_frame(TRADE, values, version=2, data=("BTC-USD-PERP", trade_id))
    assert decode(frame) == json_model(Trade, payload)


def test_json_and_sbe_bbo_decode_to_equal_models() -> None:
    payload = {"market": "BTC-USD-PERP", "seq_no": 9, "bid": "67629.7", "bid_size": "0.992",
               "ask": "67629.8", "ask_size": "3.137", "last_updated_at": 1718267837265}
    values = (1718267837265001, 9, 6762970000000, 99200000, 6762980000000, 313700000)
    assert decode(write_frame(BBO, values, version=2, data=("BTC-USD-PERP",))) == json_model(Bbo, payload)


def test_json_empty_strings_and_sbe_nulls_decode_to_equal_bbo_without_prices() -> None:
    payload = {"market": "BTC-USD-PERP", "seq_no": 9, "bid": "", "bid_size": "",
               "ask": "67629.8", "ask_size": "3.137", "last_updated_at": 1718267837265}
    values = (1718267837265001, 9, NULL, NULL, 6762980000000, 313700000)
    sbe = decode(write_frame(BBO, values, version=2, data=("BTC-USD-PERP",)))
    assert isinstance(sbe, Bbo) and sbe == json_model(Bbo, payload)
    assert (sbe.bid_value, sbe.bid_size_value) == (None, None)
    assert (sbe.ask_value, sbe.ask_size_value) == (D("67629.8"), D("3.137"))


def test_json_empty_strings_and_sbe_nulls_decode_to_equal_summary_without_prices() -> None:
    empty = ("mark_price", "last_traded_price", "bid", "bid_size", "ask", "ask_size", "underlying_price")
    payload = {"symbol": "BTC-USD-PERP", **dict.fromkeys(empty, ""), "volume_24h": "0", "total_volume": "0",
               "created_at": 1681493746016, "open_interest": "0", "funding_rate": "0",
               "price_change_rate_24h": "0"}
    values = (1681493746016000, 1, NULL, NULL, NULL, 0, 0, 0, NULL, NULL, 0, 0, *[NULL] * 13, NULL, NULL,
              NULL, NULL, 0)
    sbe = decode(write_frame(MARKET_SUMMARY, values, version=2, data=("BTC-USD-PERP",)))
    assert isinstance(sbe, MarketSummary) and sbe == json_model(MarketSummary, payload)
    assert all(getattr(sbe, f"{name}_value") is None for name in empty)
    assert encode(sbe, seq=1) == write_frame(MARKET_SUMMARY, values, version=2, data=("BTC-USD-PERP",))


def test_json_and_sbe_market_summary_decode_to_equal_models() -> None:
    payload = {"symbol": "BTC-USD-PERP", "mark_price": "29799.70877478", "last_traded_price": "29813.5",
               "bid": "30112.22", "bid_size": "0.05", "ask": "30130.15", "ask_size": "0.4",
               "volume_24h": "47041.0424", "total_volume": "141341.0424", "created_at": 1681493746016,
               "underlying_price": "29813.5", "open_interest": "6000", "funding_rate": "0.000100000013",
               "price_change_rate_24h": "-0.05", "delta": "1",
               "greeks": {"delta": "1", "gamma": "0", "vega": "0"}}
    m8 = 10**8
    values = (1681493746016000, 1, 2979970877478, 29813 * m8 + m8 // 2, 29813 * m8 + m8 // 2, 4704104240000,
              6000 * m8, 10000, 3011222000000, 3013015000000, 14134104240000, -5000000,
              NULL, NULL, NULL, NULL, m8, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, 5000000, 40000000,
              NULL, NULL, 100000013)
    frame = write_frame(MARKET_SUMMARY, values, version=2, data=("BTC-USD-PERP",))
    assert decode(frame) == json_model(MarketSummary, payload)


def test_json_and_sbe_funding_data_decode_to_equal_models() -> None:
    payload = {"market": "BTC-USD-PERP", "funding_index": "12345.67891234", "funding_premium": "0.00012",
               "funding_rate": "0.0000125", "funding_rate_8h": "0.0001", "funding_period_hours": 8,
               "created_at": 1718267837265, "impact_premium_rate": "0.00001"}
    values = (1718267837266000, 3, 1250, 1234567891234, 1718267837265000, 12000, 10000, 8, 1000)
    frame = write_frame(FUNDING_DATA, values, version=2, data=("BTC-USD-PERP",))
    assert decode(frame) == json_model(FundingData, payload)


# --- properties -----------------------------------------------------------------------------------

mantissas = st.integers(min_value=INT64_MIN + 1, max_value=INT64_MAX)
decimals8 = mantissas.map(lambda m: D(m).scaleb(-8))
sizes8 = st.integers(min_value=0, max_value=INT64_MAX).map(lambda m: D(m).scaleb(-8))
levels = st.builds(BookLevel, side=st.sampled_from(["BUY", "SELL"]), price=decimals8, size=sizes8)
level_lists = st.lists(levels, max_size=6)
books = st.builds(
    BookUpdate, seq_no=mantissas, market=st.text(max_size=20).filter(lambda s: len(s.encode()) < 256),
    last_updated_at=st.integers(min_value=-(2**52), max_value=2**52), update_type=st.sampled_from(["s", "d"]),
    inserts=level_lists, updates=level_lists, deletes=level_lists,
    best_bid_api=st.none() | levels, best_ask_interactive=st.none() | levels,
    relative_spread=st.none() | decimals8,
)


@settings(max_examples=200, deadline=None)
@given(books)
def test_any_book_update_round_trips_to_its_canonical_form(book: BookUpdate) -> None:
    expected = canonical(book)
    assert decode(encode(book)) == expected
    assert canonical(expected) == expected
    assert decode(encode(expected)) == expected


@settings(max_examples=200, deadline=None)
@given(st.builds(Trade, id=st.from_regex(r"[0-9]{1,30}", fullmatch=True), market=st.just("BTC-USD-PERP"),
                 side=st.sampled_from(["BUY", "SELL"]), size=sizes8, price=decimals8,
                 created_at=st.integers(min_value=0, max_value=2**52),
                 trade_type=st.sampled_from(["FILL", "LIQUIDATION", "RPI", "BLOCK_TRADE", "SETTLE_MARKET",
                                             "UNWIND_TRANSFER"])))
def test_any_trade_round_trips_exactly(trade: Trade) -> None:
    assert decode(encode(trade)) == trade


texts8 = st.just("") | st.integers(min_value=0, max_value=10**15).map(lambda m: format(D(m).scaleb(-8), "f"))
rates = st.none() | st.decimals(min_value=-1000, max_value=1000, places=14, allow_nan=False)
prices = st.integers(min_value=0, max_value=10**15).map(lambda m: D(m).scaleb(-8))
greeks = st.builds(Greeks, delta=decimals8, gamma=decimals8, vega=decimals8, rho=st.none() | decimals8,
                   theta=st.none() | decimals8, vanna=st.none() | decimals8, volga=st.none() | decimals8)
summaries = st.builds(
    MarketSummary, symbol=st.just("BTC-USD-PERP"), mark_price=texts8, last_traded_price=texts8, bid=texts8,
    bid_size=texts8, ask=texts8, ask_size=texts8, volume_24h=prices,
    total_volume=st.integers(min_value=0, max_value=10**25).map(lambda m: D(m).scaleb(-8)),
    created_at=st.integers(min_value=0, max_value=2**52), underlying_price=texts8, open_interest=sizes8,
    funding_rate=rates.map(lambda r: r if r is not None else D(0)),
    price_change_rate_24h=rates.map(lambda r: r if r is not None else D(0)),
    future_funding_rate=rates, external_fair_price=st.none() | prices, mark_iv=rates, bid_iv=rates,
    ask_iv=rates, last_iv=rates, delta=rates, greeks=st.none() | greeks, forward_rate=rates,
    risk_free_rate=rates,
)
fundings = st.builds(
    FundingData, market=st.just("ETH-USD-PERP"), funding_index=decimals8,
    funding_premium=rates.map(lambda r: r if r is not None else D(0)),
    funding_rate=rates.map(lambda r: r if r is not None else D(0)),
    funding_rate_8h=rates.map(lambda r: r if r is not None else D(0)),
    funding_period_hours=st.integers(min_value=1, max_value=24), created_at=st.integers(0, 2**52),
    impact_premium_rate=rates,
)


bbos = st.builds(
    Bbo, market=st.just("BTC-USD-PERP"), seq_no=mantissas, bid=texts8, bid_size=texts8, ask=texts8,
    ask_size=texts8, last_updated_at=st.integers(min_value=0, max_value=2**52),
)


@settings(max_examples=100, deadline=None)
@given(bbos)
def test_any_bbo_round_trips_to_its_canonical_form_and_keeps_empty_sides_empty(bbo: Bbo) -> None:
    expected = canonical(bbo)
    assert decode(encode(bbo)) == expected
    assert canonical(expected) == expected
    for name in ("bid", "bid_size", "ask", "ask_size"):
        assert (getattr(expected, name) == "") == (getattr(bbo, name) == "")
        assert getattr(expected, f"{name}_value") == getattr(bbo, f"{name}_value")


@settings(max_examples=150, deadline=None)
@given(st.one_of(summaries, fundings), st.integers(min_value=0, max_value=2))
def test_any_summary_or_funding_round_trips_to_its_canonical_form(model: Any, version: int) -> None:
    expected = canonical(model, version=version)
    assert decode(encode(model, version=version)) == expected
    assert canonical(expected, version=version) == expected
