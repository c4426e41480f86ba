"""The whole system in one event loop: simulator + real NATS + real Redis + feed + reconciler +
state + commands, for one fresh account (so tests sharing the NATS/Redis servers never mix).

``async with full_system(nats_url, redis_url) as sys_`` yields a :class:`System` with the URLs,
the strategy tokens, typed clients and the simulator handle (faults through ``sys_.control``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import nats
import redis.asyncio as aioredis

from services.commands.service import CommandsService
from services.commands.settings import Settings as CommandsSettings
from services.feed.auth import RestJwtSource
from services.feed.service import FeedService
from services.feed.settings import Settings as FeedSettings
from services.reconciler.service import ReconcilerService
from services.reconciler.settings import Settings as ReconcilerSettings
from services.state.runner import running
from services.state.settings import Settings as StateSettings
from shared.bus import ensure_streams
from shared.client import CommandsClient, StateClient
from shared.paradex.rest import ParadexRest, RestTimeouts
from shared.paradex.retry import BackoffPolicy
from shared.settings import Secret, load
from tests.simfixture import SimHandle, start_simulator

M = "BTC-USD-PERP"
TOKENS = {"mm": "mm-token-system-0123456789", "poller": "poller-token-system-0123456789"}
STRATEGIES = [
    {"name": "mm", "token": TOKENS["mm"], "markets": [M], "max_order_notional": "1000000",
     "max_open_orders_per_market": 1000, "max_position": "100"},
    {"name": "poller", "token": TOKENS["poller"], "markets": [M], "max_order_notional": "1000000",
     "max_open_orders_per_market": 1000, "max_position": "100"},
]
SIM_DEFAULTS: dict[str, Any] = {
    # no venue rate limits in tests: the poller and the reconciler read a lot
    "rl_private_get_per_s": 0, "rl_private_get_per_min": 0, "rl_private_ip_per_min": 0,
    "rl_public_per_min": 0, "rl_auth_per_min": 0,
}


def new_account() -> str:
    """A fresh account address (canonical: lower-case hex, no leading zero)."""
    return "0x1" + secrets.token_hex(31)


@dataclass
class System:
    sim: SimHandle
    account: str
    state_url: str
    commands_url: str
    state_service: Any
    feed: FeedService
    reconciler: ReconcilerService
    commands: CommandsService
    redis: aioredis.Redis
    control: httpx.AsyncClient
    clients: list[Any] = field(default_factory=list)

    def state_client(self) -> StateClient:
        c = StateClient(self.state_url)
        self.clients.append(c)
        return c

    def commands_client(self, strategy: str = "mm") -> CommandsClient:
        c = CommandsClient(self.commands_url, TOKENS[strategy])
        self.clients.append(c)
        return c

    async def truth(self) -> dict[str, Any]:
        resp = await self.control.get("/truth")
        resp.raise_for_status()
        out: dict[str, Any] = resp.json()
        return out

    async def fault(self, method: str, path: str, body: Any = None) -> Any:
        """Call the simulator's control API (``path`` under ``/control``, e.g. ``/ws/drop``)."""
        resp = await self.control.request(method, path, json=body)
        assert resp.status_code == 200, resp.text
        return resp.json()


def _common(sim: SimHandle, account: str, nats_url: str, redis_url: str) -> dict[str, Any]:
    return {"paradex_rest_url": sim.rest_url, "paradex_ws_url": sim.ws_url, "paradex_account": account,
            "paradex_l2_private_key": Secret(sim.private_key), "nats_url": nats_url, "redis_url": redis_url,
            "paradex_markets": (M,), "http_port": 0}


async def _nc(url: str) -> Any:
    return await nats.connect(url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)


@contextlib.asynccontextmanager
async def full_system(nats_url: str, redis_url: str, *, sim: dict[str, Any] | None = None,
                      state: dict[str, Any] | None = None, reconciler: dict[str, Any] | None = None,
                      commands: dict[str, Any] | None = None, feed: dict[str, Any] | None = None
                      ) -> AsyncIterator[System]:
    """Start everything for a fresh account; stop it all (reverse order) after."""
    account = new_account()
    handle = await start_simulator(**{**SIM_DEFAULTS, "paradex_account": account, **(sim or {})})
    stack = contextlib.AsyncExitStack()
    try:
        ncs = [await _nc(nats_url) for _ in range(4)]
        for nc_ in ncs:
            stack.push_async_callback(_drain, nc_)
        await ensure_streams(ncs[0].jetstream())
        redis = aioredis.from_url(redis_url)
        stack.push_async_callback(redis.aclose)
        base = _common(handle, account, nats_url, redis_url)

        st = load(StateSettings, env={}, **{**base, "md_flush_interval_s": 0.01, "health_interval_s": 0.2,
                                             "fetch_expires_s": 1.0, "reconcile_coalesce_s": 0.2,
                                             **(state or {})})
        state_service, state_http = await stack.enter_async_context(running(st, ncs[0], redis))

        rs = load(ReconcilerSettings, env={}, **{
            **base, "paradex_markets": (M,), "interval_s": 3600.0, "coalesce_s": 0.05, "rate_per_s": 500.0,
            "rate_burst": 500, "backoff_initial_s": 0.05, "backoff_max_s": 0.2, "request_timeout_s": 3.0,
            "part_timeout_s": 10.0, "shutdown_grace_s": 2.0, **(reconciler or {})})
        rest = await ParadexRest.connect(rs, timeouts=RestTimeouts(read_s=rs.request_timeout_s),
                                         retry_policy=BackoffPolicy(initial_s=rs.backoff_initial_s,
                                                                    max_s=rs.backoff_max_s),
                                         max_retries=rs.max_retries)
        stack.push_async_callback(rest.aclose)
        rec = ReconcilerService(rs, ncs[1], rest)
        await rec.start()
        stack.push_async_callback(rec.stop)

        fs = load(FeedSettings, env={}, **{**base, "backoff_initial_s": 0.05, "backoff_max_s": 0.3,
                                            "status_interval_s": 0.2, "reply_timeout_s": 2.0,
                                            **(feed or {})})
        jwt = RestJwtSource(fs)
        stack.push_async_callback(jwt.aclose)
        feed_service = FeedService(fs, ncs[2], jwt, http=False)
        await feed_service.start()
        stack.push_async_callback(feed_service.stop, 2.0)

        cs = load(CommandsSettings, env={}, **{**base, "strategies": Secret(json.dumps(STRATEGIES)),
                                                "exposure_refresh_s": 0.05, "venue_read_timeout_s": 1.0,
                                                "pending_stale_s": 3.0, "transport": "rest",  # REST faults
                                                **(commands or {})})
        cmd = CommandsService(cs, ncs[3], ncs[3].jetstream(), redis)
        await cmd.start()
        stack.push_async_callback(cmd.stop)

        control = httpx.AsyncClient(base_url=handle.control_url, timeout=10.0)
        stack.push_async_callback(control.aclose)
        system = System(handle, account, state_http.url, f"http://127.0.0.1:{cmd.port}", state_service,
                        feed_service, rec, cmd, redis, control)

        async def close_clients() -> None:
            for c in system.clients:
                await c.aclose()

        stack.push_async_callback(close_clients)
        await wait_until(lambda: _ready(system), 15.0, "system ready (feed connected, state caught up)")
        yield system
    finally:
        await stack.aclose()
        await handle.sim.stop(graceful=False)


async def _drain(nc: Any) -> None:
    with contextlib.suppress(Exception):
        await nc.drain()


async def _ready(system: System) -> bool:
    if not system.feed.status.connected:
        return False
    async with httpx.AsyncClient(base_url=system.state_url, timeout=2.0) as c:
        h = await c.get("/v1/health")
        b = await c.get(f"/v1/bbo/{M}")
    return h.status_code == 200 and b.status_code == 200 and bool(h.json()["value"]["feed_connected"])


async def wait_until(check: Callable[[], Awaitable[bool]], within_s: float, what: str,
                     every_s: float = 0.02) -> None:
    """Poll ``check`` until true; AssertionError after ``within_s``."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(every_s)
    raise AssertionError(f"timed out after {within_s} s waiting for {what}")
