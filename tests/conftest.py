"""Shared test configuration: real servers come from the ``tests.servers`` plugin."""

from __future__ import annotations

import sys
from typing import Any

pytest_plugins = ["tests.servers", "tests.simfixture"]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Show the end-to-end race suite's per-scenario figures in every run (not only with -s)."""
    races = sys.modules.get("tests.system.races")
    lines = getattr(races, "REPORTS", None)
    if lines:
        terminalreporter.section("race suite: per scenario")
        for line in lines:
            terminalreporter.write_line(line)
