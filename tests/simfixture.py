"""pytest plugin: a fresh in-process simulator per test, on free ports, over real sockets.

``simulator`` gives a :class:`SimHandle` (REST/WS/control URLs, the account, its signer and
chain id, direct access to the engine); ``simulator_factory(**settings)`` starts one with other
settings (e.g. a tiny rate-limit bucket). Defaults: the synthetic driver and the venue schedule
are off (deterministic tests: the book holds the seed step's ladder; time moves through the
control API), order signatures are verified.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from services.simulator.engine import Exchange
from services.simulator.runner import Simulator
from services.simulator.settings import SimSettings
from services.simulator.venue import Venue
from shared.paradex.auth import auth_headers
from shared.paradex.signer import OrderSigner
from shared.settings import load

TEST_DEFAULTS: dict[str, Any] = {
    "rest_port": 0, "ws_port": 0, "control_port": 0, "synthetic_rate": 0.0, "summary_interval_ms": 0,
    "seed": 7, "schedule_interval_ms": 0,
    # In-process simulators check signatures inline: a checker process per test costs ~0.4 s of CPU.
    # tests/simulator/test_verifyproc.py runs the checker; the system tests' simulators (processes,
    # default settings) use it on every order.
    "verify_process": False,
}


@dataclass
class SimHandle:
    """One running simulator as a test sees it."""

    sim: Simulator
    signer: OrderSigner

    @property
    def rest_url(self) -> str:
        return self.sim.rest_url

    @property
    def ws_url(self) -> str:
        return self.sim.ws_url

    @property
    def control_url(self) -> str:
        return self.sim.control_url

    @property
    def venue(self) -> Venue:
        return self.sim.venue

    @property
    def exchange(self) -> Exchange:
        return self.sim.venue.exchange

    @property
    def account(self) -> str:
        return self.signer.account

    @property
    def chain_id(self) -> str:
        return self.signer.chain_id

    @property
    def private_key(self) -> str:
        """The account's L2 private key (the public dev key unless configured otherwise)."""
        return self.sim.settings.paradex_l2_private_key.reveal()

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An httpx client on the REST base URL (``/v1``)."""
        return httpx.AsyncClient(base_url=self.rest_url, timeout=kwargs.pop("timeout", 10.0), **kwargs)

    def auth_headers(self, now_s: int | None = None) -> dict[str, str]:
        return auth_headers(self.signer, int(time.time()) if now_s is None else now_s)

    async def jwt(self, client: httpx.AsyncClient) -> str:
        """``POST /auth`` with signed headers; the JWT."""
        resp = await client.post("/auth", headers=self.auth_headers())
        assert resp.status_code == 200, resp.text
        token: str = resp.json()["jwt_token"]
        return token

    @contextlib.asynccontextmanager
    async def authed(self, **kwargs: Any) -> AsyncIterator[httpx.AsyncClient]:
        """``async with sim.authed() as client``: a client with a fresh ``Authorization`` header."""
        async with self.client(**kwargs) as client:
            client.headers["Authorization"] = f"Bearer {await self.jwt(client)}"
            yield client

    def order(self, side: str = "BUY", size: str = "0.01", price: str = "60000", *,
              market: str = "BTC-USD-PERP", type: str = "LIMIT", instruction: str = "GTC",
              **extra: Any) -> dict[str, Any]:
        """A signed ``POST /orders`` body."""
        ts = int(time.time() * 1000)
        sig = self.signer.sign_order(market, side, type, size, price, ts)
        return {"market": market, "side": side, "type": type, "size": size, "price": price,
                "instruction": instruction, "signature": sig, "signature_timestamp": ts, **extra}

    def modify(self, order_id: str, side: str, size: str, price: str, *, market: str = "BTC-USD-PERP",
               type: str = "LIMIT") -> dict[str, Any]:
        """A signed ``PUT /orders/{id}`` body."""
        ts = int(time.time() * 1000)
        sig = self.signer.sign_modify(order_id, market, side, type, size, price, ts)
        return {"id": order_id, "market": market, "side": side, "type": type, "size": size, "price": price,
                "signature": sig, "signature_timestamp": ts}

    def best(self, market: str = "BTC-USD-PERP") -> tuple[Decimal, Decimal]:
        """Current best bid and ask from the engine (the seed ladder guarantees both)."""
        bbo = self.exchange.bbo(market)
        assert bbo.bid is not None and bbo.ask is not None
        return bbo.bid, bbo.ask


SimFactory = Callable[..., Awaitable[SimHandle]]
"""``await simulator_factory(**settings)``: start another simulator with these settings."""


async def start_simulator(**overrides: Any) -> SimHandle:
    settings = load(SimSettings, env={}, **{**TEST_DEFAULTS, **overrides})
    sim = Simulator(settings)
    await sim.start()
    return SimHandle(sim, sim.venue.signer)


@pytest.fixture
async def simulator_factory() -> AsyncIterator[SimFactory]:
    started: list[SimHandle] = []

    async def make(**overrides: Any) -> SimHandle:
        handle = await start_simulator(**overrides)
        started.append(handle)
        return handle

    try:
        yield make
    finally:
        for handle in started:
            await handle.sim.stop(graceful=False)


@pytest.fixture
async def simulator(simulator_factory: SimFactory) -> SimHandle:
    return await simulator_factory()


class WsClient:
    """A minimal JSON-RPC client over a real websockets connection, for tests.

    ``call`` sends a request and returns its reply; pushes read meanwhile are kept in order in
    ``pushes`` (JSON) or ``binary`` (SBE frames). ``next_push`` waits for the next push.
    """

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.pushes: list[dict[str, Any]] = []
        self.binary: list[bytes] = []
        self._next_id = 0

    async def _read(self, wait_s: float) -> dict[str, Any] | None:
        frame = await asyncio.wait_for(self.ws.recv(), wait_s)
        if isinstance(frame, bytes):
            self.binary.append(frame)
            return None
        msg: dict[str, Any] = json.loads(frame)
        if msg.get("method") == "subscription":
            self.pushes.append(msg)
            return None
        return msg

    async def call(self, method: str, params: Any = None, wait_s: float = 5.0) -> dict[str, Any]:
        self._next_id += 1
        request: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": self._next_id}
        if params is not None:
            request["params"] = params
        await self.ws.send(json.dumps(request))
        return await self.reply(self._next_id, wait_s)

    async def reply(self, request_id: Any, wait_s: float = 5.0) -> dict[str, Any]:
        while True:
            msg = await self._read(wait_s)
            if msg is not None and msg.get("id") == request_id:
                return msg

    async def subscribe(self, channel: str) -> dict[str, Any]:
        reply = await self.call("subscribe", {"channel": channel})
        assert "result" in reply, reply
        return reply

    async def next_push(self, channel: str | None = None, wait_s: float = 5.0) -> dict[str, Any]:
        """The next JSON push (on ``channel`` if given), waiting up to ``wait_s`` s."""
        deadline = asyncio.get_running_loop().time() + wait_s
        while True:
            for i, push in enumerate(self.pushes):
                if channel is None or push["params"]["channel"] == channel:
                    return self.pushes.pop(i)
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError(f"no push on {channel}")
            await self._read(left)

    async def next_binary(self, wait_s: float = 5.0) -> bytes:
        deadline = asyncio.get_running_loop().time() + wait_s
        while not self.binary:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError("no binary frame")
            await self._read(left)
        return self.binary.pop(0)

    async def quiet(self, seconds: float) -> None:
        """Read whatever arrives for ``seconds`` (pushes are kept)."""
        deadline = asyncio.get_running_loop().time() + seconds
        with contextlib.suppress(TimeoutError):
            while (left := deadline - asyncio.get_running_loop().time()) > 0:
                await self._read(left)


@contextlib.asynccontextmanager
async def ws_client(sim: SimHandle, *, query: str = "", auth: bool = False,
                    **kwargs: Any) -> AsyncIterator[WsClient]:
    """``async with ws_client(sim, auth=True) as ws``: a connected (and authenticated) client."""
    # Unbounded client queue: a test that stops reading must not stall the close handshake.
    kwargs.setdefault("max_queue", None)
    async with connect(sim.ws_url + query, **kwargs) as ws:
        client = WsClient(ws)
        if auth:
            async with sim.client() as c:
                token = await sim.jwt(c)
            reply = await client.call("auth", {"bearer": token})
            assert "result" in reply, reply
        yield client
