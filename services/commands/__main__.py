"""``python -m services.commands``: wiring only (settings, NATS, Redis, service, SIGTERM -> drain)."""

from __future__ import annotations

import asyncio
import logging
import signal

import nats
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.commands.service import CommandsService
from services.commands.settings import Settings
from shared import log as logsetup
from shared.bus import ensure_streams
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
    nc = await nats.connect(
        settings.nats_url,
        name="paradex-hub-commands",
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        allow_reconnect=True,
    )
    js = nc.jetstream()
    await ensure_streams(js)
    redis = connect_redis(settings.redis_url)
    service = CommandsService(settings, nc, js, redis)
    try:
        await service.start()
        log.info("commands serving on %s:%d", settings.http_host, service.port)
        await stop.wait()
        await service.stop()
    finally:
        await redis.aclose()
        try:
            await nc.drain()
        except Exception as exc:
            log.warning("NATS drain on exit failed: %r", exc)


def connect_redis(url: str) -> aioredis.Redis:
    """A Redis client that recovers by itself: a command that meets a dead pooled connection is
    sent once more on a fresh one (after Redis restarted, the first request must not fail; every
    script we run is safe to repeat: claims carry a nonce), socket timeouts bound every call (a
    hung Redis gives 503 in about a second, not a stuck request), and idle connections are checked
    before reuse."""
    retry = Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=2)
    return aioredis.from_url(
        url,
        socket_timeout=1.5,
        socket_connect_timeout=1.0,
        retry=retry,
        retry_on_error=[RedisConnectionError, RedisTimeoutError, ConnectionResetError],
        health_check_interval=5,
    )


if __name__ == "__main__":
    asyncio.run(main())
