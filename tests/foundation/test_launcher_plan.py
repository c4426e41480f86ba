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
