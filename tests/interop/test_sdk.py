"""The official SDK (paradex-py 0.8.2, Python 3.10) against the simulator, unchanged except for
its URLs, with order signature checks on; every step its own test, with JSON pushes (checked
with the SDK's own payload models) and with SBE (schema version 2, decoded by the SDK's codec).
Skipped, saying how to build it, when ``.venv-sdk`` (made by ``tests/interop/setup.sh`` when
pyenv has a 3.10) is absent. The runner may only open loopback sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.interop.peers import peer_python, run_peer
from tests.simfixture import start_simulator

SDK_STEPS = [
    "constructor", "onboarding_and_auth", "server_derived_address", "markets", "order_book", "create_order",
    "edit_order", "cancel_order", "create_orders", "cancel_orders", "open_orders", "closed_orders",
    "positions", "balance", "my_trades", "ohlcv", "account_info", "ws_connect", "ws_order_book", "ws_trades",
    "ws_orders", "ws_fills_positions_account", "ws_payloads_match_sdk_models", "ws_order_methods",
    "ws_cancel_on_disconnect",
]


@pytest.fixture(scope="module", params=["json", "sbe"])
async def sdk_results(request: pytest.FixtureRequest) -> AsyncIterator[dict[str, dict[str, Any]]]:
    python = peer_python(".venv-sdk", "paradex-py 0.8.2 needs Python 3.10")
    sim = await start_simulator()
    assert sim.sim.venue.verify_signatures
    try:
        results = await run_peer(python, "sdk_runner.py", sim, sbe=request.param == "sbe")
        sbe_frames = sim.sim.hub.sbe_pushes
        results["_feed"] = {"step": "_feed", "ok": (sbe_frames > 0) == (request.param == "sbe"),
                            "detail": {"mode": request.param, "sbe_frames": sbe_frames}}
        yield results
    finally:
        await sim.sim.stop(graceful=False)


def test_the_runner_ran_every_step_on_the_encoding_asked(sdk_results: dict[str, dict[str, Any]]) -> None:
    assert [s for s in sdk_results if s not in ("_feed", "_close")] == SDK_STEPS
    assert sdk_results["_feed"]["ok"], sdk_results["_feed"]["detail"]
    assert "_close" not in sdk_results, sdk_results.get("_close")


@pytest.mark.parametrize("step", SDK_STEPS)
def test_sdk_step(sdk_results: dict[str, dict[str, Any]], step: str) -> None:
    result = sdk_results.get(step)
    assert result is not None, f"the runner did not report {step}"
    assert result["ok"], f"{step}: {result['detail']}\n{result.get('trace', '')}"
