"""examples.market_maker: its quoting rules, then the documented command (``.venv/bin/python -m
examples.market_maker``) against the system running as processes, on ETH-USD-PERP (tick 0.01,
size 0.01: learned from /v1/markets, not hard-coded)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from decimal import Decimal
from pathlib import Path

import httpx

from examples.market_maker import Settings, needs_requote, quote_size, quotes
from shared.settings import load
from tests.system.procs import ROOT, STRATEGIES, TOKENS, M, ProcSystem, process_system, wait_until

ETH = "ETH-USD-PERP"


def test_quotes_straddle_mid_on_the_tick_and_never_cross() -> None:
    bid, ask = quotes(Decimal("60000.05"), Decimal(10), Decimal("0.1"))
    assert bid == Decimal("59940.0") and ask == Decimal("60060.1")
    tight_bid, tight_ask = quotes(Decimal("100.05"), Decimal(0), Decimal("0.1"))
    assert tight_bid < Decimal("100.05") < tight_ask and tight_ask - tight_bid == Decimal("0.1")
    eth_bid, eth_ask = quotes(Decimal("3000.005"), Decimal(10), Decimal("0.01"))
    assert (eth_bid, eth_ask) == (Decimal("2997.00"), Decimal("3003.01"))


def test_requote_only_when_mid_moved_past_threshold() -> None:
    assert needs_requote(None, Decimal(100), Decimal(2))
    assert not needs_requote(Decimal(100), Decimal("100.01"), Decimal(2))
    assert needs_requote(Decimal(100), Decimal("100.03"), Decimal(2))
    assert needs_requote(Decimal(100), Decimal("99.97"), Decimal(2))


def test_size_is_on_the_increment_and_meets_the_minimum_notional() -> None:
    assert quote_size(Decimal("0.001"), Decimal(3000), Decimal("0.01"), Decimal(0)) == Decimal("0.01")
    assert quote_size(Decimal("0.037"), Decimal(3000), Decimal("0.01"), Decimal(0)) == Decimal("0.03")
    assert quote_size(Decimal("0.01"), Decimal(3000), Decimal("0.01"), Decimal(100)) == Decimal("0.04")


def test_settings_come_from_mm_environment() -> None:
    s = load(Settings, env={"MM_TOKEN": "t0k", "MM_MARKET": "ETH-USD-PERP", "MM_SIZE": "0.02",
                            "MM_HALF_SPREAD_BPS": "5", "MM_CLIENT_PREFIX": "q1"})
    assert s.token.reveal() == "t0k" and "t0k" not in repr(s)
    assert (s.market, s.size, s.half_spread_bps, s.client_prefix) == (ETH, Decimal("0.02"), Decimal(5), "q1")


async def test_documented_command_quotes_from_sse_and_stops_cancelling_only_its_own_orders(
        nats_url: str, redis_url: str, tmp_path: Path) -> None:
    both = [{**s, "markets": [M, ETH]} for s in STRATEGIES]
    async with process_system(nats_url, redis_url, tmp_path, markets=(ETH, M), strategies=both,
                              sim={"SIM_SYNTHETIC_RATE": "20"}) as ps:
        state, cmd = ps.state_client(), ps.commands_client()
        bbo = (await state.bbo(ETH)).value
        assert bbo.bid is not None
        far = (bbo.bid * Decimal("0.9")).quantize(Decimal("0.01"))
        manual = await cmd.place(ETH, "BUY", Decimal("0.05"), far, client_id="my-manual-order", wait="ws")
        assert manual.status == "open", manual
        out = tmp_path / "mm.log"
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONUNBUFFERED": "1", "MM_STATE_URL": ps.state_url,
               "MM_COMMANDS_URL": ps.commands_url, "MM_TOKEN": TOKENS["mm"], "MM_MARKET": ETH,
               "MM_HALF_SPREAD_BPS": "20", "MM_REQUOTE_BPS": "0.01", "PARADEX_REST_URL": ps.rest_url}
        with out.open("wb") as log:
            mm = await asyncio.create_subprocess_exec(
                str(Path(sys.executable)), "-m", "examples.market_maker", cwd=ROOT, env=env,
                stdout=log, stderr=log, stdin=asyncio.subprocess.DEVNULL)
        try:
            await wait_until(lambda: _two_sided(ps), 20, "a bid and an ask of the market maker resting")
            assert await _sse_clients(ps) >= 1  # it follows the bbo over SSE
            await asyncio.sleep(3.0)  # the synthetic mid moves: re-quotes
        finally:
            mm.send_signal(signal.SIGINT)
            code = await asyncio.wait_for(mm.wait(), 20)
        text = out.read_text()
        assert code == 0, text
        lines = text.splitlines()
        quoted = [line for line in lines if " quoted ETH-USD-PERP " in line]
        assert len(quoted) >= 2, text  # it re-quoted as the mid moved
        assert "tick 0.01, size increment 0.01" in text, text
        assert not [line for line in lines if "refused" in line or "Traceback" in line], text
        assert "stopped: cancelled" in text and "(client ids mm-*)" in text, text

        async def only_manual_left() -> bool:
            live = [o for o in (await state.orders(status=["OPEN", "NEW", "PENDING_NEW", "PENDING_CANCEL"],
                                                   market=ETH)).value]
            truth = await ps.truth()
            venue = [o["client_id"] for o in truth["open_orders"] if o["market"] == ETH]
            return [o.client_id for o in live] == ["my-manual-order"] and venue == ["my-manual-order"]

        await wait_until(only_manual_left, 10, "every quote cancelled, the manual order still open")
        print(f"\nmarket maker: {len(quoted)} quote rounds, stopped with exit 0, manual order untouched")


async def _two_sided(ps: ProcSystem) -> bool:
    orders = (await ps.state_client().orders(status="OPEN", market=ETH)).value
    return {o.side for o in orders if o.client_id.startswith("mm-")} == {"BUY", "SELL"}


async def _sse_clients(ps: ProcSystem) -> float:
    async with httpx.AsyncClient(timeout=5.0) as c:
        text = (await c.get(f"{ps.state_url}/metrics")).text
    return next(float(line.split()[1]) for line in text.splitlines() if line.startswith("state_sse_clients "))
