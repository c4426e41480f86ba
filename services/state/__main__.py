"""``python -m services.state``: wiring only (settings, NATS, Redis, service, uvicorn; SIGTERM → drain)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Coroutine
from typing import Any

import redis.asyncio as aioredis

from services.state.gcwatch import freeze_startup_objects
from services.state.runner import running
from services.state.settings import Settings
from shared import log as logsetup
from shared.bus.connect import connect as bus_connect
from shared.settings import load

log = logging.getLogger("state")


async def main(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT; then stop consuming, checkpoint, stop HTTP, drain NATS, close Redis."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    nc = await bus_connect(settings.nats_url, name="paradex-hub-state")
    redis = aioredis.from_url(settings.redis_url)
    try:
        async with running(settings, nc, redis) as (svc, http):
            log.info("state HTTP on %s (docs at /docs)", http.url)
            if settings.gc_freeze:
                log.info("gc: %d start-up objects frozen", freeze_startup_objects())
            svc.gc.reset()  # /metrics shows the collections of the running service, not start-up's
            await stop.wait()
            log.info("state stopping")
    finally:
        with contextlib.suppress(Exception):
            await nc.drain()
        with contextlib.suppress(Exception):
            await redis.aclose()


def run(coro: Coroutine[Any, Any, None], loop: str) -> None:
    """Run ``coro`` on uvloop (``loop="uvloop"``, when installed) or the stock asyncio loop."""
    if loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            log.warning("uvloop not installed: using the asyncio event loop")
        else:
            uvloop.run(coro)
            return
    asyncio.run(coro)


if __name__ == "__main__":
    _settings = load(Settings)
    logsetup.setup(_settings.log_level, _settings.log_format, service="state")
    run(main(_settings), _settings.event_loop)
