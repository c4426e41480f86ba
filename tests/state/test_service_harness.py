"""Shared harness for the state-service integration tests (no tests here).

Starts the real service (real NATS JetStream + Redis from tests/servers.py) for a unique account,
with its HTTP server on a free port, and offers small polling helpers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import nats
import redis.asyncio as aioredis

from services.state.runner import HttpServer, running
from services.state.service import StateService
from services.state.settings import Settings
from shared.bus import EventPublisher, OrderEvent
from shared.paradex.models.account import Order
from shared.settings import load

T = TypeVar("T")
T0 = 1_700_000_000_000
MS = 1_000_000


def settings_for(nats_url: str, redis_url: str, account: str, **overrides: Any) -> Settings:
    """Settings of a test instance: its own account, a free HTTP port, fast timers."""
    base: dict[str, Any] = {"nats_url": nats_url, "redis_url": redis_url, "paradex_account": account,
                            "http_port": 0, "md_flush_interval_s": 0.01, "health_interval_s": 0.2,
                            "fetch_expires_s": 1.0, "reconcile_coalesce_s": 0.5}
    base.update(overrides)
    return load(Settings, env={}, **base)


class Instance:
    """A running service plus the clients a test uses to look at it."""

    def __init__(self, service: StateService, http: HttpServer, client: httpx.AsyncClient) -> None:
        self.service = service
        self.http = http
        self.client = client

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(path, params=params or None)

    async def wait_seq(self, seq: int, within_s: float = 10.0) -> None:
        """Until the service applied ACCOUNT stream sequence ``seq`` (and Redis has it)."""
        await wait_for(lambda: self._seq_in_redis(seq), within_s, f"applied seq {seq}")

    async def _seq_in_redis(self, seq: int) -> bool:
        raw = await self.service.redis.get(self.service.keys.seq)
        return raw is not None and int(raw) >= seq


@contextlib.asynccontextmanager
async def instance(settings: Settings) -> AsyncIterator[Instance]:
    """Start the service with its own NATS and Redis clients; stop, drain and close after."""
    nc = await nats.connect(settings.nats_url)
    redis = aioredis.from_url(settings.redis_url)
    try:
        async with running(settings, nc, redis) as (service, http), \
                httpx.AsyncClient(base_url=http.url, timeout=10.0) as client:
            yield Instance(service, http, client)
    finally:
        with contextlib.suppress(Exception):
            await nc.drain()
        await redis.aclose()


async def wait_for(check: Callable[[], Awaitable[bool]], within_s: float = 10.0,
                   what: str = "condition") -> None:
    """Poll ``check`` every 10 ms until it is true; AssertionError after ``within_s`` seconds."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def order(oid: str, *, account: str, status: str = "OPEN", seq: int = 1, size: str = "1",
          remaining: str | None = None, market: str = "BTC-USD-PERP", client_id: str = "",
          lua: int = T0) -> Order:
    """A venue order record."""
    return Order(
        id=oid, account=account, market=market, side="BUY", type="LIMIT", size=Decimal(size),
        remaining_size=Decimal(size if remaining is None else remaining), price=Decimal("100"),
        status=status, created_at=T0, last_updated_at=lua, timestamp=T0, cancel_reason="",
        client_id=client_id or f"c{oid}", seq_no=seq, instruction="GTC", avg_fill_price="",
        received_at=T0, published_at=lua, flags=[], trigger_price="")


def order_ev(o: Order, source: str = "ws", epoch: int = 1) -> OrderEvent:
    return OrderEvent(source=source, venue_ts_ms=o.last_updated_at, recv_ns=o.last_updated_at * MS,  # type: ignore[arg-type]
                      conn_epoch=epoch if source == "ws" else 0, order=o)


async def publish_all(js: Any, account: str, events: list[Any]) -> list[int]:
    """Publish ``events`` to the ACCOUNT stream; their stream sequences."""
    pub = EventPublisher(js, account)
    return [await pub.publish(e) for e in events]
