"""Venue behaviour through the whole system (separate processes, real NATS and Redis): a stop
order placed through the commands service waits UNTRIGGERED and fills at its trigger, an hour of
funding reaches the state's balance, a liquidation leaves the state flat — each time the state
agrees with the simulator's truth. The venue schedule is off: time moves through the control API.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.system.procs import M, ProcSystem, process_system, wait_until

D = Decimal
TICK = D("0.1")
SIM = {"SIM_SCHEDULE_INTERVAL_MS": "0"}


async def _truth_position(ps: ProcSystem) -> Decimal:
    truth = await ps.truth()
    return next((D(p["size"]) for p in truth["positions"] if p["market"] == M), D(0))


async def _state_matches_truth(ps: ProcSystem) -> bool:
    truth = await ps.truth()
    state = ps.state_client()
    balance = (await state.balances()).value
    positions = {p.market: p.position.size for p in (await state.positions()).value}
    venue_positions = {p["market"]: D(p["size"]) for p in truth["positions"]}
    venue_balance = D(truth["balances"][0]["size"])
    return bool(balance) and balance[0].size == venue_balance and positions == venue_positions


async def _mark(ps: ProcSystem, price: Decimal | None) -> Any:
    body = {"market": M, "price": None if price is None else str(price)}
    return await ps.control("PUT", "/mark_price", body)


async def test_a_stop_order_waits_untriggered_in_the_state_then_fills_at_its_trigger(
        nats_url: str, redis_url: str, tmp_path: Path) -> None:
    async with process_system(nats_url, redis_url, tmp_path, sim=SIM) as ps:
        state, cmd = ps.state_client(), ps.commands_client()
        bbo = (await state.bbo(M)).value
        assert bbo.bid is not None and bbo.ask is not None
        trigger = (bbo.bid - 200).quantize(TICK)
        placed = await cmd.place(M, "SELL", D("0.01"), type="STOP_MARKET", trigger_price=trigger,
                                 client_id="stop-1")
        assert placed.status in ("accepted", "sent", "open", "new"), placed

        async def untriggered() -> bool:
            o = await state.find_order("stop-1")
            return o is not None and o.status == "UNTRIGGERED"

        await wait_until(untriggered, 10.0, "the state holding stop-1 UNTRIGGERED")
        await _mark(ps, trigger)

        async def filled() -> bool:
            o = await state.find_order("stop-1")
            return o is not None and o.status == "CLOSED" and await _state_matches_truth(ps)

        await wait_until(filled, 10.0, "stop-1 CLOSED and the state equal to the venue")
        assert await _truth_position(ps) == D("-0.01")


async def test_an_hour_of_funding_reaches_the_state_balance(nats_url: str, redis_url: str,
                                                            tmp_path: Path) -> None:
    async with process_system(nats_url, redis_url, tmp_path, sim=SIM) as ps:
        cmd = ps.commands_client()
        bbo = (await ps.state_client().bbo(M)).value
        assert bbo.ask is not None
        await cmd.place(M, "BUY", D("0.1"), bbo.ask, instruction="IOC", client_id="long", wait="ws")
        await wait_until(lambda: _state_matches_truth(ps), 10.0, "the state seeing the position")
        before = D((await ps.truth())["balances"][0]["size"])
        await ps.control("POST", "/time/advance", {"ms": 3_600_000})
        after = D((await ps.truth())["balances"][0]["size"])
        assert after < before  # the long paid funding
        await wait_until(lambda: _state_matches_truth(ps), 10.0, "the state's balance after the payment")


async def test_a_liquidation_leaves_the_state_flat_and_equal_to_the_venue(
        nats_url: str, redis_url: str, tmp_path: Path) -> None:
    async with process_system(nats_url, redis_url, tmp_path, sim=SIM) as ps:
        state, cmd = ps.state_client(), ps.commands_client()
        await ps.control("PUT", "/balance", {"amount": "2000"})
        bbo = (await state.bbo(M)).value
        assert bbo.ask is not None and bbo.bid is not None
        await cmd.place(M, "BUY", D("0.5"), bbo.ask, instruction="IOC", client_id="lev", wait="ws")
        await wait_until(lambda: _state_matches_truth(ps), 10.0, "the state seeing the position")
        await _mark(ps, (bbo.bid - 3000).quantize(TICK))
        assert (await ps.control("POST", "/liquidations/check"))["liquidated"] == [ps.account]

        async def flat() -> bool:
            account = (await state.account()).value.summary
            positions = (await state.positions()).value
            return (account.status == "LIQUIDATION" and all(p.position.size == 0 for p in positions)
                    and await _state_matches_truth(ps))

        await wait_until(flat, 10.0, "the state flat, in LIQUIDATION and equal to the venue")
        fills = (await state.fills(market=M)).value
        assert any(f.fill.fill_type == "LIQUIDATION" for f in fills)
