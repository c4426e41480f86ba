"""The launcher's plan: process order, ports from the environment, the paper strategy for the simulator."""

import json

from services import launcher
from services.commands.core.strategies import Strategies
from shared import config


def test_plan_starts_the_simulator_first_then_state_before_feed():
    names = [c.name for c in launcher.plan({})]
    assert names[0] == "simulator"
    assert names.index("state") < names.index("feed")
    assert next(c.module for c in launcher.plan({"RUN_SIMULATOR": "0"})) == "services.state"


def test_ports_come_from_the_environment_or_the_defaults():
    p = launcher.ports({"STATE_HTTP_PORT": "9999"})
    assert p["STATE_HTTP_PORT"] == 9999 and p["COMMANDS_HTTP_PORT"] == config.COMMANDS_HTTP_PORT


def test_paper_strategy_only_when_simulator_and_none_configured():
    dev = launcher.dev_strategies({})
    assert dev is not None and json.loads(dev)[0]["token"] == launcher.DEV_STRATEGY_TOKEN
    # The commands service must accept it (it refuses short tokens at start-up).
    strategies = Strategies.parse(dev)
    assert strategies.authenticate(f"Bearer {launcher.DEV_STRATEGY_TOKEN}") is not None
    assert launcher.dev_strategies({"COMMANDS_STRATEGIES": "[]x"}) is None
    assert launcher.dev_strategies({"COMMANDS_STRATEGIES_FILE": "/x"}) is None
    assert launcher.dev_strategies({"RUN_SIMULATOR": "0"}) is None


def test_venue_urls_follow_the_simulator_ports_unless_set():
    env = {"SIM_REST_PORT": "17070", "SIM_WS_PORT": "17071"}
    assert launcher.venue_urls(env) == []
    assert env["PARADEX_REST_URL"] == "http://127.0.0.1:17070/v1"
    assert env["PARADEX_WS_URL"] == "ws://127.0.0.1:17071/v1"
    stale = {"SIM_REST_PORT": "17070", "PARADEX_REST_URL": "http://127.0.0.1:7070/v1"}
    warnings = launcher.venue_urls(stale)
    assert stale["PARADEX_REST_URL"] == "http://127.0.0.1:7070/v1"  # the user's choice, but said
    assert len(warnings) == 1 and "17070" in warnings[0]
    testnet = {"RUN_SIMULATOR": "0", "PARADEX_REST_URL": config.VENUES["testnet"][0]}
    assert launcher.venue_urls(testnet) == [] and testnet["PARADEX_REST_URL"] == config.VENUES["testnet"][0]


def test_nats_and_redis_have_stable_documented_ports():
    p = launcher.ports({})
    assert (p["RUN_NATS_PORT"], p["RUN_REDIS_PORT"]) == (14222, 16379)
    assert launcher.ports({"RUN_REDIS_PORT": "7000"})["RUN_REDIS_PORT"] == 7000


def test_wait_for_the_simulator_with_default_ports(monkeypatch):
    """`make run` with no SIM_*_PORT set (the usual case): the launcher waits on the documented
    default port. It once read ``child.env["SIM_REST_PORT"]`` and died with a KeyError."""
    import socket
    import threading
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    monkeypatch.setattr(config, "SIM_REST_PORT", listener.getsockname()[1])

    class Child:
        env: dict[str, str] = {}  # a stand-in with no port variables at all

        def exit_code(self) -> int | None:
            return None

    started = time.monotonic()
    try:
        launcher._wait_started(Child(), threading.Event(), "port", 10)  # type: ignore[arg-type]
    finally:
        listener.close()
    assert time.monotonic() - started < 5  # returned on the open port, not at the deadline
