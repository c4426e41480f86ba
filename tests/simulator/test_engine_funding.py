"""Funding through the pure engine: index accrual by the schedule, periodic payments, payments
realized at fills, the position/account figures, and the sum invariant (property test)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.simulator.engine import (
    AccountUpdate,
    BalanceEvent,
    BalanceUpdate,
    Exchange,
    FillEvent,
    FundingPaymentEvent,
    PositionUpdate,
    ScheduleConfig,
    VenueEvent,
    default_markets,
)

from .test_engine_helpers import BTC, limit, market, place

D = Decimal
HOUR = 3_600_000
T0 = 1_700_000_000_000 // HOUR * HOUR  # on an hour boundary


def funded(interval: int = HOUR) -> Exchange:
    """Long "u" 0.5 BTC against short "s" (both user accounts); mark 65000; schedule started."""
    ex = Exchange(default_markets(), schedule=ScheduleConfig(funding_payment_interval_ms=interval))
    place(ex, "mm", limit("BUY", "5", "64990"), now=T0 - 100)
    place(ex, "mm", limit("SELL", "5", "65010"), now=T0 - 100)
    place(ex, "s", limit("SELL", "0.5", "65000"), now=T0 - 100)
    place(ex, "u", limit("BUY", "0.5", "65000"), now=T0 - 100)
    ex.advance(T0)
    return ex


def q(value: Decimal) -> Decimal:
    return value.quantize(D("1e-8"))


def kinds(events: list[VenueEvent]) -> list[str]:
    return [e.kind for e in events]


def test_the_index_accrues_rate_times_spot_per_period() -> None:
    ex = funded()
    assert ex.funding_index[BTC] == 0
    ex.advance(T0 + 8 * HOUR)  # one whole period at the base rate 0.0001 and spot = mark 65000
    assert ex.funding_index[BTC] == D("6.5") == ex.funding_premium(BTC)
    assert ex.funding_data(BTC).funding_index == D("6.5")
    ex.advance(T0 + 8 * HOUR + 1_000)  # one second: 6.5 / 28800 rounded to 1e-8
    assert ex.funding_index[BTC] == D("6.5") + (D("6.5") / 28_800).quantize(D("1e-8"))


def test_a_periodic_payment_moves_accrued_funding_into_balances_and_pushes_it() -> None:
    ex = funded()
    ex.advance(T0 + HOUR - 1)  # accrues, no payment yet
    accrued = ex.positions("u")[0]
    assert accrued.unrealized_funding_pnl == q(-D("0.5") * ex.funding_index[BTC])
    assert accrued.unrealized_pnl == D("0.5") * D("65000") - accrued.cost + accrued.unrealized_funding_pnl
    before = {a: ex.balances(a)[0].size for a in ("u", "s")}
    events = ex.advance(T0 + HOUR)
    index = ex.funding_index[BTC]
    assert index == (D("6.5") / 8).quantize(D("1e-8"))
    payments = {e.payment.account: e.payment for e in events if isinstance(e, FundingPaymentEvent)}
    assert payments["u"].payment == q(-D("0.5") * index) and payments["s"].payment == q(D("0.5") * index)
    assert payments["u"].fill_id == "" and payments["u"].index == index and payments["u"].market == BTC
    assert ex.balances("u")[0].size == before["u"] + payments["u"].payment
    assert ex.balances("s")[0].size == before["s"] + payments["s"].payment
    pos = ex.positions("u")[0]
    assert pos.unrealized_funding_pnl == 0 and pos.cached_funding_index == index
    assert pos.realized_positional_funding_pnl == payments["u"].payment == pos.realized_positional_pnl
    mine = [e for e in events if getattr(e, "account", None) == "u" or _account(e) == "u"]
    assert kinds(mine) == ["balance_event", "funding_payment", "position", "balance", "account"]
    event = next(e for e in mine if isinstance(e, BalanceEvent))
    assert event.type == "FUNDING_PAYMENT" and event.realized_funding == payments["u"].payment
    change = event.settlement_asset_balance_after - event.settlement_asset_balance_before
    assert change == event.realized_funding
    assert [p.id for p in ex.funding_payments("u", market=BTC)] == [payments["u"].id]
    assert ex.advance(T0 + HOUR + 10) == []  # accrues, but no payment is due


def _account(e: VenueEvent) -> str:
    if isinstance(e, PositionUpdate):
        return e.position.account
    if isinstance(e, AccountUpdate):
        return e.summary.account
    if isinstance(e, BalanceUpdate):
        return e.account
    if isinstance(e, FundingPaymentEvent):
        return e.payment.account
    return ""


def test_a_fill_realizes_the_accrued_funding_and_names_itself_in_the_payment() -> None:
    ex = funded(interval=0)  # no periodic payments: only fills realize funding
    ex.advance(T0 + 4 * HOUR)
    index = ex.funding_index[BTC]
    assert ex.advance(T0 + 4 * HOUR) == [] and index == D("3.25")
    balance = ex.balances("u")[0].size
    _, events = place(ex, "u", market("SELL", "0.2"), now=T0 + 4 * HOUR)
    fill = next(e.fill for e in events if isinstance(e, FillEvent) and e.fill.account == "u")
    payment = next(e.payment for e in events if isinstance(e, FundingPaymentEvent))
    assert fill.realized_funding == q(-D("0.5") * index) == payment.payment and payment.fill_id == fill.id
    event = next(e for e in events if isinstance(e, BalanceEvent) and e.account == "u")
    assert event.type == "TRANSACTION_FILL" and event.funding_index == index
    assert ex.balances("u")[0].size == balance + fill.realized_pnl - fill.fee + fill.realized_funding
    assert ex.positions("u")[0].cached_funding_index == index
    assert ex.positions("u")[0].unrealized_funding_pnl == 0


def test_account_value_includes_accrued_funding() -> None:
    ex = funded(interval=0)
    value = ex.account_summary("u").account_value
    ex.advance(T0 + 8 * HOUR)
    assert ex.account_summary("u").account_value == value - D("0.5") * D("6.5")
    assert ex.account_summary("s").account_value > 0


def test_an_explicit_payment_and_the_schedule_never_pay_twice() -> None:
    ex = funded()
    ex.advance(T0 + 30 * 60_000)
    first = [e for e in ex.pay_funding(T0 + 30 * 60_000, BTC) if isinstance(e, FundingPaymentEvent)]
    assert len(first) == 2
    again = ex.advance(T0 + HOUR)  # the hour's payment covers only the half hour since
    paid = [e.payment.payment for e in again if isinstance(e, FundingPaymentEvent) and _account(e) == "u"]
    assert paid == [q(-D("0.5") * (ex.funding_index[BTC] - first[0].payment.index))]


ops = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), st.integers(1, 3 * HOUR)),
        st.tuples(st.just("trade"), st.sampled_from(["BUY", "SELL"]), st.integers(1, 40)),
        st.tuples(st.just("pay")),
        st.tuples(st.just("mark"), st.integers(-500, 500)),
    ),
    min_size=5, max_size=40,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_funding_payments_sum_to_index_change_times_size(operations: list[tuple[Any, ...]]) -> None:
    ex = funded(interval=HOUR)
    now = T0
    expected = {"u": D(0), "s": D(0)}
    for op in [*operations, ("pay",)]:  # a last payment settles everything accrued
        index, sizes = ex.funding_index[BTC], {a: _size(ex, a) for a in expected}
        if op[0] == "advance":
            now += op[1]
            ex.advance(now)  # a payment on the way is fine: it pays what accrued
        elif op[0] == "trade":  # "u" and "s" trade with each other: zero-sum positions
            price = ex.mark_price(BTC).quantize(D("0.1"))
            buyer, seller = ("u", "s") if op[1] == "BUY" else ("s", "u")
            place(ex, seller, limit("SELL", str(D(op[2]) / 100), str(price)), now=now)
            place(ex, buyer, limit("BUY", str(D(op[2]) / 100), str(price)), now=now)
        elif op[0] == "pay":
            ex.pay_funding(now)
        else:
            ex.set_mark_price(BTC, D(65000) + op[1], now)
        for a in expected:  # sizes held over whatever the index moved by during the op
            expected[a] += -sizes[a] * (ex.funding_index[BTC] - index)
    for acct, want in expected.items():
        payments = ex.funding_payments(acct)
        paid = sum((p.payment for p in payments), D(0))
        assert abs(paid - want) <= D("0.000000005") * (len(payments) + 1)
        fills = ex.list_fills(acct)
        cash = sum((f.realized_pnl - f.fee for f in fills), D(0))
        assert ex.balances(acct)[0].size == D(100_000) + cash + paid
        assert _size(ex, acct) == 0 or ex.positions(acct)[0].unrealized_funding_pnl == 0


def _size(ex: Exchange, account: str) -> Decimal:
    return next((p.size for p in ex.positions(account) if p.market == BTC), D(0))


def test_skipping_the_schedule_accrues_and_pays_but_stamps_the_event_clock() -> None:
    ex = funded()
    events = ex.advance(T0 + 5, skip_ms=8 * HOUR)  # "8 hours later", 5 ms of wall time later
    assert ex.funding_index[BTC] == q(D("6.5") * (8 * HOUR + 5) / (8 * HOUR))
    payments = [e.payment for e in events if isinstance(e, FundingPaymentEvent)]
    assert len(payments) == 2 and {p.created_at for p in payments} == {T0 + 5}
    assert ex.advance(T0 + 10) == []  # the schedule stays shifted: the next payment is an hour on
    assert [e.kind for e in ex.advance(T0 + 10, skip_ms=HOUR)].count("funding_payment") == 2
