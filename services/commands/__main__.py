"""``python -m services.commands``: wiring only (settings, NATS, Redis, service, SIGTERM -> drain)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import httpx
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.commands.service import CommandsService
from services.commands.settings import Settings
from shared import config, eventloop
from shared import log as logsetup
from shared.bus import ensure_streams
from shared.bus.connect import connect as bus_connect
from shared.errors import ConfigError, TransportError
from shared.gcwatch import freeze_startup_objects
from shared.settings import load

log = logging.getLogger("commands")


SIMULATOR_CHAIN_MARK = "MOCK"
"""The simulator's chain ids carry it (``PRIVATE_SN_POTC_MOCK_SEPOLIA``); Paradex's never do."""


def check_strategies(service: CommandsService) -> None:
    """No strategy means every request is refused (401): allowed only against the simulator; so
    are the public paper-trading token and key (compose/paper, make run)."""
    chain = service.rest.signer.chain_id if service.rest.signer is not None else ""
    simulator = SIMULATOR_CHAIN_MARK in chain
    where = f"venue chain {chain} at {service.settings.paradex_rest_url}"
    if not simulator and service.settings.paradex_l2_private_key.reveal() == config.DEV_L2_PRIVATE_KEY:
        raise ConfigError(
            "PARADEX_L2_PRIVATE_KEY",
            f"the public paper-trading key is configured for "
            f"{where}: set your own (PARADEX_L2_PRIVATE_KEY_FILE; compose: HUB_L2_KEY_FILE)",
        )
    if not simulator and service.strategies.authenticate(f"Bearer {config.DEV_STRATEGY_TOKEN}") is not None:
        raise ConfigError(
            "COMMANDS_STRATEGIES",
            f"the public paper-trading token is configured for {where}: "
            "set your own strategies (compose: HUB_STRATEGIES_FILE)",
        )
    if len(service.strategies):
        return
    if simulator:
        log.warning(
            "no strategies configured (COMMANDS_STRATEGIES): every request will get 401 "
            "(allowed against the simulator, chain %s)",
            chain,
        )
        return
    raise ConfigError(
        "COMMANDS_STRATEGIES",
        f"no strategies configured for {where}: every request "
        "would be refused; set COMMANDS_STRATEGIES or COMMANDS_STRATEGIES_FILE",
    )


async def main() -> int:
    """Run the commands service until SIGTERM/SIGINT, then drain NATS and close Redis.

    Exit 2 on a configuration error, 1 when the venue cannot be reached (both name the setting or
    the URL, without a traceback)."""
    try:
        settings = load(Settings)
    except ConfigError as exc:
        print(f"services.commands: {exc}", file=sys.stderr)
        return 2
    logsetup.setup(settings.log_level, settings.log_format, service="commands")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    nc = await bus_connect(settings.nats_url, name="paradex-hub-commands")
    js = nc.jetstream()
    await ensure_streams(js)
    redis = connect_redis(settings.redis_url)
    code = 0
    try:
        try:
            service = CommandsService(settings, nc, js, redis)
        except ConfigError as exc:
            log.error("%s", exc)
            return 2
        try:
            await service.start()
            check_strategies(service)
        except ConfigError as exc:
            log.error("%s", exc)
            code = 2
        except (TransportError, httpx.HTTPError) as exc:
            log.error(
                "venue at %s unreachable at start-up: %s: %s (PARADEX_REST_URL)",
                settings.paradex_rest_url,
                type(exc).__name__,
                exc,
            )
            code = 1
        except OSError as exc:  # e.g. the HTTP port is taken: the message names host and port
            log.error("commands cannot start: %s (COMMANDS_HTTP_HOST / COMMANDS_HTTP_PORT)", exc)
            code = 1
        if code == 0:
            if settings.gc_freeze:
                log.info("gc: %d start-up objects frozen", freeze_startup_objects())
            log.info("commands serving on %s:%d", settings.http_host, service.port)
            await stop.wait()
        await service.stop()
    finally:
        await redis.aclose()
        try:
            await nc.drain()
        except Exception as exc:
            log.warning("NATS drain on exit failed: %r", exc)
    return code


def _loop() -> str:
    """``COMMANDS_EVENT_LOOP`` (read before the loop starts; an invalid value is left to
    :func:`main`, which reports every configuration error the same way)."""
    try:
        return load(Settings).event_loop
    except ConfigError:
        return "asyncio"


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
    sys.exit(eventloop.run(main(), _loop()))
