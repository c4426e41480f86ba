"""The README's Python blocks run as written against the system (processes), each as its own
program with the virtualenv's python, only the service addresses given in the environment (the
blocks read PDX_STATE_URL / PDX_COMMANDS_URL / PDX_TOKEN, with make run's values as defaults)."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.system.procs import ROOT, STRATEGIES, TOKENS, ProcSystem, process_system

README = (ROOT / "README.md").read_text()
ALL_BLOCKS = re.findall(r"^```python\n(.*?)^```", README, flags=re.S | re.M)
# Blocks for third-party clients pointed at the simulator need those clients' own virtualenvs and
# the reader's keys: tests/interop runs the same set-up (tests named here), these are compiled only.
EXTERNAL = {"paradex_py": "tests/interop/test_sdk.py", "ccxt": "tests/interop/test_ccxt.py"}


def _external(block: str) -> list[str]:
    return [m for m in EXTERNAL if re.search(rf"^\s*(?:import|from)\s+{m}\b", block, flags=re.M)]


BLOCKS = [b for b in ALL_BLOCKS if not _external(b)]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def ps(nats_url: str, redis_url: str,
             tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ProcSystem]:
    async with process_system(nats_url, redis_url, tmp_path_factory.mktemp("readme"), strategies=STRATEGIES,
                              sim={"SIM_SYNTHETIC_RATE": "5"}) as system:
        yield system


def test_the_readme_has_python_blocks_and_documents_the_venv_python() -> None:
    assert len(BLOCKS) >= 2
    assert ".venv/bin/python -m examples.market_maker" in README
    for block in ALL_BLOCKS:
        compile(block, "README.md", "exec")  # plain programs: no top-level await
    for block in ALL_BLOCKS:
        for module in _external(block):
            assert (ROOT / EXTERNAL[module]).is_file(), f"the README's {module} block is run by nothing"


@pytest.mark.parametrize("index", range(len(BLOCKS)))
async def test_readme_python_block_runs_against_the_system(ps: ProcSystem, index: int,
                                                          tmp_path: Path) -> None:
    script = tmp_path / f"readme_{index}.py"
    script.write_text(BLOCKS[index])
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
           "PYTHONPATH": str(ROOT), "PDX_STATE_URL": ps.state_url, "PDX_COMMANDS_URL": ps.commands_url,
           "PDX_TOKEN": TOKENS["mm"]}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(script), env=env, cwd=tmp_path, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode(errors="replace")
    print(f"\nREADME block {index}:\n{text}")
    assert proc.returncode == 0, text
    assert text.strip(), "the block printed nothing"
