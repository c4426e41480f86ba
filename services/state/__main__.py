"""``python -m services.state``: wiring only (settings, NATS, Redis, service, uvicorn; SIGTERM → drain)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.state.lease import DurableInUse
from services.state.runner import running
from services.state.settings import Settings
from shared import eventloop
from shared import log as logsetup
from shared.bus.connect import connect as bus_connect
from shared.gcwatch import freeze_startup_objects
from shared.settings import load

log = logging.getLogger("state")


EXIT_DURABLE_IN_USE = 3
EXIT_LEASE_LOST = 4


def redis_client(url: str) -> aioredis.Redis:
    """Redis with bounded timeouts and reconnects: a dead pooled connection (Redis restarted) is
    replaced on the next call (retried twice, 50 ms..1 s apart), a hung one times out after 5 s
    instead of holding a write forever; the writers above retry until Redis answers again."""
    retry = Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), 2,
                  supported_errors=(RedisConnectionError, RedisTimeoutError))
    return aioredis.from_url(url, socket_connect_timeout=2.0, socket_timeout=5.0, health_check_interval=5,
                             retry=retry)


async def main(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT; then stop consuming, checkpoint, stop HTTP, drain NATS, close Redis.

    Returns the exit code: 0, or 3 when another process holds this replica's durable (refused to
    start), 4 when that happened while running (the lease was taken over)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    nc = await bus_connect(settings.nats_url, name="paradex-hub-state")
    redis = redis_client(settings.redis_url)
    code = 0
    try:
        async with running(settings, nc, redis) as (svc, http):
            log.info("state HTTP on %s (docs at /docs)", http.url)
            if settings.gc_freeze:
                log.info("gc: %d start-up objects frozen", freeze_startup_objects())
            svc.gc.reset()  # /metrics shows the collections of the running service, not start-up's
            stopping = asyncio.create_task(stop.wait())
            fatal = asyncio.create_task(svc.fatal.wait())
            await asyncio.wait({stopping, fatal}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            fatal.cancel()
            if svc.fatal.is_set():
                log.error("state exiting: %s", svc.fatal_reason)
                code = EXIT_LEASE_LOST
            log.info("state stopping")
    except DurableInUse as exc:
        log.error("state refuses to start: %s", exc)
        code = EXIT_DURABLE_IN_USE
    finally:
        with contextlib.suppress(Exception):
            await nc.drain()
        with contextlib.suppress(Exception):
            await redis.aclose()
    return code


if __name__ == "__main__":
    _settings = load(Settings)
    logsetup.setup(_settings.log_level, _settings.log_format, service="state")
    sys.exit(eventloop.run(main(_settings), _settings.event_loop))
