"""``python -m services.reconciler``: wiring only (settings, NATS, streams, REST, service, SIGTERM →
drain)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from services.reconciler.service import ReconcilerService
from services.reconciler.settings import Settings
from shared import log as logsetup
from shared.bus import ensure_streams
from shared.bus.connect import connect as bus_connect
from shared.paradex.rest import ParadexRest, RestTimeouts
from shared.paradex.retry import Backoff, BackoffPolicy
from shared.settings import load

log = logging.getLogger("reconciler")


async def connect_rest(settings: Settings, stop: asyncio.Event) -> ParadexRest | None:
    """A REST client with its signer, retrying (capped backoff) until the venue answers or stop."""
    policy = BackoffPolicy(initial_s=settings.backoff_initial_s, max_s=settings.backoff_max_s)
    backoff = Backoff(policy)
    while not stop.is_set():
        try:
            return await ParadexRest.connect(
                settings, timeouts=RestTimeouts(read_s=settings.request_timeout_s), retry_policy=policy,
                max_retries=settings.max_retries)
        except Exception as exc:
            delay = backoff.next_delay(asyncio.get_running_loop().time())
            log.warning("venue not reachable (%s); retrying in %.2fs", exc, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
    return None


async def main() -> None:
    """Run the reconciler until SIGTERM/SIGINT, then finish or abandon the run and drain NATS."""
    settings = load(Settings)
    logsetup.setup(settings.log_level, settings.log_format, service="reconciler")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    nc = await bus_connect(settings.nats_url, name="paradex-hub-reconciler")
    try:
        await ensure_streams(nc.jetstream())
        rest = await connect_rest(settings, stop)
        if rest is None:
            return
        service = ReconcilerService(settings, nc, rest)
        try:
            await service.start()
            await stop.wait()
            log.info("reconciler stopping")
            await service.stop()
        finally:
            await rest.aclose()
    finally:
        with contextlib.suppress(Exception):
            await nc.drain()


if __name__ == "__main__":
    asyncio.run(main())
