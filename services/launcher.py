"""``make run``: the docker-compose topology as local processes.

Starts NATS (JetStream) and Redis from the virtualenv's binaries unless ``NATS_URL`` / ``REDIS_URL``
are set, then the simulator (unless ``RUN_VENUE`` is ``testnet``/``prod`` and the URLs point there)
and the four services, each as ``python -m services.<name>``. Prints where to look and a one-line
status every few seconds; Ctrl-C (or SIGTERM) stops everything in reverse order.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from shared import config
from shared.localservers import NatsServer, RedisServer, wait_port

log = logging.getLogger("launcher")


@dataclass
class Child:
    name: str
    module: str
    health_url: str = ""
    proc: subprocess.Popen[bytes] | None = None
    exited: int | None = None
    log_path: Path = field(default_factory=Path)


def _health(url: str) -> str:
    if not url:
        return "-"
    try:
        with urllib.request.urlopen(url, timeout=0.5) as resp:
            return "ok" if resp.status == 200 else f"http {resp.status}"
    except Exception:
        return "down"


class Launcher:
    def __init__(self, run_dir: Path, env: dict[str, str]) -> None:
        self.run_dir = run_dir
        self.env = env
        self.nats: NatsServer | None = None
        self.redis: RedisServer | None = None
        self.children: list[Child] = []
        self.stop_event = threading.Event()

    # -- servers -------------------------------------------------------------------------
    def start_servers(self) -> None:
        if not self.env.get("NATS_URL"):
            self.nats = NatsServer(self.run_dir / "nats").start()
            self.env["NATS_URL"] = self.nats.url
            print(f"  nats       {self.nats.url} (JetStream, data in {self.nats.workdir})")
        else:
            print(f"  nats       {self.env['NATS_URL']} (external)")
        if not self.env.get("REDIS_URL"):
            self.redis = RedisServer(self.run_dir / "redis").start()
            self.env["REDIS_URL"] = self.redis.url
            print(f"  redis      {self.redis.url}")
        else:
            print(f"  redis      {self.env['REDIS_URL']} (external)")

    # -- services ------------------------------------------------------------------------
    def start_child(self, child: Child) -> None:
        child.log_path = self.run_dir / f"{child.name}.log"
        out = child.log_path.open("ab")
        child.proc = subprocess.Popen(
            [sys.executable, "-m", child.module], env=self.env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        self.children.append(child)

    def status_line(self) -> str:
        parts = []
        for c in self.children:
            if c.proc is not None and c.proc.poll() is not None and c.exited is None:
                c.exited = c.proc.returncode
                text = c.log_path.read_text(errors="replace") if c.log_path.exists() else ""
                tail = text.strip().splitlines()[-1:]
                print(f"  ! {c.name} exited with {c.exited}: {tail[0] if tail else ''}", flush=True)
            state = f"exit {c.exited}" if c.exited is not None else _health(c.health_url)
            parts.append(f"{c.name}={state}")
        return "status: " + " ".join(parts)

    def stop(self) -> None:
        for c in reversed(self.children):
            if c.proc is not None and c.proc.poll() is None:
                c.proc.send_signal(signal.SIGTERM)
        for c in reversed(self.children):
            if c.proc is None:
                continue
            try:
                c.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                c.proc.kill()
                c.proc.wait(timeout=5)
        if self.redis:
            self.redis.stop()
        if self.nats:
            self.nats.stop()


def ports(env: dict[str, str]) -> dict[str, int]:
    """HTTP ports of every process, from the environment or the defaults in :mod:`shared.config`."""
    defaults = {
        "SIM_REST_PORT": config.SIM_REST_PORT, "SIM_WS_PORT": config.SIM_WS_PORT,
        "SIM_CONTROL_PORT": config.SIM_CONTROL_PORT, "STATE_HTTP_PORT": config.STATE_HTTP_PORT,
        "COMMANDS_HTTP_PORT": config.COMMANDS_HTTP_PORT, "FEED_HTTP_PORT": config.FEED_HTTP_PORT,
        "RECONCILER_HTTP_PORT": config.RECONCILER_HTTP_PORT,
    }
    return {k: int(env.get(k, v)) for k, v in defaults.items()}


def plan(env: dict[str, str]) -> list[Child]:
    """The processes to start, in order (the simulator first when it is the venue)."""
    p = ports(env)

    def health(key: str) -> str:
        return f"http://127.0.0.1:{p[key]}/healthz"

    children: list[Child] = []
    if env.get("RUN_SIMULATOR", "1").lower() not in ("0", "false", "no"):
        children.append(Child("simulator", "services.simulator", health("SIM_CONTROL_PORT")))
    children += [
        Child("state", "services.state", health("STATE_HTTP_PORT")),
        Child("reconciler", "services.reconciler", health("RECONCILER_HTTP_PORT")),
        Child("feed", "services.feed", health("FEED_HTTP_PORT")),
        Child("commands", "services.commands", health("COMMANDS_HTTP_PORT")),
    ]
    return children


DEV_STRATEGY_TOKEN = config.DEV_STRATEGY_TOKEN
"""Bearer token of the ``dev`` strategy that ``make run`` configures for the simulator (paper only)."""


def dev_strategies(env: dict[str, str]) -> str | None:
    """A paper-trading strategy for the simulator when the user configured none, else None."""
    if env.get("COMMANDS_STRATEGIES") or env.get("COMMANDS_STRATEGIES_FILE"):
        return None
    if env.get("RUN_SIMULATOR", "1").lower() in ("0", "false", "no"):
        return None
    dev = {"name": "dev", "token": DEV_STRATEGY_TOKEN, "markets": [], "can_cancel_others": True}
    return json.dumps([dev])


def main() -> int:
    run_dir = Path(os.environ.get("RUN_DIR", "run")).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    dev = dev_strategies(env)
    if dev is not None:
        env["COMMANDS_STRATEGIES"] = dev
    launcher = Launcher(run_dir, env)

    def _stop(signum: int, _frame: object) -> None:
        launcher.stop_event.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    print(f"paradex-hub: starting (logs in {run_dir})", flush=True)
    try:
        launcher.start_servers()
        p = ports(env)
        for child in plan(env):
            launcher.start_child(child)
            if child.name == "simulator":
                deadline = time.monotonic() + 20
                while child.proc and child.proc.poll() is None and time.monotonic() < deadline:
                    if wait_port("127.0.0.1", p["SIM_REST_PORT"], 0.2):
                        break
            elif child.name == "state":
                # Not needed for correctness any more (a state that missed the feed's subscribe-time
                # book snapshots asks the feed for a resync on pdx.feed.resync), but starting the
                # feed once the state listens spares a resubscription and keeps startup ordered.
                deadline = time.monotonic() + 30
                while (child.proc and child.proc.poll() is None and time.monotonic() < deadline
                       and _health(child.health_url) != "ok" and not launcher.stop_event.wait(0.1)):
                    pass
        print(f"  state      http://127.0.0.1:{p['STATE_HTTP_PORT']}/v1/orders  (API docs: /docs)")
        print(f"  commands   http://127.0.0.1:{p['COMMANDS_HTTP_PORT']}/v1/orders  (API docs: /docs)")
        if dev is not None:
            print(f"             paper strategy 'dev': Authorization: Bearer {DEV_STRATEGY_TOKEN}")
        print(f"  simulator  REST http://127.0.0.1:{p['SIM_REST_PORT']}/v1  WS ws://127.0.0.1:{p['SIM_WS_PORT']}/v1"
              f"  control http://127.0.0.1:{p['SIM_CONTROL_PORT']}")
        print(f"  feed       http://127.0.0.1:{p['FEED_HTTP_PORT']}/metrics  reconciler "
              f"http://127.0.0.1:{p['RECONCILER_HTTP_PORT']}/metrics")
        print("Ctrl-C stops everything.", flush=True)
        interval = float(env.get("RUN_STATUS_INTERVAL", "5"))
        next_status = time.monotonic() + 1.0
        while not launcher.stop_event.wait(0.2):
            if time.monotonic() >= next_status:
                print(launcher.status_line(), flush=True)
                next_status = time.monotonic() + interval
    finally:
        print("paradex-hub: stopping", flush=True)
        launcher.stop()
        print("paradex-hub: stopped", flush=True)
    return 0
