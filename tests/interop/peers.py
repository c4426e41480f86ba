"""Run a peer client (ccxt, paradex-py) in its own virtualenv against an in-process simulator.

The peers live outside the project's environment (``tests/interop/setup.sh`` builds
``.venv-ccxt`` and, when pyenv has Python 3.10, ``.venv-sdk``); a runner script is started with
that venv's interpreter while the simulator keeps serving in this event loop, and reports one
JSON line per step. :func:`peer_python` skips the calling tests, saying how to build the venv,
when it is absent.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from services.simulator import identity
from shared.paradex.signer import OrderSigner
from tests.simfixture import SimHandle

ROOT = Path(__file__).resolve().parent.parent.parent
HERE = Path(__file__).resolve().parent
RUN_TIMEOUT_S = 600.0
#: A fresh key for the peers (so they onboard themselves); the address is the Paraclear derivation.
PEER_KEY = "0x3c1e9550e66958296d11b60f8e8e7a7ad990d07fa65d5f7652c4a6c87d4e3ad"


def peer_python(venv: str, why: str) -> Path:
    """The interpreter of ``venv`` (relative to the repository), or skip with the way to build it."""
    python = ROOT / venv / "bin" / "python"
    if not python.exists():
        pytest.skip(f"{venv} is absent ({why}): build it with `bash tests/interop/setup.sh`")
    return python


def peer_account(chain_id: str) -> dict[str, str]:
    signer = OrderSigner(PEER_KEY, "0x1", chain_id)
    return {"private_key": PEER_KEY, "public_key": hex(signer.public_key),
            "address": identity.account_address(signer.public_key)}


async def run_peer(python: Path, runner: str, sim: SimHandle, **extra: Any) -> dict[str, dict[str, Any]]:
    """Run ``runner`` (a file next to this one) against ``sim``; its step results by name."""
    config = {"rest_url": sim.rest_url, "ws_url": sim.ws_url, "control_url": sim.control_url,
              "chain_id": sim.chain_id, **peer_account(sim.chain_id), **extra}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    proc = await asyncio.create_subprocess_exec(
        str(python), str(HERE / runner), json.dumps(config), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env, cwd=str(HERE),
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    results: dict[str, dict[str, Any]] = {}
    for line in out.decode().splitlines():
        if line.startswith("{"):
            item = json.loads(line)
            results[item["step"]] = item
    if proc.returncode != 0 and not results:
        raise RuntimeError(f"{runner} exited {proc.returncode}: {err.decode()[-3000:]}")
    return results
