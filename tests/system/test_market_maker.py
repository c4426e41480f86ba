"""examples.market_maker: its quoting rule, and a few seconds against the full in-process system."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from examples.market_maker import MarketMaker, Settings, needs_requote, quotes
from shared.client import CommandsClient, StateClient
from shared.settings import Secret, load
from tests.system.harness import TOKENS, M, System, full_system, wait_until


def test_quotes_straddle_mid_on_the_tick_and_never_cross() -> None:
    bid, ask = quotes(Decimal("60000.05"), Decimal(10), Decimal("0.1"))
    assert bid == Decimal("59940.0") and ask == Decimal("60060.1")
    tight_bid, tight_ask = quotes(Decimal("100.05"), Decimal(0), Decimal("0.1"))
    assert tight_bid < Decimal("100.05") < tight_ask and tight_ask - tight_bid == Decimal("0.1")


def test_requote_only_when_mid_moved_past_threshold() -> None:
    assert needs_requote(None, Decimal(100), Decimal(2))
    assert not needs_requote(Decimal(100), Decimal("100.01"), Decimal(2))
    assert needs_requote(Decimal(100), Decimal("100.03"), Decimal(2))
    assert needs_requote(Decimal(100), Decimal("99.97"), Decimal(2))


def test_settings_come_from_mm_environment() -> None:
    s = load(Settings, env={"MM_TOKEN": "t0k", "MM_MARKET": "ETH-USD-PERP", "MM_SIZE": "0.02",
                            "MM_HALF_SPREAD_BPS": "5"})
    assert s.token.reveal() == "t0k" and "t0k" not in repr(s)
    assert (s.market, s.size, s.half_spread_bps) == ("ETH-USD-PERP", Decimal("0.02"), Decimal(5))


async def test_market_maker_keeps_quotes_resting_in_venue_and_state_and_cancels_on_stop(
        nats_url: str, redis_url: str) -> None:
    async with full_system(nats_url, redis_url, sim={"synthetic_rate": 20.0}) as s:
        settings = Settings(state_url=s.state_url, commands_url=s.commands_url, token=Secret(TOKENS["mm"]),
                            market=M, size=Decimal("0.01"), half_spread_bps=Decimal(20),
                            requote_bps=Decimal("0.001"), interval_s=0.1)
        async with StateClient(s.state_url) as state, CommandsClient(s.commands_url, TOKENS["mm"]) as cmd:
            mm = MarketMaker(settings, state, cmd)
            task = asyncio.create_task(mm.run())
            try:
                await _exercise(s, state, mm)
            finally:
                mm.stop()
                await asyncio.wait_for(task, 10.0)

            async def none_open() -> bool:
                truth = await s.truth()
                venue_open = [o for o in truth["open_orders"] if o["client_id"].startswith("mm-")]
                st_open = [o for o in (await state.orders(market=M)).value
                           if o.client_id.startswith("mm-") and not o.is_terminal]
                return not venue_open and not st_open

            await wait_until(none_open, 5.0, "every quote cancelled in the venue and the state")


async def _exercise(s: System, state: StateClient, mm: MarketMaker) -> None:
    await asyncio.sleep(3.0)
    rounds = mm.requotes
    await s.fault("PUT", "/synthetic", {"rate": 0})  # a still mid: the quotes settle

    async def quoted_both_sides() -> bool:
        truth = await s.truth()
        venue = {(o["side"], o["client_id"]) for o in truth["open_orders"]
                 if o["client_id"] in mm.live}
        st = (await state.orders(status="OPEN", market=M)).value
        ours = {(o.side, o.client_id) for o in st if o.client_id in mm.live}
        return {side for side, _ in venue} == {"BUY", "SELL"} and venue == ours

    await wait_until(quoted_both_sides, 5.0, "a bid and an ask resting in the venue and the state")
    bbo = (await state.bbo(M)).value
    resting = [o for o in (await state.orders(status="OPEN", market=M)).value if o.client_id in mm.live]
    bid = next(o.price for o in resting if o.side == "BUY")
    ask = next(o.price for o in resting if o.side == "SELL")
    assert bid < ask and mm.quoted_mid is not None and bid < mm.quoted_mid < ask
    assert bbo.mid is not None
    print(f"\nmarket maker: {rounds} quote rounds in 3 s; resting bid {bid} ask {ask}; "
          f"mid now {bbo.mid}")
    assert rounds >= 2, "the synthetic mid moved but the market maker never re-quoted"

