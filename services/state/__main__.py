"""``python -m services.state``: wiring only (settings, NATS, Redis, service, uvicorn; SIGTERM → drain)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import nats
import redis.asyncio as aioredis

from services.state.runner import running
from services.state.settings import Settings
from shared import log as logsetup
from shared.settings import load

log = logging.getLogger("state")


async def main() -> None:
    """Run until SIGTERM/SIGINT; then stop consuming, checkpoint, stop HTTP, drain NATS, close Redis."""
    settings = load(Settings)
    logsetup.setup(settings.log_level, settings.log_format, service="state")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    nc = await nats.connect(settings.nats_url, name="paradex-hub-state", max_reconnect_attempts=-1,
                            reconnect_time_wait=0.5, allow_reconnect=True)
    redis = aioredis.from_url(settings.redis_url)
    try:
        async with running(settings, nc, redis) as (_, http):
            log.info("state HTTP on %s (docs at /docs)", http.url)
            await stop.wait()
            log.info("state stopping")
    finally:
        with contextlib.suppress(Exception):
            await nc.drain()
        with contextlib.suppress(Exception):
            await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main())
