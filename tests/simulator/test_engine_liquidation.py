"""Liquidations through the pure engine: the health check, the full transfer to the insurance
fund at mark (fills, tape, balance events), the penalty, bankruptcy, the status round trip and
a property over random accounts and prices."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.simulator.engine import (
    AccountUpdate,
    AlgoRequest,
    BalanceEvent,
    CancelReason,
    Exchange,
    FillEvent,
    OrderRequest,
    ScheduleConfig,
    Status,
    TradeEvent,
    VenueEvent,
    default_markets,
)
from services.simulator.engine.liquidation import INSURANCE_FUND

from .test_engine_helpers import BTC, limit, market, place

D = Decimal
ETH = "ETH-USD-PERP"
T0 = 1_700_000_000_000


def book(ex: Exchange) -> None:
    ex.set_balance("mm", "100000000", T0 - 100)
    for mkt, bid, ask in ((BTC, "64990", "65010"), (ETH, "3199", "3201")):
        for side, price in (("BUY", bid), ("SELL", ask)):
            req = OrderRequest(market=mkt, side=side, type="LIMIT", size="50", price=price)
            place(ex, "mm", req, now=T0 - 90)


def leveraged(balance: str = "2000", health_ms: int = 5_000) -> Exchange:
    """"u" holds 0.5 BTC long (bought at 65010) on ``balance`` USDC; mark 65000."""
    ex = Exchange(default_markets(), schedule=ScheduleConfig(health_check_interval_ms=health_ms))
    book(ex)
    ex.set_balance("u", balance, T0 - 80)
    place(ex, "u", market("BUY", "0.5"), now=T0 - 70)
    return ex


def of(events: list[VenueEvent], kind: type[Any], account: str = "u") -> list[Any]:
    out = []
    for e in events:
        if isinstance(e, kind):
            inner = getattr(e, "fill", None) or getattr(e, "summary", None)
            who = getattr(e, "account", None) or getattr(inner, "account", None)
            if kind is TradeEvent or who == account:
                out.append(e)
    return out


def test_an_account_below_maintenance_margin_is_liquidated_at_mark() -> None:
    ex = leveraged()
    resting = place(ex, "u", limit("SELL", "0.1", "70000"))[0]
    stop = place(ex, "u", OrderRequest(market=BTC, side="SELL", type="STOP_MARKET", size="0.5",
                                       trigger_price="60000"))[0]
    twap = ex.submit_algo("u", AlgoRequest(market=BTC, side="BUY", type="MARKET", size="0.002",
                                           duration_seconds=60), T0)
    ex.process(T0)
    ex.set_mark_price(BTC, "63000", T0 + 1)
    assert ex.health_check(T0 + 2) == [] and not ex.is_unhealthy("u")  # value 985 > MMR 787.5
    ex.set_mark_price(BTC, "62500", T0 + 3)
    summary = ex.account_summary("u")
    value, mmr = summary.account_value, summary.maintenance_margin_requirement
    assert value < mmr == D("0.501") * D("62500") * D("0.025")  # a TWAP child added 0.001
    assert ex.is_unhealthy("u")
    fund_before = ex.balances(INSURANCE_FUND)[0].size
    events = ex.health_check(T0 + 4)
    fills = [e.fill for e in of(events, FillEvent)]
    assert [(f.fill_type, f.side, f.size, f.price, f.orderbook_seq_no, f.liquidity) for f in fills] == [
        ("LIQUIDATION", "SELL", D("0.501"), D("62500"), 0, "TAKER")]
    penalty = (mmr * D("0.7")).quantize(D("1e-8"))
    assert fills[0].fee == penalty
    # the transfer also pays the funding accrued since the first check (2 ms of it)
    assert ex.balances("u")[0].size == value - penalty + fills[0].realized_funding
    assert ex.balances(INSURANCE_FUND)[0].size == fund_before + penalty
    assert ex.positions("u")[0].size == 0 and ex.positions(INSURANCE_FUND)[0].size == D("0.501")
    trades = [t for t in of(events, TradeEvent) if t.trade_type == "LIQUIDATION"]
    assert [(t.side, t.size, t.price) for t in trades] == [("SELL", D("0.501"), D("62500"))]
    balance_events = of(events, BalanceEvent)
    assert [b.type for b in balance_events] == ["TRANSACTION_LIQUIDATE"]
    accounts = [e.summary for e in of(events, AccountUpdate)]
    assert accounts[-1].status == "LIQUIDATION" and ex.account_summary("u").status == "LIQUIDATION"
    for order_id in (resting.id, stop.id):
        closed = ex.get_order("u", order_id)
        assert closed.status is Status.CLOSED and closed.cancel_reason is CancelReason.LIQUIDATION
    assert ex.get_algo("u", twap.id).cancel_reason is CancelReason.LIQUIDATION
    assert [v.created_at for v in ex.liquidations("u")] == [T0 + 4]
    assert ex.liquidations("u")[0].id.startswith("0x") and len(ex.liquidations("u")[0].id) == 65
    back = ex.health_check(T0 + 5)  # flat and healthy: ACTIVE again
    assert [e.summary.status for e in of(back, AccountUpdate)] == ["ACTIVE"]
    assert ex.health_check(T0 + 6) == []


def test_a_bankrupt_account_ends_at_zero_and_the_fund_covers_the_deficit() -> None:
    ex = leveraged()
    ex.set_mark_price(BTC, "55000", T0)
    value = ex.account_summary("u").account_value
    assert value < 0
    fund_before = ex.balances(INSURANCE_FUND)[0].size
    events = ex.health_check(T0 + 1)
    covers = [b for b in of(events, BalanceEvent) if b.fill_id == ""]
    assert len(covers) == 1 and covers[0].settlement_asset_balance_after == 0
    assert covers[0].realized_pnl == -covers[0].settlement_asset_balance_before > 0
    assert of(events, FillEvent)[0].fill.fee == 0  # nothing left to pay a penalty with
    assert ex.balances("u")[0].size == 0 and ex.positions("u")[0].size == 0
    assert ex.balances(INSURANCE_FUND)[0].size == fund_before + value


def test_penalty_is_split_by_market_mmr_and_every_position_closes() -> None:
    ex = leveraged(balance="3000")
    place(ex, "u", OrderRequest(market=ETH, side="SELL", type="MARKET", size="5"), now=T0)
    ex.set_mark_price(BTC, "61000", T0 + 1)
    ex.set_mark_price(ETH, "3300", T0 + 1)
    summary = ex.account_summary("u")
    assert summary.account_value < summary.maintenance_margin_requirement
    events = ex.health_check(T0 + 2)
    fills = {f.market: f for f in (e.fill for e in of(events, FillEvent))}
    assert fills[BTC].side == "SELL" and fills[ETH].side == "BUY" and fills[ETH].size == 5
    btc_mmr = D("0.5") * D("61000") * D("0.025")
    eth_mmr = D(5) * D("3300") * D("0.025")
    penalty = ((btc_mmr + eth_mmr) * D("0.7")).quantize(D("1e-8"))
    assert fills[BTC].fee + fills[ETH].fee == min(penalty, summary.account_value)
    assert fills[BTC].fee == (min(penalty, summary.account_value) * btc_mmr / (btc_mmr + eth_mmr)).quantize(
        D("1e-8"))
    assert all(p.size == 0 for p in ex.positions("u"))


def test_healthy_accounts_are_left_alone_and_a_forced_liquidation_still_works() -> None:
    ex = leveraged(balance="100000")
    assert ex.health_check(T0) == []
    events = ex.liquidate("u", T0 + 1)
    assert of(events, FillEvent)[0].fill.fill_type == "LIQUIDATION"
    assert ex.positions("u")[0].size == 0 and ex.account_summary("u").status == "LIQUIDATION"


def test_the_schedule_runs_the_health_check_on_its_interval_only() -> None:
    ex = leveraged()
    ex.advance(T0)
    ex.set_mark_price(BTC, "62500", T0 + 10)
    assert not [e for e in ex.advance(T0 + 4_000) if isinstance(e, FillEvent)]  # next check at T0+5s
    assert ex.positions("u")[0].size == D("0.5")
    assert of(ex.advance(T0 + 5_000), FillEvent)
    off = leveraged(health_ms=0)
    off.advance(T0)
    off.set_mark_price(BTC, "55000", T0 + 10)
    assert off.advance(T0 + 60_000) == [] and off.positions("u")[0].size == D("0.5")


accounts = st.lists(
    st.tuples(st.integers(200, 20_000), st.integers(-80, 80), st.integers(-80, 80)),
    min_size=1, max_size=5,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(accounts, st.integers(-4_000, 4_000), st.integers(-300, 300))
def test_after_a_health_check_no_account_is_unhealthy_and_liquidated_ones_are_flat(
    specs: list[tuple[int, int, int]], btc_move: int, eth_move: int
) -> None:
    ex = Exchange(default_markets())
    book(ex)
    names = [f"a{i}" for i in range(len(specs))]
    for name, (cash, btc_lots, eth_lots) in zip(names, specs, strict=True):
        ex.set_balance(name, str(cash), T0)
        for mkt, lots, step in ((BTC, btc_lots, D("0.01")), (ETH, eth_lots, D("0.1"))):
            if lots:
                req = OrderRequest(market=mkt, side="BUY" if lots > 0 else "SELL", type="MARKET",
                                   size=abs(lots) * step)
                place(ex, name, req, now=T0)
    before = {n: {p.market: p.size for p in ex.positions(n)} for n in names}
    ex.set_mark_price(BTC, D(65000 + btc_move), T0 + 1)
    ex.set_mark_price(ETH, D(3200 + eth_move), T0 + 1)
    doomed = {n for n in names if ex.is_unhealthy(n)}
    balances = {n: ex.balances(n)[0].size for n in names}
    events = ex.health_check(T0 + 2)
    for n in names:
        positions = {p.market: p.size for p in ex.positions(n)}
        if n in doomed:
            assert all(size == 0 for size in positions.values())
            assert ex.account_summary(n).status == "LIQUIDATION" and ex.balances(n)[0].size >= 0
        else:
            assert positions == before[n] and ex.account_summary(n).status == "ACTIVE"
        assert not ex.is_unhealthy(n)
        chain = balances[n]
        for b in of(events, BalanceEvent, n):
            assert b.settlement_asset_balance_before == chain
            chain = b.settlement_asset_balance_after
        assert chain == ex.balances(n)[0].size
