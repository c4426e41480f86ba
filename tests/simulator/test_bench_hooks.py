"""The simulator's benchmark hooks: WebSocket send stamps (off by default) and the order flow."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import httpx
from websockets.asyncio.client import connect

from services.simulator.settings import SimSettings
from services.simulator.ws.conn import stamped
from shared.paradex.models import Push, decode_frame
from tests.simfixture import SimFactory, SimHandle, ws_client

STAMP = re.compile(rb',"sim_sent_ns":(\d+)}$')


async def _control(sim: SimHandle, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with httpx.AsyncClient(base_url=sim.control_url, timeout=10) as c:
        resp = await c.request(method, path, json=body)
    return resp.status_code, resp.json()


async def _raw_frames(sim: SimHandle, channel: str, count: int, *, query: str = "") -> list[str | bytes]:
    """The next ``count`` frames after subscribing ``channel`` on a raw connection (reply first)."""
    frames: list[str | bytes] = []
    async with connect(sim.ws_url + query, compression=None) as ws:
        await ws.send(json.dumps({"jsonrpc": "2.0", "method": "subscribe", "params": {"channel": channel},
                                  "id": 1}))
        frames.append(await asyncio.wait_for(ws.recv(), 5))
        sim.venue.step_synthetic(20)
        while len(frames) < count:
            frames.append(await asyncio.wait_for(ws.recv(), 5))
    return frames


def test_send_stamp_is_off_by_default() -> None:
    assert SimSettings().ws_send_stamp is False


def test_stamped_appends_one_member_and_keeps_the_rest() -> None:
    frame = b'{"jsonrpc":"2.0","method":"subscription","params":{"channel":"c","data":{"a":1}}}'
    out = stamped(frame, 123)
    assert out == frame[:-1] + b',"sim_sent_ns":123}'
    assert json.loads(out) == {**json.loads(frame), "sim_sent_ns": 123}


async def test_frames_are_unstamped_when_off(simulator: SimHandle) -> None:
    frames = await _raw_frames(simulator, "order_book.BTC-USD-PERP.deltas", 4)
    assert all(isinstance(f, str) and "sim_sent_ns" not in f for f in frames)


async def test_stamped_frames_carry_the_send_time_and_decode_as_before(simulator_factory: SimFactory) -> None:
    sim = await simulator_factory(ws_send_stamp=True)
    before = time.time_ns()
    frames = await _raw_frames(sim, "order_book.BTC-USD-PERP.deltas", 4)
    after = time.time_ns()
    for f in frames:
        assert isinstance(f, str)
        m = STAMP.search(f.encode())
        assert m is not None, f
        assert before <= int(m.group(1)) <= after
        plain = f.encode()[:m.start()] + b"}"
        if '"subscription"' in f:  # the venue's own frame, byte for byte, and it decodes the same
            assert plain.startswith(b'{"jsonrpc":"2.0","method":"subscription","params":{"channel":"')
            a, b = decode_frame(f), decode_frame(plain)
            assert isinstance(a, Push) and a == b
    assert any('"subscription"' in f for f in frames if isinstance(f, str))


async def test_sbe_frames_are_never_stamped(simulator_factory: SimFactory) -> None:
    sim = await simulator_factory(ws_send_stamp=True)
    frames = await _raw_frames(sim, "order_book.BTC-USD-PERP.deltas", 3,
                               query="?sbeSchemaId=1&sbeSchemaVersion=1")
    binary = [f for f in frames if isinstance(f, bytes)]
    assert binary and all(b"sim_sent_ns" not in f for f in binary)


async def test_order_flow_places_and_cancels_resting_orders(simulator: SimHandle) -> None:
    sim = simulator
    async with ws_client(sim, auth=True) as ws:
        await ws.subscribe("orders.ALL")
        code, status = await _control(sim, "PUT", "/order_flow", {"rate": 200, "resting": 3})
        assert code == 200 and status["rate"] == 200
        await asyncio.sleep(0.3)
        code, status = await _control(sim, "PUT", "/order_flow", {"rate": 0, "resting": 3})
        await ws.quiet(0.2)
    assert code == 200 and status["placed"] >= 10 and status["failed"] == 0
    assert status["cancelled"] == status["placed"] - 3 and status["open"] == 3
    by_id: dict[str, list[str]] = {}
    for p in ws.pushes:
        data = p["params"]["data"]
        by_id.setdefault(data["id"], []).append(data["status"])
        assert data["client_id"].startswith("flow-") and data["type"] == "LIMIT"
    assert len(by_id) == status["placed"]
    closed = [s for s in by_id.values() if s == ["NEW", "OPEN", "CLOSED"]]
    assert len(closed) == status["cancelled"]
    assert sum(s == ["NEW", "OPEN"] for s in by_id.values()) == 3
    assert not sim.exchange.list_fills(sim.account)  # resting below the book: never traded


async def test_order_flow_step_and_bad_input(simulator: SimHandle) -> None:
    sim = simulator
    code, status = await _control(sim, "POST", "/order_flow/step", {"orders": 5})
    assert code == 200 and status["placed"] == 5 and status["rate"] == 0
    code, body = await _control(sim, "PUT", "/order_flow", {"rate": 1, "market": "NOPE-USD-PERP"})
    assert code == 400 and "NOPE-USD-PERP" in body["message"]
    code, _ = await _control(sim, "PUT", "/order_flow", {"rate": -1})
    assert code == 400
    code, _ = await _control(sim, "PUT", "/order_flow", {"rate": 1, "bogus": 1})
    assert code == 400
