"""``python -m services.feed``: wiring only (settings, NATS, JWT source, service, SIGTERM → drain)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from services.feed.auth import RestJwtSource
from services.feed.service import FeedService
from services.feed.settings import Settings
from shared import log as logsetup
from shared.bus.connect import connect as bus_connect
from shared.settings import load

log = logging.getLogger("feed")


async def main() -> None:
    """Run the feed until SIGTERM/SIGINT, then drain NATS and exit."""
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
        return
    stopping.cancel()
    nc = connecting.result()
    jwt = RestJwtSource(settings)
    service = FeedService(settings, nc, jwt)
    try:
        await service.start()
        await stop.wait()
        log.info("feed stopping")
        await service.stop()
    finally:
        await jwt.aclose()
        with contextlib.suppress(Exception):
            await nc.drain()


if __name__ == "__main__":
    asyncio.run(main())
