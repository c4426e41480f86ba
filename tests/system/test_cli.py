"""``pdx-hub`` (the installed console script) against the system running as processes: tables,
``--json``, settings from the environment and from ``.env``, exit codes and messages when a token
is wrong or a service is down."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.system.killswitch import ADMIN_TOKEN, COMMANDS_ENV, require_kill_switch
from tests.system.procs import TOKENS, M, ProcSystem, process_system, wait_until

PDX_HUB = Path(sys.executable).with_name("pdx-hub")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def ps(nats_url: str, redis_url: str,
             tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ProcSystem]:
    async with process_system(nats_url, redis_url, tmp_path_factory.mktemp("cli"),
                              commands=COMMANDS_ENV) as system:
        yield system


class Run:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def json(self) -> Any:
        return json.loads(self.out)

    def __repr__(self) -> str:
        return f"exit {self.code}\nstdout: {self.out}\nstderr: {self.err}"


async def pdx(ps: ProcSystem, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
              use_env: bool = True) -> Run:
    base = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    if use_env:
        base |= {"PDX_STATE_URL": ps.state_url, "PDX_COMMANDS_URL": ps.commands_url,
                 "PDX_TOKEN": TOKENS["mm"]}
    proc = await asyncio.create_subprocess_exec(
        str(PDX_HUB), *args, env=base | (env or {}), cwd=cwd or ps.tmp, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return Run(proc.returncode or 0, out.decode(), err.decode())


async def _price(ps: ProcSystem, below: int) -> str:
    bbo = (await ps.state_client().bbo(M)).value
    assert bbo.bid is not None
    return str((bbo.bid - Decimal(below)).quantize(Decimal("0.1")))


async def test_console_script_is_installed_and_documents_every_command() -> None:
    assert PDX_HUB.is_file(), "pip install -e . should have installed the pdx-hub console script"
    proc = await asyncio.create_subprocess_exec(str(PDX_HUB), "--help", stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    for cmd in ("status", "orders", "positions", "balances", "fills", "book", "tail", "place", "cancel",
                "cancel-all", "kill", "resume", "exit codes"):
        assert cmd in out.decode()


async def test_status_book_and_balances_as_tables_and_json(ps: ProcSystem) -> None:
    r = await pdx(ps, "status")
    assert r.code == 0, r
    assert "feed                 connected" in r.out and f"{M} valid" in r.out and "ok at" in r.out
    j = (await pdx(ps, "status", "--json")).json()
    assert j["state"]["ok"] is True and j["commands"]["ok"] is True
    r = await pdx(ps, "book", M, "--depth", "3")
    assert r.code == 0 and r.out.startswith(f"{M}  valid") and len(r.out.strip().splitlines()) == 5, r
    book = (await pdx(ps, "--json", "book", M)).json()["book"]
    assert book["market"] == M and len(book["bids"]) == 10
    r = await pdx(ps, "balances")
    assert r.code == 0 and "USDC" in r.out and "free collateral" in r.out, r


async def test_place_shows_in_orders_then_cancel_and_a_fill_shows_in_fills_and_positions(
        ps: ProcSystem) -> None:
    price = await _price(ps, 1500)
    r = await pdx(ps, "place", M, "buy", "0.01", price, "--client-id", "cli-rest", "--wait", "ws")
    assert r.code == 0 and "place: open order" in r.out and "client_id cli-rest" in r.out, r
    listed = (await pdx(ps, "orders", "--json")).json()["orders"]
    assert [o["client_id"] for o in listed if o["client_id"] == "cli-rest"] == ["cli-rest"]
    table = (await pdx(ps, "orders")).out.splitlines()
    assert table[0].split()[:3] == ["strategy", "market", "side"]
    assert any(line.split()[0] == "mm" and "cli-rest" in line and "OPEN" in line for line in table[1:])
    r = await pdx(ps, "cancel", "--client-id", "cli-rest")
    assert r.code == 0 and "cancel_requested" in r.out, r

    async def gone() -> bool:
        got = (await pdx(ps, "orders", "--json")).json()["orders"]
        return all(o["client_id"] != "cli-rest" for o in got)

    await wait_until(gone, 10, "the cancelled order off the live list")

    ask = (await ps.state_client().bbo(M)).value.ask
    r = await pdx(ps, "place", M, "BUY", "0.02", str(ask), "--instruction", "IOC", "--client-id", "cli-take",
                  "--wait", "ws")
    assert r.code == 0, r

    async def filled() -> bool:
        fills = (await pdx(ps, "fills", "--json")).json()["fills"]
        return any(f["fill"]["client_id"] == "cli-take" for f in fills)

    await wait_until(filled, 10, "the taker fill")
    assert "cli-take" in (await pdx(ps, "fills")).out
    positions = (await pdx(ps, "positions", "--json")).json()["positions"]
    assert [p["position"]["side"] for p in positions if p["market"] == M] == ["LONG"]
    assert M in (await pdx(ps, "positions")).out


async def test_cancel_all_and_tail(ps: ProcSystem) -> None:
    price = await _price(ps, 1600)
    for i in range(2):
        assert (await pdx(ps, "place", M, "BUY", "0.01", price, "--client-id", f"cli-all-{i}")).code == 0
    tail = asyncio.create_task(pdx(ps, "tail", "--kinds", "order", "--count", "2", "--json"))
    await asyncio.sleep(1.0)
    r = await pdx(ps, "cancel-all", "--market", M)
    assert r.code == 0 and "cancel-all" in r.out, r
    t = await tail
    assert t.code == 0, t
    events = [json.loads(line) for line in t.out.splitlines()]
    assert len(events) == 2 and {e["kind"] for e in events} == {"order"}
    assert all(e["id"].startswith("a:") for e in events)
    assert all(e["value"]["status"] in ("PENDING_CANCEL", "CLOSED") for e in events)


async def test_refusals_and_wrong_tokens_have_exit_codes_and_say_what_to_check(ps: ProcSystem) -> None:
    price = await _price(ps, 1500)
    r = await pdx(ps, "place", M, "BUY", "0.01", price + "5")
    assert r.code == 6 and "tick" in r.err.lower(), r
    r = await pdx(ps, "place", M, "BUY", "0.01", price, env={"PDX_TOKEN": "wrong-token-0123456789"})
    assert r.code == 4 and "401" in r.err and "PDX_TOKEN" in r.err, r
    r = await pdx(ps, "place", M, "BUY", "0.01", price, env={"PDX_TOKEN": ""})
    assert r.code == 2 and "PDX_TOKEN is not set" in r.err, r
    r = await pdx(ps, "place", M, "BUY", "lots", price)
    assert r.code == 2 and "size 'lots' is not a number" in r.err, r
    r = await pdx(ps, "cancel")
    assert r.code == 2 and "order id or --client-id" in r.err, r
    r = await pdx(ps, "book", "NOPE-USD-PERP")
    assert r.code == 5 and "404" in r.err, r
    r = await pdx(ps, "orders", env={"PDX_STATE_URL": "http://127.0.0.1:9"})
    assert r.code == 3 and "state service is not reachable at http://127.0.0.1:9" in r.err and \
        "PDX_STATE_URL" in r.err, r
    r = await pdx(ps, "cancel-all", env={"PDX_COMMANDS_URL": "http://127.0.0.1:9"})
    assert r.code == 3 and "commands service is not reachable" in r.err, r
    r = await pdx(ps, "kill", env={"PDX_ADMIN_TOKEN": ""})
    assert r.code == 2 and "PDX_ADMIN_TOKEN is not set" in r.err, r


async def test_settings_come_from_a_dotenv_file_under_the_environment(ps: ProcSystem, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"# written by a test\nexport PDX_STATE_URL={ps.state_url}\n"
                                   f"PDX_COMMANDS_URL='{ps.commands_url}'\nPDX_TOKEN=\"{TOKENS['mm']}\"\n")
    r = await pdx(ps, "status", use_env=False, cwd=tmp_path)
    assert r.code == 0 and ps.state_url in r.out, r
    r = await pdx(ps, "status", use_env=False, cwd=tmp_path, env={"PDX_STATE_URL": "http://127.0.0.1:9"})
    assert r.code == 3, r  # the environment wins over the file
    (tmp_path / "other.env").write_text("this is not a setting\n")
    r = await pdx(ps, "--env-file", str(tmp_path / "other.env"), "status", use_env=False, cwd=tmp_path)
    assert r.code == 2 and "other.env:1: expected NAME=value" in r.err, r


async def test_kill_cancels_and_refuses_until_resume(ps: ProcSystem) -> None:
    await require_kill_switch(ps.commands_url)
    price = await _price(ps, 1700)
    assert (await pdx(ps, "place", M, "BUY", "0.01", price, "--client-id", "cli-k1")).code == 0
    r = await pdx(ps, "kill", "--reason", "cli test", env={"PDX_ADMIN_TOKEN": "wrong-admin-token-0123456"})
    assert r.code == 4 and "PDX_ADMIN_TOKEN" in r.err, r
    r = await pdx(ps, "kill", "--reason", "cli test", env={"PDX_ADMIN_TOKEN": ADMIN_TOKEN})
    assert r.code == 0 and "kill switch ON (global)" in r.out, r

    async def none_live() -> bool:
        return not (await pdx(ps, "orders", "--json")).json()["orders"]

    await wait_until(none_live, 10, "every order cancelled by the kill switch")
    r = await pdx(ps, "place", M, "BUY", "0.01", price, "--client-id", "cli-k2")
    assert r.code in (4, 6), r  # refused while the switch is on
    status = (await pdx(ps, "status")).out
    assert "kill switch          ON" in status, status
    r = await pdx(ps, "resume", env={"PDX_ADMIN_TOKEN": ADMIN_TOKEN})
    assert r.code == 0 and "kill switch off" in r.out, r
    assert (await pdx(ps, "place", M, "BUY", "0.01", price, "--client-id", "cli-k3")).code == 0


async def test_status_with_the_state_down_exits_3(ps: ProcSystem) -> None:
    await ps.stop("state")
    try:
        r = await pdx(ps, "status")
        assert r.code == 3 and "state service is not reachable" in r.err, r
    finally:
        await ps.start("state")
        await wait_until(lambda: _state_ok(ps), 30, "the state back")


async def _state_ok(ps: ProcSystem) -> bool:
    return (await pdx(ps, "status")).code == 0
