"""ccxt 4.5.90 (REST and pro) against the simulator, unchanged except for its URLs, with order
signature checks on; every step its own test, with the public WebSocket feed in JSON and in SBE
(schema version 2). The runner (``ccxt_runner.py``) runs in ``.venv-ccxt`` and may only open
loopback sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.interop.peers import peer_python, run_peer
from tests.simfixture import start_simulator

CCXT_STEPS = [
    "markets", "order_book", "onboarding", "auth", "create_order", "edit_order", "cancel_order",
    "create_orders", "cancel_orders", "open_orders", "closed_orders", "positions", "balance", "my_trades",
    "ohlcv", "leverage", "watch_order_book", "watch_trades", "watch_orders", "watch_my_trades",
    "watch_positions", "watch_balance",
]


@pytest.fixture(scope="module", params=["json", "sbe"])
async def ccxt_results(request: pytest.FixtureRequest) -> AsyncIterator[dict[str, dict[str, Any]]]:
    python = peer_python(".venv-ccxt", "ccxt 4.5.90 in its own virtualenv")
    sim = await start_simulator()
    assert sim.sim.venue.verify_signatures
    try:
        results = await run_peer(python, "ccxt_runner.py", sim, sbe=request.param == "sbe", sbe_version=2)
        # The SBE run really read binary frames (and the JSON run none).
        sbe_frames = sim.sim.hub.sbe_pushes
        results["_feed"] = {"step": "_feed", "ok": (sbe_frames > 0) == (request.param == "sbe"),
                            "detail": {"mode": request.param, "sbe_frames": sbe_frames}}
        yield results
    finally:
        await sim.sim.stop(graceful=False)


def test_the_runner_ran_every_step_on_the_encoding_asked(ccxt_results: dict[str, dict[str, Any]]) -> None:
    assert [s for s in ccxt_results if s != "_feed"] == CCXT_STEPS
    assert ccxt_results["_feed"]["ok"], ccxt_results["_feed"]["detail"]


@pytest.mark.parametrize("step", CCXT_STEPS)
def test_ccxt_step(ccxt_results: dict[str, dict[str, Any]], step: str) -> None:
    result = ccxt_results.get(step)
    assert result is not None, f"the runner did not report {step}"
    assert result["ok"], f"{step}: {result['detail']}\n{result.get('trace', '')}"
