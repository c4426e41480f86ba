"""Fixtures of the reconciler tests."""

from tests.reconciler.helpers import start_reconciler

__all__ = ["start_reconciler"]
