"""Start the commands service in-process against the simulator, real NATS and real Redis."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from services.commands.service import CommandsService
from services.commands.settings import Settings
from shared.bus import ensure_streams
from shared.settings import Secret, load
from tests.simfixture import SimHandle

M = "BTC-USD-PERP"
TOKENS = {"mm": "mm-token-0123456789", "arb": "arb-token-0123456789", "boss": "boss-token-0123456789"}
STRATEGIES = [
    {
        "name": "mm",
        "token": TOKENS["mm"],
        "markets": [M],
        "max_order_notional": "100000",
        "max_open_orders_per_market": 1000,
        "max_position": "50",
    },
    {
        "name": "arb",
        "token": TOKENS["arb"],
        "markets": [M],
        "max_order_notional": "1000",
        "max_open_orders_per_market": 2,
        "max_position": "0.05",
    },
    {"name": "boss", "token": TOKENS["boss"], "can_cancel_others": True},
]


def auth(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name]}"}


@dataclass
class Running:
    service: CommandsService
    client: httpx.AsyncClient

    async def place(self, strategy: str = "mm", **body: Any) -> httpx.Response:
        order = {"market": M, "side": "BUY", "type": "LIMIT", "size": "0.01", "price": "50000", **body}
        return await self.client.post("/v1/orders", json=order, headers=auth(strategy))


Factory = Callable[..., Awaitable[Running]]


def settings_for(sim: SimHandle, nats_url: str, redis_url: str, **overrides: Any) -> Settings:
    kw: dict[str, Any] = {
        "paradex_rest_url": sim.rest_url,
        "paradex_ws_url": sim.ws_url,
        "paradex_account": sim.account,
        "paradex_l2_private_key": Secret(sim.private_key),
        "nats_url": nats_url,
        "redis_url": redis_url,
        "http_port": 0,
        "strategies": Secret(json.dumps(STRATEGIES)),
        "exposure_refresh_s": 0.05,
        "venue_read_timeout_s": 1.0,
        "pending_stale_s": 3.0,
        "index_settle_s": 0.2,
        # REST order writes: these tests inject REST faults (the WebSocket path: test_ws_*.py)
        "transport": "rest",
    }
    return load(Settings, env={}, **{**kw, **overrides})


@pytest.fixture
async def start_commands(
    nc: Any, js: Any, redis_client: Any, nats_url: str, redis_url: str
) -> AsyncIterator[Factory]:
    await ensure_streams(js)
    started: list[Running] = []

    async def make(sim: SimHandle, **overrides: Any) -> Running:
        service = CommandsService(settings_for(sim, nats_url, redis_url, **overrides), nc, js, redis_client)
        await service.start()
        client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}", timeout=15.0)
        running = Running(service, client)
        started.append(running)
        return running

    try:
        yield make
    finally:
        for r in started:
            await r.client.aclose()
            await r.service.stop()
