"""``python -m services.commands``: wiring only (settings, NATS, Redis, service, SIGTERM -> drain)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import redis.asyncio as aioredis

from services.commands.service import CommandsService
from services.commands.settings import Settings
from shared import log as logsetup
from shared.bus import ensure_streams
from shared.bus.connect import connect as bus_connect
from shared.settings import load

log = logging.getLogger("commands")


async def main() -> None:
    """Run the commands service until SIGTERM/SIGINT, then drain NATS and close Redis."""
    settings = load(Settings)
    logsetup.setup(settings.log_level, settings.log_format, service="commands")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    nc = await bus_connect(settings.nats_url, name="paradex-hub-commands")
    js = nc.jetstream()
    await ensure_streams(js)
    redis = aioredis.from_url(settings.redis_url)
    service = CommandsService(settings, nc, js, redis)
    try:
        await service.start()
        log.info("commands serving on %s:%d", settings.http_host, service.port)
        await stop.wait()
        await service.stop()
    finally:
        await redis.aclose()
        with contextlib.suppress(Exception):
            await nc.drain()


if __name__ == "__main__":
    asyncio.run(main())
