"""The process harness itself: every service as its own process, an order end to end, a restart."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from tests.system.procs import M, process_system, wait_until


async def test_order_through_separate_processes_reaches_state_and_survives_a_state_restart(
        nats_url: str, redis_url: str, tmp_path: Path) -> None:
    async with process_system(nats_url, redis_url, tmp_path) as ps:
        state, cmd = ps.state_client(), ps.commands_client()
        bbo = (await state.bbo(M)).value
        assert bbo.bid is not None
        price = (bbo.bid - Decimal(1000)).quantize(Decimal("0.1"))
        placed = await cmd.place(M, "BUY", Decimal("0.01"), price, client_id="proc-1", wait="ws")
        assert placed.status == "open", placed
        order = await state.find_order("proc-1")
        assert order is not None and order.status == "OPEN"
        for name in ("state", "commands"):  # STATE_GC_FREEZE / COMMANDS_GC_FREEZE default true
            assert "start-up objects frozen" in ps.log(name), ps.log(name)[-2000:]

        await ps.kill("state")
        await ps.restart("state")

        async def back() -> bool:
            o = await ps.state_client().find_order("proc-1")
            return o is not None and o.status == "OPEN"

        await wait_until(back, 20.0, "the restarted state serving the order")
        truth = await ps.truth()
        assert any(o.get("client_id") == "proc-1" for o in truth["orders"]), truth.keys()
