"""Start-up refusals as processes: errors that name the setting or the URL, no traceback.

- commands with no strategies against a venue that is not the simulator: exit 2 naming
  COMMANDS_STRATEGIES (it would answer 401 to everyone); against the simulator it starts. The
  public paper token and paper key are refused the same way anywhere but the simulator.
- commands whose venue URL answers nothing: exit 1 naming the URL.
- a malformed NATS_URL: the service names the variable.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.config import DEV_L2_PRIVATE_KEY, DEV_STRATEGY_TOKEN
from shared.localservers import free_port, wait_port
from tests.system.procs import ROOT, SIM_ENV, new_account, new_private_key


def _env(nats_url: str, redis_url: str, rest_port: int, ws_port: int, **extra: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
            "PYTHONUNBUFFERED": "1", "NATS_URL": nats_url, "REDIS_URL": redis_url,
            "PARADEX_ACCOUNT": new_account(), "PARADEX_L2_PRIVATE_KEY": new_private_key(),
            "PARADEX_MARKETS": "BTC-USD-PERP", "PARADEX_REST_URL": f"http://127.0.0.1:{rest_port}/v1",
            "PARADEX_WS_URL": f"ws://127.0.0.1:{ws_port}/v1", "COMMANDS_HTTP_PORT": str(free_port()), **extra}


def _run(module: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def _simulator(env: dict[str, str], tmp: Path, chain: str) -> subprocess.Popen[bytes]:
    rest = env["PARADEX_REST_URL"].split(":")[2].split("/")[0]
    ws = env["PARADEX_WS_URL"].split(":")[2].split("/")[0]
    sim_env = {**env, **SIM_ENV, "SIM_REST_PORT": rest, "SIM_WS_PORT": ws,
               "SIM_CONTROL_PORT": str(free_port()), "SIM_CHAIN_ID": chain}
    sim_env.pop("COMMANDS_HTTP_PORT")
    out = (tmp / f"sim-{chain}.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "services.simulator"], env=sim_env, cwd=ROOT, stdout=out,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    ok = wait_port("127.0.0.1", int(rest), 30)
    assert ok, (tmp / f"sim-{chain}.log").read_text()
    return proc


@pytest.mark.slow
@pytest.mark.parametrize("chain", ["PRIVATE_SN_PARACLEAR_MAINNET", "PRIVATE_SN_POTC_MOCK_SEPOLIA"])
def test_commands_without_strategies_refuses_a_real_venue_and_starts_against_the_simulator(
        nats_url: str, redis_url: str, tmp_path: Path, chain: str) -> None:
    env = _env(nats_url, redis_url, free_port(), free_port(), COMMANDS_STRATEGIES="")
    sim = _simulator(env, tmp_path, chain)
    try:
        if "MOCK" not in chain:
            paper = json.dumps([{"name": "dev", "token": DEV_STRATEGY_TOKEN, "markets": []}])
            key = "PARADEX_L2_PRIVATE_KEY"
            for extra, variable in [({}, "COMMANDS_STRATEGIES"),
                                    ({"COMMANDS_STRATEGIES": paper}, "COMMANDS_STRATEGIES"),
                                    ({key: DEV_L2_PRIVATE_KEY}, key)]:
                done = _run("services.commands", {**env, **extra})
                assert done.returncode == 2, done.stderr
                assert f"setting {variable}" in done.stderr and chain in done.stderr, done.stderr
                assert "Traceback" not in done.stderr, done.stderr
            return
        proc = subprocess.Popen([sys.executable, "-m", "services.commands"], env=env, cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            assert wait_port("127.0.0.1", int(env["COMMANDS_HTTP_PORT"]), 30)
            assert proc.poll() is None
        finally:
            proc.terminate()
            out = proc.communicate(timeout=30)[0].decode()
        assert proc.returncode == 0, out
        assert "no strategies configured" in out, out
    finally:
        sim.terminate()
        sim.wait(timeout=30)


@pytest.mark.slow
def test_commands_with_an_unreachable_venue_exits_naming_the_url(nats_url: str, redis_url: str) -> None:
    rest = free_port()
    env = _env(nats_url, redis_url, rest, free_port(), COMMANDS_STRATEGIES="",
               COMMANDS_VENUE_CONNECT_TIMEOUT_S="1")
    done = _run("services.commands", env)
    assert done.returncode == 1, done.stderr
    assert f"http://127.0.0.1:{rest}/v1" in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_a_malformed_nats_url_is_named(redis_url: str) -> None:
    env = _env("127.0.0.1:4222", redis_url, free_port(), free_port(), COMMANDS_STRATEGIES="")
    done = _run("services.commands", env, timeout=30)
    assert done.returncode != 0
    assert "NATS_URL" in done.stderr, done.stderr
