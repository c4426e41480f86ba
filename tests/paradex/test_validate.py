"""shared.paradex.validate: valid venue records pass, and each kind of garbage is refused with its
reason (property tests over random valid records, each mutated in one field)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.paradex import validate as v
from shared.paradex.models import (
    Account,
    Balance,
    BalanceEvent,
    Bbo,
    BookLevel,
    BookUpdate,
    Fill,
    FundingData,
    Greeks,
    MarketSummary,
    Order,
    OrderBook,
    Position,
    Trade,
    Tradebust,
    decode,
    encode,
)

ACCOUNT = "0x5e1f0c0ffee"
MARKETS = ("BTC-USD-PERP", "ETH-USD-PERP")
SCOPE = v.Scope.of(ACCOUNT, MARKETS)
NOW = 1_718_267_837_265
D = Decimal

# --- valid records -----------------------------------------------------------------------------

ts = st.integers(v.MIN_TS_MS, NOW + v.FUTURE_MS)
seqs = st.integers(0, v.MAX_SEQ)
ids = st.text(st.characters(codec="utf-8", categories=("L", "N", "P")), min_size=1, max_size=30)
markets = st.sampled_from(MARKETS)


def decimals(lo: str, hi: str = "1e20", places: int = 8) -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=D(lo), max_value=D(hi), places=places, allow_nan=False, allow_infinity=False)


signed, nonneg, positive = decimals("-1e20"), decimals("0"), decimals("0.00000001")
nonneg_text = st.one_of(st.just(""), nonneg.map(str))
pos_text = st.one_of(st.just(""), positive.map(str))
# our account as the venue may write it: other case, leading zeros
our_account = st.sampled_from([ACCOUNT, ACCOUNT.upper().replace("0X", "0x"), "0x000" + ACCOUNT[2:]])


def pick(values: frozenset[str]) -> st.SearchStrategy[str]:
    return st.sampled_from(sorted(values))


orders = st.builds(
    Order, id=ids, account=our_account, market=markets, side=pick(v.SIDES), type=pick(v.ORDER_TYPES),
    size=nonneg, remaining_size=nonneg, price=nonneg, status=pick(v.ORDER_STATUSES), created_at=ts,
    last_updated_at=ts, timestamp=ts, cancel_reason=st.sampled_from(["", "USER_CANCELED"]),
    client_id=st.one_of(st.just(""), ids), seq_no=seqs, instruction=pick(v.INSTRUCTIONS),
    avg_fill_price=nonneg_text, received_at=ts, published_at=ts,
    flags=st.lists(pick(v.ORDER_FLAGS), max_size=2), trigger_price=nonneg_text, stp=pick(v.STP_MODES))
fills = st.builds(
    Fill, id=ids, side=pick(v.SIDES), liquidity=pick(v.LIQUIDITY), market=markets, order_id=ids, price=nonneg,
    size=nonneg, fee=signed, fee_currency=st.just("USDC"), created_at=ts, remaining_size=nonneg,
    client_id=st.one_of(st.just(""), ids), fill_type=pick(v.FILL_TYPES), realized_pnl=signed,
    realized_funding=signed, account=our_account, underlying_price=nonneg_text,
    flags=st.lists(pick(v.FILL_FLAGS), max_size=2), orderbook_seq_no=st.one_of(st.none(), seqs))
positions = st.builds(
    Position, id=ids, account=our_account, market=markets, status=pick(v.POSITION_STATUSES),
    side=pick(v.POSITION_SIDES), size=signed, average_entry_price=nonneg, average_entry_price_usd=nonneg,
    average_exit_price=nonneg, unrealized_pnl=signed, unrealized_funding_pnl=signed, cost=signed,
    cost_usd=signed, cached_funding_index=signed, last_fill_id=st.one_of(st.just(""), ids), seq_no=seqs,
    liquidation_price=nonneg_text, leverage=nonneg_text, realized_positional_pnl=signed,
    realized_positional_funding_pnl=signed, created_at=st.one_of(st.none(), ts),
    last_updated_at=st.one_of(st.none(), ts), closed_at=st.one_of(st.none(), ts))
accounts = st.builds(
    Account, account=our_account, initial_margin_requirement=signed, maintenance_margin_requirement=signed,
    account_value=signed, total_collateral=signed, free_collateral=signed, margin_cushion=signed,
    settlement_asset=st.just("USDC"), updated_at=ts, status=st.just("ACTIVE"), seq_no=seqs)
balances = st.builds(Balance, token=st.just("USDC"), size=signed, last_updated_at=st.one_of(st.none(), ts),
                     cost=st.one_of(st.none(), signed), average_entry_price=st.one_of(st.none(), nonneg))
balance_events = st.builds(
    BalanceEvent, type=st.just("TRANSACTION_FILL"), status=st.just("ON_BLOCKCHAIN"),
    settlement_asset_name=st.just("USDC"), settlement_asset_address=st.just("0x1"),
    settlement_asset_balance_before=signed, settlement_asset_balance_after=signed,
    settlement_asset_price=nonneg, created_at=ts, fill_id=st.one_of(st.just(""), ids),
    market=st.one_of(st.just(""), markets), fees=st.one_of(st.none(), signed))
tradebusts = st.builds(Tradebust, account=our_account, busted_fill_id=ids, created_at=ts)
levels = st.builds(BookLevel, side=pick(v.SIDES), price=positive, size=nonneg)
books = st.builds(
    BookUpdate, seq_no=seqs, market=markets, last_updated_at=ts, update_type=pick(v.BOOK_UPDATE_TYPES),
    inserts=st.lists(levels, max_size=3), updates=st.lists(levels, max_size=3),
    deletes=st.lists(levels, max_size=3), best_bid_api=st.one_of(st.none(), levels),
    relative_spread=st.one_of(st.none(), signed))
bbos = st.builds(Bbo, market=markets, seq_no=seqs, bid=pos_text, bid_size=nonneg_text, ask=pos_text,
                 ask_size=nonneg_text, last_updated_at=ts)
trades = st.builds(Trade, id=ids, market=markets, side=pick(v.SIDES), size=nonneg, price=positive,
                   created_at=ts, trade_type=pick(v.FILL_TYPES))
summaries = st.builds(
    MarketSummary, symbol=markets, mark_price=nonneg_text, last_traded_price=nonneg_text, bid=pos_text,
    bid_size=nonneg_text, ask=pos_text, ask_size=nonneg_text, volume_24h=nonneg, total_volume=nonneg,
    created_at=ts, underlying_price=nonneg_text, open_interest=nonneg, funding_rate=signed,
    price_change_rate_24h=signed, mark_iv=st.one_of(st.none(), signed),
    greeks=st.one_of(st.none(), st.builds(Greeks, delta=signed, gamma=signed, vega=signed)))
fundings = st.builds(FundingData, market=markets, funding_index=signed, funding_premium=signed,
                     funding_rate=signed, funding_rate_8h=signed,
                     funding_period_hours=st.sampled_from([1, 8, 0.5]), created_at=ts)
orderbooks = st.builds(OrderBook, market=markets, seq_no=seqs, last_updated_at=ts,
                       bids=st.lists(st.tuples(positive, nonneg), max_size=3),
                       asks=st.lists(st.tuples(positive, nonneg), max_size=3))

RECORDS: dict[type, st.SearchStrategy[Any]] = {
    Order: orders, Fill: fills, Position: positions, Account: accounts, Balance: balances,
    BalanceEvent: balance_events, Tradebust: tradebusts, BookUpdate: books, Bbo: bbos, Trade: trades,
    MarketSummary: summaries, FundingData: fundings, OrderBook: orderbooks,
}
any_record = st.one_of(*RECORDS.values())


def test_every_record_type_has_a_strategy() -> None:
    assert set(RECORDS) == set(v.RECORD_TYPES)


@settings(max_examples=400, deadline=None)
@given(any_record)
def test_valid_records_pass_and_still_pass_after_a_json_round_trip(record: Any) -> None:
    assert v.check(record, SCOPE, NOW) is None
    assert v.check(decode(type(record), encode(record)), SCOPE, NOW) is None


# --- garbage: every field of its kind, mutated alone -------------------------------------------


def _decimal_fields(cls: type) -> list[str]:
    """Fields typed Decimal (or Decimal | None): every one must be checked."""
    out = []
    for f in mi.type_info(cls).fields:  # type: ignore[attr-defined]
        types = f.type.types if isinstance(f.type, mi.UnionType) else (f.type,)
        if any(isinstance(t, mi.DecimalType) for t in types):
            out.append(f.name)
    return out


NON_FINITE = [D("NaN"), D("-NaN"), D("sNaN"), D("Infinity"), D("-Infinity")]
ABSURD = [D("1E+24"), D("-1E+30"), D("1E-25"), D("0E-40"), D("0E+99"), D("1" * 60),
          D("1." + "0" * 60 + "1"), D("9E+999999")]


DECIMAL_FIELDS = [(cls, name) for cls in RECORDS for name in _decimal_fields(cls)]


@settings(max_examples=60, deadline=None)
@given(st.data(), st.sampled_from(DECIMAL_FIELDS), st.sampled_from(NON_FINITE + ABSURD))
def test_every_decimal_field_refuses_nan_infinity_and_absurd_numbers(
        data: st.DataObject, field: tuple[type, str], bad: Decimal) -> None:
    cls, name = field
    record = msgspec.structs.replace(data.draw(RECORDS[cls]), **{name: bad})
    got = v.check(record, SCOPE, NOW)
    assert got is not None and got.field == name
    assert got.reason == ("non_finite" if not bad.is_finite() else "out_of_range")


TEXT_FIELDS = [(Order, "avg_fill_price"), (Order, "trigger_price"), (Fill, "underlying_price"),
               (Position, "liquidation_price"), (Position, "leverage"), (Bbo, "bid"), (Bbo, "ask_size"),
               (MarketSummary, "mark_price"), (MarketSummary, "bid"), (MarketSummary, "underlying_price")]
BAD_TEXT = [("NaN", "non_finite"), ("Infinity", "non_finite"), ("-inf", "non_finite"), ("sNaN", "non_finite"),
            ("1e400", "out_of_range"), ("1" * 200, "out_of_range"), ("-1", "negative"),
            ("abc", "bad_schema"), ("1.2.3", "bad_schema")]


@settings(max_examples=60, deadline=None)
@given(st.data(), st.sampled_from(TEXT_FIELDS), st.sampled_from(BAD_TEXT))
def test_numbers_kept_as_text_refuse_garbage_with_its_reason(
        data: st.DataObject, field: tuple[type, str], bad: tuple[str, str]) -> None:
    cls, name = field
    value, reason = bad
    record = msgspec.structs.replace(data.draw(RECORDS[cls]), **{name: value})
    got = v.check(record, SCOPE, NOW)
    if reason == "negative" and name in ("bid", "ask"):
        reason = "not_positive"  # prices that must be > 0
    assert got == v.Rejection(reason, name, got.detail if got else ""), got


NEGATIVE = [(Order, "size"), (Order, "remaining_size"), (Order, "price"), (Fill, "size"), (Fill, "price"),
            (Position, "average_entry_price"), (Trade, "size"), (MarketSummary, "volume_24h"),
            (MarketSummary, "open_interest"), (BalanceEvent, "settlement_asset_price")]


@settings(max_examples=40, deadline=None)
@given(st.data(), st.sampled_from(NEGATIVE), decimals("-1e20", "-0.00000001"))
def test_sizes_and_amounts_refuse_negative_values(
        data: st.DataObject, field: tuple[type, str], bad: Decimal) -> None:
    cls, name = field
    got = v.check(msgspec.structs.replace(data.draw(RECORDS[cls]), **{name: bad}), SCOPE, NOW)
    assert got is not None and (got.reason, got.field) == ("negative", name)


@settings(max_examples=40, deadline=None)
@given(st.data(), decimals("-1e20", "0"))
def test_trade_and_book_prices_must_be_positive(data: st.DataObject, bad: Decimal) -> None:
    trade = msgspec.structs.replace(data.draw(trades), price=bad)
    assert v.check(trade, SCOPE, NOW) == v.Rejection("not_positive", "price", str(bad))
    level = BookLevel(side="BUY", price=bad, size=D(1))
    book = msgspec.structs.replace(data.draw(books), updates=[level])
    assert v.check(book, SCOPE, NOW) == v.Rejection("not_positive", "updates[0].price", str(bad))
    zero = msgspec.structs.replace(data.draw(bbos), bid="0.000")
    assert v.check(zero, SCOPE, NOW) == v.Rejection("not_positive", "bid", "0.000")


ENUMS = [(Order, "status"), (Order, "side"), (Order, "type"), (Order, "instruction"), (Order, "stp"),
         (Fill, "side"), (Fill, "liquidity"), (Fill, "fill_type"), (Position, "status"), (Position, "side"),
         (BookUpdate, "update_type"), (Trade, "side"), (Trade, "trade_type")]


@settings(max_examples=60, deadline=None)
@given(st.data(), st.sampled_from(ENUMS), st.sampled_from(["EXPLODED", "buy", "", "OPEN ", "\u0000"]))
def test_unknown_enum_values_refuse_the_record(
        data: st.DataObject, field: tuple[type, str], bad: str) -> None:
    cls, name = field
    if name == "stp" and bad == "":
        bad = "NONE"  # "" is a known stp (the OpenRPC results omit it)
    got = v.check(msgspec.structs.replace(data.draw(RECORDS[cls]), **{name: bad}), SCOPE, NOW)
    assert got is not None and (got.reason, got.field) == ("unknown_enum", name)


@given(orders, fills)
def test_unknown_flags_refuse_orders_and_fills(order: Order, fill: Fill) -> None:
    assert v.check(msgspec.structs.replace(order, flags=["REDUCE_ONLY", "SELF_DESTRUCT"]), SCOPE, NOW) == \
        v.Rejection("unknown_enum", "flags", "SELF_DESTRUCT")
    assert v.check(msgspec.structs.replace(fill, flags=["RPI"]), SCOPE, NOW) == \
        v.Rejection("unknown_enum", "flags", "RPI")  # fill flags are lower case


ACCOUNT_RECORDS = [orders, fills, positions, accounts, tradebusts]


@settings(max_examples=60, deadline=None)
@given(st.data(), st.sampled_from(ACCOUNT_RECORDS), st.sampled_from(["0x5e1f0c0ffef", "0xabc", "", "x"]))
def test_another_accounts_record_is_refused(data: st.DataObject, records: Any, other: str) -> None:
    record = msgspec.structs.replace(data.draw(records), account=other)
    assert v.check(record, SCOPE, NOW) == v.Rejection("foreign_account", "account", other)
    assert v.check(record, v.ANY, NOW) is None  # a scope without an account does not check it


MARKET_DATA = [(BookUpdate, "market"), (Bbo, "market"), (Trade, "market"), (MarketSummary, "symbol"),
               (FundingData, "market"), (OrderBook, "market")]
UNSAFE = ["BTC.>*", "BTC.*", ">", "BTC USD", "BTC\n", "", "x" * 65, "BTC\r\nPUB x 1", "ÉTH"]


@settings(max_examples=80, deadline=None)
@given(st.data(), st.sampled_from(MARKET_DATA), st.sampled_from(["SOL-USD-PERP", "DOGE_1"]))
def test_market_data_of_an_unsubscribed_market_is_refused(
        data: st.DataObject, field: tuple[type, str], other: str) -> None:
    cls, name = field
    record = msgspec.structs.replace(data.draw(RECORDS[cls]), **{name: other})
    assert v.check(record, SCOPE, NOW) == v.Rejection("unsubscribed_market", name, other)
    assert v.check(record, v.ANY, NOW) is None


ACCOUNT_MARKETS = [(Order, "market"), (Fill, "market"), (Position, "market"), (Balance, "token")]


@settings(max_examples=80, deadline=None)
@given(st.data(), st.sampled_from(MARKET_DATA + ACCOUNT_MARKETS), st.sampled_from(UNSAFE))
def test_a_market_that_is_not_a_safe_subject_token_is_refused_everywhere(
        data: st.DataObject, field: tuple[type, str], bad: str) -> None:
    cls, name = field
    record = msgspec.structs.replace(data.draw(RECORDS[cls]), **{name: bad})
    for scope in (SCOPE, v.ANY):
        got = v.check(record, scope, NOW)
        assert got is not None and (got.reason, got.field) == ("unsafe_market", name), got


@given(st.data(), st.sampled_from(ACCOUNT_MARKETS[:3]))
def test_account_records_of_other_markets_are_our_exposure_and_pass(
        data: st.DataObject, field: tuple[type, str]) -> None:
    cls, name = field
    record = msgspec.structs.replace(data.draw(RECORDS[cls]), **{name: "SOL-USD-PERP"})
    assert v.check(record, SCOPE, NOW) is None


SEQS = [(Order, "seq_no"), (Position, "seq_no"), (Account, "seq_no"), (BookUpdate, "seq_no"), (Bbo, "seq_no"),
        (OrderBook, "seq_no"), (Fill, "orderbook_seq_no")]


@settings(max_examples=60, deadline=None)
@given(st.data(), st.sampled_from(SEQS), st.integers(max_value=-1) | st.integers(min_value=2**63))
def test_sequence_numbers_must_be_in_range(data: st.DataObject, field: tuple[type, str], bad: int) -> None:
    cls, name = field
    got = v.check(msgspec.structs.replace(data.draw(RECORDS[cls]), **{name: bad}), SCOPE, NOW)
    assert got is not None and got.field == name
    assert got.reason == ("negative_seq" if bad < 0 else "out_of_range")


TIMES = [(Order, "created_at"), (Order, "last_updated_at"), (Fill, "created_at"),
         (Position, "last_updated_at"), (Account, "updated_at"), (BalanceEvent, "created_at"),
         (Tradebust, "created_at"),
         (BookUpdate, "last_updated_at"), (Bbo, "last_updated_at"), (Trade, "created_at"),
         (MarketSummary, "created_at"), (FundingData, "created_at")]


@settings(max_examples=60, deadline=None)
@given(st.data(), st.sampled_from(TIMES),
       st.sampled_from([1, 1_700_000_000, -5, NOW + v.FUTURE_MS + 1, 4_102_444_800_000,
                        1_718_267_837_265_000]))
def test_implausible_timestamps_are_refused(data: st.DataObject, field: tuple[type, str], bad: int) -> None:
    cls, name = field
    record = msgspec.structs.replace(data.draw(RECORDS[cls]), **{name: bad})
    assert v.check(record, SCOPE, NOW) == v.Rejection("bad_timestamp", name, str(bad))
    if bad > NOW:  # no receipt time known: only the lower bound holds
        assert v.check(record, SCOPE, 0) is None
    assert v.check(msgspec.structs.replace(record, **{name: 0}), SCOPE, NOW) is None  # 0: none given


IDS = [(Order, "id"), (Fill, "id"), (Trade, "id"), (Tradebust, "busted_fill_id"), (Order, "client_id")]


@settings(max_examples=40, deadline=None)
@given(st.data(), st.sampled_from(IDS), st.sampled_from(["", "a\nb", "x" * 257, "\x00"]))
def test_ids_must_be_printable_and_bounded(data: st.DataObject, field: tuple[type, str], bad: str) -> None:
    cls, name = field
    if name == "client_id" and bad == "":
        return  # an order without a client id is fine
    got = v.check(msgspec.structs.replace(data.draw(RECORDS[cls]), **{name: bad}), SCOPE, NOW)
    assert got is not None and (got.reason, got.field) == ("bad_id", name)


def test_funding_period_must_be_a_finite_positive_number() -> None:
    good = FundingData(market=MARKETS[0], funding_index=D(1), funding_premium=D(0), funding_rate=D(0),
                       funding_rate_8h=D(0), funding_period_hours=8, created_at=NOW)
    assert v.check(good, SCOPE, NOW) is None
    for bad in (float("nan"), float("inf"), 0, -8, 10**9):
        got = v.check(msgspec.structs.replace(good, funding_period_hours=bad), SCOPE, NOW)
        assert got is not None and got.reason == "out_of_range"


def test_scope_refuses_unsafe_markets_and_normalises_the_account() -> None:
    with pytest.raises(ValueError, match="subject token"):
        v.Scope.of(ACCOUNT, ["BTC.>"])
    assert v.Scope.of("0x000ABC").account == "0xabc" == v.account_key("0xAbc")
    assert not v.is_token("BTC\n") and v.is_token("BTC-USD-PERP")


def test_reasons_are_a_small_fixed_set_of_label_safe_names() -> None:
    assert len(v.REASONS) == len(set(v.REASONS)) < 20
    assert all(v.is_token(r) for r in v.REASONS)


def test_unknown_record_type_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        v.check(object(), SCOPE, NOW)
