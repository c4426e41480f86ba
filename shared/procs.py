"""The whole system as separate processes, the way ``make run`` and compose run it.

Used by the system tests (``tests/system/procs.py`` re-exports it) and by the deployed-shape
benchmarks (``bench.e2e``), which may not import ``tests/``.

``async with process_system(nats_url, redis_url, tmp_path) as ps`` starts the simulator and the
four services, each as ``python -m services.<name>`` with its own environment (free ports, a fresh
account and key, so tests sharing the NATS/Redis servers never mix), waits until the feed is
connected and the state serves a book, and yields a :class:`ProcSystem`. Everything is stopped
(SIGTERM, then SIGKILL after a grace) when the block ends, also on failure.

Per-service overrides are environment variables (``state={"STATE_GRACE_MS": "1000"}``);
``test_speed=False`` drops the test-speed defaults below and runs every service with its own
defaults (what a user gets; ``bench.repair`` does). A test
can kill (``await ps.kill("state")``, SIGKILL by default), restart (``await ps.restart("state")``)
or start another instance of a service under a new name (``await ps.start_extra("state2",
"state", {...})``, e.g. a second replica). Logs go to ``tmp_path/<name>.log``; ``ps.log(name)``
reads one, and the tail of every log is printed when the block fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from shared.client import CommandsClient, StateClient
from shared.localservers import free_port
from shared.paradex.stark import EC_ORDER

log = logging.getLogger("procs")

M = "BTC-USD-PERP"
TOKENS = {"mm": "mm-token-system-0123456789", "poller": "poller-token-system-0123456789"}
STRATEGIES = [
    {"name": "mm", "token": TOKENS["mm"], "markets": [M], "max_order_notional": "1000000",
     "max_open_orders_per_market": 1000, "max_position": "100"},
    {"name": "poller", "token": TOKENS["poller"], "markets": [M], "max_order_notional": "1000000",
     "max_open_orders_per_market": 1000, "max_position": "100"},
]
ROOT = Path(__file__).resolve().parents[1]

# Test-speed defaults, as environment variables (each service's settings.py documents them).
SIM_ENV = {
    "SIM_SYNTHETIC_RATE": "0", "SIM_SUMMARY_INTERVAL_MS": "0", "SIM_SEED": "7",
    # no venue rate limits: pollers and the reconciler read a lot in tests
    "SIM_RL_PRIVATE_GET_PER_S": "0", "SIM_RL_PRIVATE_GET_PER_MIN": "0", "SIM_RL_PRIVATE_IP_PER_MIN": "0",
    "SIM_RL_PUBLIC_PER_MIN": "0", "SIM_RL_AUTH_PER_MIN": "0",
}
STATE_ENV = {
    "STATE_MD_FLUSH_INTERVAL_S": "0.01", "STATE_HEALTH_INTERVAL_S": "0.2", "STATE_FETCH_EXPIRES_S": "1.0",
    "STATE_RECONCILE_COALESCE_S": "0.2",
}
RECONCILER_ENV = {
    "RECONCILER_INTERVAL_S": "3600", "RECONCILER_COALESCE_S": "0.05", "RECONCILER_RATE_PER_S": "500",
    "RECONCILER_RATE_BURST": "500", "RECONCILER_BACKOFF_INITIAL_S": "0.05", "RECONCILER_BACKOFF_MAX_S": "0.2",
    "RECONCILER_REQUEST_TIMEOUT_S": "3.0", "RECONCILER_PART_TIMEOUT_S": "10.0",
}
FEED_ENV = {
    "FEED_BACKOFF_INITIAL_S": "0.05", "FEED_BACKOFF_MAX_S": "0.3", "FEED_STATUS_INTERVAL_S": "0.2",
    "FEED_REPLY_TIMEOUT_S": "2.0",
}
COMMANDS_ENV = {
    "COMMANDS_EXPOSURE_REFRESH_S": "0.05", "COMMANDS_VENUE_READ_TIMEOUT_S": "1.0",
    "COMMANDS_PENDING_STALE_S": "3.0", "COMMANDS_TRANSPORT": "rest",  # the tests inject REST faults
}


def new_account() -> str:
    """A fresh account address (canonical: lower-case hex, no leading zero)."""
    return "0x1" + secrets.token_hex(31)


def new_private_key() -> str:
    """A fresh L2 private key (1 <= key < EC_ORDER), hex."""
    return hex(1 + secrets.randbelow(EC_ORDER - 1))


@dataclass
class Proc:
    """One service process: ``module`` runs with ``env``; ``port`` serves ``/healthz``."""

    name: str
    module: str
    env: dict[str, str]
    port: int
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class ProcSystem:
    account: str
    private_key: str
    tmp: Path
    common: dict[str, str]
    procs: dict[str, Proc] = field(default_factory=dict)
    clients: list[Any] = field(default_factory=list)

    # -- addresses ---------------------------------------------------------------------------
    @property
    def state_url(self) -> str:
        return self.procs["state"].url

    @property
    def commands_url(self) -> str:
        return self.procs["commands"].url

    @property
    def control_url(self) -> str:
        return f"{self.procs['simulator'].url}/control"

    @property
    def rest_url(self) -> str:
        return self.common["PARADEX_REST_URL"]

    @property
    def ws_url(self) -> str:
        return self.common["PARADEX_WS_URL"]

    # -- clients -----------------------------------------------------------------------------
    def state_client(self, url: str | None = None) -> StateClient:
        c = StateClient(url or self.state_url)
        self.clients.append(c)
        return c

    def commands_client(self, strategy: str = "mm") -> CommandsClient:
        c = CommandsClient(self.commands_url, TOKENS[strategy])
        self.clients.append(c)
        return c

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        """Call the simulator's control API (``path`` under ``/control``, e.g. ``/ws/drop``)."""
        async with httpx.AsyncClient(base_url=self.control_url, timeout=10.0) as c:
            resp = await c.request(method, path, json=body)
        assert resp.status_code == 200, f"{method} {path}: {resp.status_code} {resp.text}"
        return resp.json()

    async def truth(self) -> dict[str, Any]:
        """The simulator's ground truth of the account."""
        out: dict[str, Any] = await self.control("GET", "/truth")
        return out

    # -- processes ---------------------------------------------------------------------------
    def add(self, name: str, module: str, port: int, env: Mapping[str, str]) -> Proc:
        proc = Proc(name, module, {**self.common, **env}, port, self.tmp / f"{name}.log")
        self.procs[name] = proc
        return proc

    def spawn(self, proc: Proc) -> None:
        out = proc.log_path.open("ab")
        try:
            proc.popen = subprocess.Popen(
                [sys.executable, "-m", proc.module], env=proc.env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, cwd=ROOT, start_new_session=True)
        finally:
            out.close()

    async def start(self, name: str, within_s: float = 30.0) -> None:
        """Start ``name`` and wait until its ``/healthz`` answers (any status)."""
        proc = self.procs[name]
        self.spawn(proc)
        await self.wait_http(proc, within_s)

    async def wait_http(self, proc: Proc, within_s: float) -> None:
        deadline = time.monotonic() + within_s
        async with httpx.AsyncClient(timeout=1.0) as c:
            while time.monotonic() < deadline:
                if not proc.running:
                    raise AssertionError(f"{proc.name} exited with {proc.popen and proc.popen.returncode}:\n"
                                         f"{self.log(proc.name)[-3000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    await c.get(f"{proc.url}/healthz")
                    return
                await asyncio.sleep(0.05)
        raise AssertionError(f"{proc.name} did not serve /healthz within {within_s} s:\n"
                             f"{self.log(proc.name)[-3000:]}")

    async def start_extra(self, name: str, like: str, env: Mapping[str, str], *, port_var: str = "",
                          wait: bool = True) -> Proc:
        """Start another instance of service ``like`` (e.g. a second state replica) as ``name``.

        It gets a free HTTP port (``port_var``, default ``<PREFIX>_HTTP_PORT``) and ``env`` on top
        of ``like``'s environment."""
        base = self.procs[like]
        port = free_port()
        var = port_var or _port_var(like)
        proc = self.add(name, base.module, port, {**base.env, var: str(port), **env})
        if wait:
            await self.start(name)
        else:
            self.spawn(proc)
        return proc

    async def stop(self, name: str, grace_s: float = 10.0) -> int | None:
        """SIGTERM, wait up to ``grace_s``, then SIGKILL. The exit code."""
        proc = self.procs[name]
        if proc.popen is None:
            return None
        if proc.popen.poll() is None:
            proc.popen.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(proc.popen.wait, grace_s)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                await asyncio.to_thread(proc.popen.wait, 5)
        return proc.popen.returncode

    async def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` (SIGKILL: no clean-up at all) and wait for the exit."""
        proc = self.procs[name]
        assert proc.popen is not None and proc.popen.poll() is None, f"{name} is not running"
        proc.popen.send_signal(sig)
        await asyncio.to_thread(proc.popen.wait, 10)

    async def restart(self, name: str) -> None:
        """Stop (if running) and start ``name`` again with the same environment and port."""
        if self.procs[name].running:
            await self.stop(name)
        await self.start(name)

    def log(self, name: str) -> str:
        path = self.procs[name].log_path
        return path.read_text(errors="replace") if path.exists() else ""

    async def close(self) -> None:
        for c in self.clients:
            try:
                await c.aclose()
            except Exception as exc:  # a client of a stopped service: nothing left to close
                log.debug("client close failed: %r", exc)
        for name in reversed(list(self.procs)):
            await self.stop(name)

    def tails(self, lines: int = 15) -> str:
        out = []
        for name in self.procs:
            tail = self.log(name).strip().splitlines()[-lines:]
            out.append(f"--- {name} ({self.procs[name].log_path}) ---\n" + "\n".join(tail))
        return "\n".join(out)


def _port_var(service: str) -> str:
    return {"simulator": "SIM_CONTROL_PORT", "state": "STATE_HTTP_PORT", "commands": "COMMANDS_HTTP_PORT",
            "feed": "FEED_HTTP_PORT", "reconciler": "RECONCILER_HTTP_PORT"}[service]


@contextlib.asynccontextmanager
async def process_system(nats_url: str, redis_url: str, tmp: Path, *, sim: Mapping[str, str] | None = None,
                         state: Mapping[str, str] | None = None, reconciler: Mapping[str, str] | None = None,
                         feed: Mapping[str, str] | None = None, commands: Mapping[str, str] | None = None,
                         markets: tuple[str, ...] = (M,), strategies: list[dict[str, Any]] | None = None,
                         ready_within_s: float = 30.0, test_speed: bool = True) -> AsyncIterator[ProcSystem]:
    """Start the simulator and the four services as processes for a fresh account; stop all after."""
    await asyncio.to_thread(tmp.mkdir, parents=True, exist_ok=True)
    rest_port, ws_port, control_port = free_port(), free_port(), free_port()
    account, key = new_account(), new_private_key()
    common = {
        "PATH": os.environ.get("PATH", ""), "PYTHONUNBUFFERED": "1", "HOME": os.environ.get("HOME", "/tmp"),
        "NATS_URL": nats_url, "REDIS_URL": redis_url,
        "PARADEX_REST_URL": f"http://127.0.0.1:{rest_port}/v1", "PARADEX_WS_URL": f"ws://127.0.0.1:{ws_port}/v1",
        "PARADEX_ACCOUNT": account, "PARADEX_L2_PRIVATE_KEY": key, "PARADEX_MARKETS": ",".join(markets),
        "LOG_LEVEL": "INFO",
    }
    ps = ProcSystem(account, key, tmp, common)
    fast: dict[str, Mapping[str, str]] = {
        "sim": SIM_ENV, "state": STATE_ENV, "reconciler": RECONCILER_ENV, "feed": FEED_ENV,
        "commands": COMMANDS_ENV} if test_speed else {}
    ps.add("simulator", "services.simulator", control_port, {
        **fast.get("sim", {}), "SIM_REST_PORT": str(rest_port), "SIM_WS_PORT": str(ws_port),
        "SIM_CONTROL_PORT": str(control_port), **(sim or {})})
    commands_port = free_port()
    ps.add("state", "services.state", free_port(), {
        **fast.get("state", {}), "STATE_COMMANDS_URL": f"http://127.0.0.1:{commands_port}", **(state or {})})
    ps.procs["state"].env["STATE_HTTP_PORT"] = str(ps.procs["state"].port)
    ps.add("reconciler", "services.reconciler", free_port(), {**fast.get("reconciler", {}),
                                                              **(reconciler or {})})
    ps.procs["reconciler"].env["RECONCILER_HTTP_PORT"] = str(ps.procs["reconciler"].port)
    ps.add("feed", "services.feed", free_port(), {**fast.get("feed", {}), **(feed or {})})
    ps.procs["feed"].env["FEED_HTTP_PORT"] = str(ps.procs["feed"].port)
    ps.add("commands", "services.commands", commands_port, {
        **fast.get("commands", {}), "COMMANDS_STRATEGIES": json.dumps(strategies or STRATEGIES),
        **(commands or {})})
    ps.procs["commands"].env["COMMANDS_HTTP_PORT"] = str(ps.procs["commands"].port)
    ok = False
    try:
        for name in ("simulator", "state", "reconciler", "feed", "commands"):
            await ps.start(name)
        await wait_until(lambda: _ready(ps, markets[0]), ready_within_s,
                         "system ready (feed connected, state serves a book)")
        ok = True
        yield ps
    except BaseException:
        if not ok:
            print(ps.tails())
        raise
    finally:
        await ps.close()


async def _ready(ps: ProcSystem, market: str) -> bool:
    async with httpx.AsyncClient(base_url=ps.state_url, timeout=2.0) as c:
        try:
            h = await c.get("/v1/health")
            b = await c.get(f"/v1/bbo/{market}")
        except httpx.HTTPError:
            return False
    return h.status_code == 200 and b.status_code == 200 and bool(h.json()["value"]["feed_connected"])


async def wait_until(check: Callable[[], Awaitable[bool]], within_s: float, what: str,
                     every_s: float = 0.02) -> None:
    """Poll ``check`` until true; AssertionError after ``within_s``."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(every_s)
    raise AssertionError(f"timed out after {within_s} s waiting for {what}")
