"""The kill switch fold and the daily PnL of strategies (pure)."""

from __future__ import annotations

from decimal import Decimal as D

import msgspec

from services.commands.core.kill import KillState
from services.commands.core.pnl import DAY_MS, DailyPnl, check_loss
from services.commands.core.rules import Intent
from services.commands.core.strategies import Strategy
from shared.bus import KillSwitch
from shared.paradex.models.account import Fill

M = "BTC-USD-PERP"


def ks(active: bool, strategy: str = "") -> KillSwitch:
    return KillSwitch(source="cmd", active=active, strategy=strategy)


def test_a_global_kill_refuses_everyone_and_strategy_kills_outlive_its_resume() -> None:
    state = KillState()
    state.apply(1, ks(True, "mm"))
    assert state.refusal("mm") is not None and state.refusal("arb") is None
    state.apply(2, ks(True))
    v = state.refusal("arb")
    assert v is not None and (v.error, v.status) == ("KILL_SWITCH", 403)
    state.apply(3, ks(False))
    assert state.refusal("arb") is None and state.refusal("mm") is not None
    state.apply(2, ks(True))  # an old event delivered again: ignored
    assert state.refusal("arb") is None
    state.apply(4, ks(False, "mm"))
    assert state.refusal("mm") is None and state.view() == {"global": False, "strategies": []}


def fill(fid: str, side: str, size: str, price: str, fee: str = "0", at: int = DAY_MS * 20_000 + 5) -> Fill:
    return msgspec.convert(
        {
            "id": fid,
            "side": side,
            "liquidity": "TAKER",
            "market": M,
            "order_id": "1",
            "price": price,
            "size": size,
            "fee": fee,
            "fee_currency": "USDC",
            "created_at": at,
            "remaining_size": "0",
            "client_id": "c",
            "fill_type": "FILL",
            "realized_pnl": "0",
            "realized_funding": "0",
            "account": "0x1",
            "underlying_price": "",
            "flags": [],
        },
        Fill,
    )


def test_the_day_loss_counts_each_fill_once_marks_positions_and_rolls_over() -> None:
    pnl = DailyPnl()
    pnl.apply("mm", fill("1", "BUY", "1", "100", fee="0.5"))
    pnl.apply("mm", fill("1", "BUY", "1", "100", fee="0.5"))  # the same fill from REST: once
    assert pnl.loss("mm", {M: D(100)}) == D("0.5")
    assert pnl.loss("mm", {M: D(90)}) == D("10.5")  # marked at 90
    pnl.apply("mm", fill("2", "SELL", "1", "95", fee="0.5"))
    assert pnl.loss("mm", {M: D(1)}) == D(6)  # flat: 5 lost on price + 1 in fees, whatever the mark
    assert pnl.loss("arb", {}) == 0
    pnl.apply("mm", fill("3", "BUY", "1", "100", at=DAY_MS * 20_001))  # a new UTC day
    assert pnl.loss("mm", {M: D(100)}) == 0
    pnl.apply("mm", fill("4", "SELL", "1", "1", at=DAY_MS * 20_000))  # a late fill of yesterday
    assert pnl.loss("mm", {M: D(100)}) == 0


def test_max_loss_lets_reduce_only_orders_through() -> None:
    pnl = DailyPnl()
    pnl.apply("mm", fill("1", "BUY", "1", "100", fee="3"))
    s = Strategy(name="mm", token="t" * 16, max_loss=D(2))
    new = Intent(market=M, side="BUY", type="LIMIT", size=D(1), price=D(1))
    v = check_loss(s, new, pnl, {M: D(100)})
    assert v is not None and (v.error, v.rule, v.status) == ("LOSS_LIMIT", "max_loss", 403)
    reduce = Intent(market=M, side="SELL", type="LIMIT", size=D(1), price=D(1), flags=("REDUCE_ONLY",))
    assert check_loss(s, reduce, pnl, {M: D(100)}) is None
    assert check_loss(Strategy(name="mm", token="t" * 16), new, pnl, {M: D(100)}) is None
