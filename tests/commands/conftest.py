"""Fixtures of the commands tests."""

from tests.commands.helpers import start_commands
from tests.commands.stack import start_feed, start_reconciler

__all__ = ["start_commands", "start_feed", "start_reconciler"]
