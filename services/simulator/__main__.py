"""``python -m services.simulator``: the local Paradex (REST, WebSocket, control) in one process.

Settings come from the environment (``SIM_*``, plus ``PARADEX_ACCOUNT`` / ``PARADEX_L2_PRIVATE_KEY``
for the account the simulator registers). Runs until SIGTERM or SIGINT, then stops cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

from shared import log as logsetup
from shared.errors import ConfigError
from shared.settings import load

from .runner import Simulator
from .settings import SimSettings

log = logging.getLogger("services.simulator")


async def run(settings: SimSettings) -> None:
    """Start the simulator and serve until a termination signal arrives."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    sim = Simulator(settings)
    await sim.start()
    log.info("simulator ready", extra={"rest": sim.rest_url, "ws": sim.ws_url, "control": sim.control_url,
                                       "account": sim.venue.account, "chain_id": settings.chain_id})
    try:
        await stop.wait()
    finally:
        log.info("simulator stopping")
        await sim.stop()


def main() -> int:
    try:
        settings = load(SimSettings)
    except ConfigError as exc:
        print(f"services.simulator: {exc}", file=sys.stderr)
        return 2
    logsetup.setup(settings.log_level, settings.log_format, service="simulator")
    runner: asyncio.Runner
    try:
        import uvloop  # optional speed-up

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner, contextlib.suppress(KeyboardInterrupt):
        runner.run(run(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
