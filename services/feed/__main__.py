"""``python -m services.feed``: wiring only (settings, NATS, JWT source, service, SIGTERM → drain).

Exits 1 when a supervised task of the feed gave up (:attr:`FeedService.failed`), so that the
process supervisor (compose ``restart:``, systemd, Kubernetes) starts a fresh one.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from services.feed.auth import RestJwtSource
from services.feed.service import FeedService
from services.feed.settings import Settings
from shared import eventloop
from shared import log as logsetup
from shared.bus.connect import connect as bus_connect
from shared.settings import load

log = logging.getLogger("feed")


async def main() -> int:
    """Run the feed until SIGTERM/SIGINT (exit code 0) or a task gives up (1); drain NATS."""
    settings = load(Settings)
    logsetup.setup(settings.log_level, settings.log_format, service="feed")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    connecting = asyncio.ensure_future(bus_connect(  # subjects.py validates every token
        settings.nats_url, name="paradex-hub-feed", skip_subject_validation=True))
    stopping = asyncio.ensure_future(stop.wait())
    # nats-py retries the first connection forever: a SIGTERM meanwhile must still stop us
    await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if not connecting.done():
        connecting.cancel()
        log.info("feed stopped before NATS was reachable")
        return 0
    stopping.cancel()
    nc = connecting.result()
    jwt = RestJwtSource(settings)
    service = FeedService(settings, nc, jwt)
    code = 0
    try:
        await service.start()
        stopping = asyncio.ensure_future(stop.wait())
        failing = asyncio.ensure_future(service.failed.wait())
        await asyncio.wait({stopping, failing}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        failing.cancel()
        if service.failed.is_set():
            log.critical("a feed task gave up (see above): exiting with status 1 to be restarted")
            code = 1
        log.info("feed stopping")
        await service.stop()
    finally:
        await jwt.aclose()
        try:
            await nc.drain()
        except Exception as exc:  # NATS already gone: nothing left to flush
            log.warning("NATS drain failed: %r", exc)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    return code


if __name__ == "__main__":
    sys.exit(eventloop.run(main(), load(Settings).event_loop))
