"""The process harness of the system tests: :mod:`shared.procs` (shared with ``bench.e2e``)."""

from shared.procs import (
    COMMANDS_ENV,
    FEED_ENV,
    RECONCILER_ENV,
    ROOT,
    SIM_ENV,
    STATE_ENV,
    STRATEGIES,
    TOKENS,
    M,
    Proc,
    ProcSystem,
    new_account,
    new_private_key,
    process_system,
    wait_until,
)

__all__ = ["COMMANDS_ENV", "FEED_ENV", "RECONCILER_ENV", "ROOT", "SIM_ENV", "STATE_ENV", "STRATEGIES",
           "TOKENS", "M", "Proc", "ProcSystem", "new_account", "new_private_key", "process_system",
           "wait_until"]
