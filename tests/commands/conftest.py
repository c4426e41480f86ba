"""Fixtures of the commands tests."""

from tests.commands.helpers import start_commands

__all__ = ["start_commands"]
