"""``make run``: the docker-compose topology as local processes, supervised.

Starts NATS (JetStream, data in ``run/nats``) and Redis (append-only, data in ``run/redis``) on
stable ports (``RUN_NATS_PORT`` 14222, ``RUN_REDIS_PORT`` 16379; the machine's own servers may hold
4222/6379) unless ``NATS_URL`` / ``REDIS_URL`` are set, then the simulator (unless
``RUN_SIMULATOR=0``) and the four services, each as ``python -m services.<name>``. When the
simulator is the venue, ``PARADEX_REST_URL`` / ``PARADEX_WS_URL`` follow ``SIM_REST_PORT`` /
``SIM_WS_PORT``. Writes every URL to ``run/urls.env`` (``. run/urls.env``) and ``run/urls.json``
for strategies, prints ``paradex-hub: ready`` once everything is healthy, a status line whenever
something changes, and restarts any process that dies (NATS and Redis too) with a capped
backoff, saying so. Ctrl-C (or SIGTERM) stops everything in reverse order.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from services.supervisor import LocalServer, Service, Supervisor, http_health
from shared import config
from shared.localservers import NatsServer, RedisServer, ServerError, wait_port

RUN_NATS_PORT = 14222
RUN_REDIS_PORT = 16379
DEV_STRATEGY_TOKEN = config.DEV_STRATEGY_TOKEN
"""Bearer token of the ``dev`` strategy that ``make run`` configures for the simulator (paper only)."""


@dataclass
class Child:
    name: str
    module: str
    health_url: str = ""


def _off(value: str | None) -> bool:
    return (value or "").lower() in ("0", "false", "no", "off")


def ports(env: dict[str, str]) -> dict[str, int]:
    """Ports of every process, from the environment or the documented defaults."""
    defaults = {
        "SIM_REST_PORT": config.SIM_REST_PORT, "SIM_WS_PORT": config.SIM_WS_PORT,
        "SIM_CONTROL_PORT": config.SIM_CONTROL_PORT, "STATE_HTTP_PORT": config.STATE_HTTP_PORT,
        "COMMANDS_HTTP_PORT": config.COMMANDS_HTTP_PORT, "FEED_HTTP_PORT": config.FEED_HTTP_PORT,
        "RECONCILER_HTTP_PORT": config.RECONCILER_HTTP_PORT, "RUN_NATS_PORT": RUN_NATS_PORT,
        "RUN_REDIS_PORT": RUN_REDIS_PORT,
    }
    return {k: int(env.get(k, v)) for k, v in defaults.items()}


def plan(env: dict[str, str]) -> list[Child]:
    """The processes to start, in order (the simulator first when it is the venue)."""
    p = ports(env)

    def health(key: str) -> str:
        return f"http://127.0.0.1:{p[key]}/healthz"

    children: list[Child] = []
    if not _off(env.get("RUN_SIMULATOR")):
        children.append(Child("simulator", "services.simulator", health("SIM_CONTROL_PORT")))
    children += [
        Child("state", "services.state", health("STATE_HTTP_PORT")),
        Child("reconciler", "services.reconciler", health("RECONCILER_HTTP_PORT")),
        Child("feed", "services.feed", health("FEED_HTTP_PORT")),
        Child("commands", "services.commands", health("COMMANDS_HTTP_PORT")),
    ]
    return children


def venue_urls(env: dict[str, str]) -> list[str]:
    """With the simulator as the venue, point PARADEX_REST_URL / PARADEX_WS_URL at its ports (unless
    set); returns warnings for URLs set by hand that miss the simulator's ports."""
    if _off(env.get("RUN_SIMULATOR")):
        return []
    p = ports(env)
    wanted = {"PARADEX_REST_URL": f"http://127.0.0.1:{p['SIM_REST_PORT']}/v1",
              "PARADEX_WS_URL": f"ws://127.0.0.1:{p['SIM_WS_PORT']}/v1"}
    warnings = []
    for key, url in wanted.items():
        given = env.get(key)
        if not given:
            env[key] = url
        elif given.rstrip("/") != url and ("127.0.0.1" in given or "localhost" in given):
            warnings.append(f"  ! {key}={given} but the simulator listens on {url}")
    return warnings


def dev_strategies(env: dict[str, str]) -> str | None:
    """A paper-trading strategy for the simulator when the user configured none, else None."""
    if env.get("COMMANDS_STRATEGIES") or env.get("COMMANDS_STRATEGIES_FILE"):
        return None
    if _off(env.get("RUN_SIMULATOR")):
        return None
    dev = {"name": "dev", "token": DEV_STRATEGY_TOKEN, "markets": [], "can_cancel_others": True}
    return json.dumps([dev])


def write_urls(run_dir: Path, urls: dict[str, str]) -> None:
    """``run/urls.env`` (shell) and ``run/urls.json`` (programs): where everything listens."""
    lines = ["# Written by make run (python -m services) at start: . run/urls.env", *(
        f"{k}={v}" for k, v in urls.items())]
    (run_dir / "urls.env").write_text("\n".join(lines) + "\n")
    (run_dir / "urls.json").write_text(json.dumps(urls, indent=1) + "\n")


def _wait_started(child: Service, stop: threading.Event, check: str, within_s: float) -> None:
    """Keep start-up ordered: the simulator's port, the state's /healthz."""
    deadline = time.monotonic() + within_s
    while child.exit_code() is None and time.monotonic() < deadline and not stop.is_set():
        # ports(): the documented default when SIM_REST_PORT is not set (the usual `make run`).
        if check == "port" and wait_port("127.0.0.1", ports(child.env)["SIM_REST_PORT"], 0.2):
            return
        if check == "health" and http_health(child.health_url) == "ok":
            return
        stop.wait(0.1)


def main() -> int:
    run_dir = Path(os.environ.get("RUN_DIR", "run")).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    dev = dev_strategies(env)
    if dev is not None:
        env["COMMANDS_STRATEGIES"] = dev
    warnings = venue_urls(env)
    p = ports(env)
    interval = float(env.get("RUN_POLL_INTERVAL", "0.5"))
    stop = threading.Event()

    def say(line: str) -> None:
        print(line, flush=True)

    def _stop(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    sup = Supervisor(say)
    say(f"paradex-hub: starting (logs and data in {run_dir})")
    for w in warnings:
        say(w)
    try:
        try:
            if not env.get("NATS_URL"):
                nats = LocalServer("nats", NatsServer(run_dir / "nats"), p["RUN_NATS_PORT"])
                nats.start()
                sup.add(nats)
                env["NATS_URL"] = nats.server.url
                say(f"  nats       {env['NATS_URL']} (JetStream, data in {run_dir / 'nats'})")
            else:
                say(f"  nats       {env['NATS_URL']} (external)")
            if not env.get("REDIS_URL"):
                store = RedisServer(run_dir / "redis", appendonly=True)
                redis = LocalServer("redis", store, p["RUN_REDIS_PORT"])
                redis.start()
                sup.add(redis)
                env["REDIS_URL"] = redis.server.url
                say(f"  redis      {env['REDIS_URL']} (append-only, data in {run_dir / 'redis'})")
            else:
                say(f"  redis      {env['REDIS_URL']} (external)")
        except ServerError as exc:
            say(f"paradex-hub: {exc} (another make run? set RUN_NATS_PORT / RUN_REDIS_PORT)")
            return 1
        for spec in plan(env):
            child = Service(spec.name, spec.module, env, run_dir / f"{spec.name}.log", spec.health_url)
            child.start()
            sup.add(child)
            if spec.name == "simulator":
                _wait_started(child, stop, "port", 20)
            elif spec.name == "state":
                # Not needed for correctness (a state that missed the feed's subscribe-time book
                # snapshots asks for a resync), but it spares a resubscription and keeps start-up ordered.
                _wait_started(child, stop, "health", 30)
        urls = {"NATS_URL": env["NATS_URL"], "REDIS_URL": env["REDIS_URL"],
                "STATE_URL": f"http://127.0.0.1:{p['STATE_HTTP_PORT']}",
                "COMMANDS_URL": f"http://127.0.0.1:{p['COMMANDS_HTTP_PORT']}",
                "PARADEX_REST_URL": env.get("PARADEX_REST_URL", config.VENUES["sim"][0]),
                "PARADEX_WS_URL": env.get("PARADEX_WS_URL", config.VENUES["sim"][1])}
        if not _off(env.get("RUN_SIMULATOR")):
            urls["SIM_CONTROL_URL"] = f"http://127.0.0.1:{p['SIM_CONTROL_PORT']}/control"
        if dev is not None:
            urls["COMMANDS_TOKEN"] = DEV_STRATEGY_TOKEN
        write_urls(run_dir, urls)
        say(f"  state      {urls['STATE_URL']}/v1/orders  (API docs: /docs)")
        say(f"  commands   {urls['COMMANDS_URL']}/v1/orders  (API docs: /docs)")
        if dev is not None:
            say(f"             paper strategy 'dev': Authorization: Bearer {DEV_STRATEGY_TOKEN}")
        if "SIM_CONTROL_URL" in urls:
            say(f"  simulator  REST {urls['PARADEX_REST_URL']}  WS {urls['PARADEX_WS_URL']}  "
                f"control {urls['SIM_CONTROL_URL']}")
        say(f"  feed       http://127.0.0.1:{p['FEED_HTTP_PORT']}/metrics  reconciler "
            f"http://127.0.0.1:{p['RECONCILER_HTTP_PORT']}/metrics")
        say(f"  urls       {run_dir / 'urls.env'} (. it in a shell), {run_dir / 'urls.json'}")
        say("Ctrl-C stops everything.")
        while not stop.wait(interval):
            sup.poll()
            if not sup.ready_announced and sup.all_ok():
                sup.ready_announced = True
                say(f"paradex-hub: ready ({len(sup.watched)} processes healthy)")
    finally:
        say("paradex-hub: stopping")
        sup.stop()
        say("paradex-hub: stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
