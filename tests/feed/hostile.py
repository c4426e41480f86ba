"""A hostile WebSocket peer for the feed's tests (not a Paradex stand-in: the simulator is that).

It speaks just enough of the protocol to get the feed subscribed (``auth`` and ``subscribe``
replies, a book snapshot per ``order_book`` subscription) and then sends whatever the test asks:
good frames (:meth:`HostileVenue.good_delta`, :meth:`good_bbo`, :meth:`good_order`) and garbage
(:meth:`send`). It can also refuse the handshake with an HTTP status. Around it:
:class:`Recorder`, a core NATS subscription on ``pdx.>`` that checks everything the feed put on
the bus, and :class:`HealthPoller`, which samples ``/healthz`` all along.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from shared.bus import decode_event, subjects
from shared.bus.deadletter import DeadLetter, check_event, decode_dead_letter
from shared.bus.events import AnyEvent, BboEvent, BookEvent, OrderEvent
from shared.paradex.validate import Scope, is_token
from tests.feed import samples as s

M = s.M
ETH = "ETH-USD-PERP"
MARKETS = (M, ETH)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class HostileVenue:
    """The peer (see the module docstring). ``refuse_status``: answer every handshake with it."""

    def __init__(self, *, refuse_status: int = 0, refuse_body: str = "", auth_error: int = 0) -> None:
        self.refuse_status = refuse_status
        self.refuse_body = refuse_body
        self.auth_error = auth_error  # a JSON-RPC error code for every auth request (40111...)
        self.auths = 0
        self.connections = 0
        self.handshakes = 0
        self.ws: ServerConnection | None = None
        self.seq: dict[str, int] = {}
        self.subscribed: dict[str, bool] = {}
        self.price = 1000
        self.order_seq = 0
        self._server: Any = None
        self.url = ""

    async def __aenter__(self) -> HostileVenue:
        self._server = await serve(self._handler, "127.0.0.1", 0, max_size=None, compression=None,
                                   process_request=self._handshake, max_queue=None)
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/v1"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    def _handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        self.handshakes += 1
        if self.refuse_status:
            return Response(self.refuse_status, "Refused", Headers([("Content-Type", "text/plain")]),
                            self.refuse_body.encode())
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        self.ws = ws
        self.subscribed.clear()
        with contextlib.suppress(Exception):  # the feed hung up: the next connection takes over
            async for raw in ws:
                req = msgspec.json.decode(raw)
                method, rid = req.get("method"), req.get("id")
                channel = (req.get("params") or {}).get("channel", "")
                if method == "auth":
                    self.auths += 1
                    if self.auth_error:
                        await ws.send(msgspec.json.encode({"jsonrpc": "2.0", "id": rid, "error": {
                            "code": self.auth_error, "message": "invalid bearer token"}}).decode())
                        continue
                result = {"node_id": "hostile"} if method == "auth" else {"channel": channel}
                await ws.send(msgspec.json.encode({"jsonrpc": "2.0", "id": rid, "result": result}).decode())
                if method == "subscribe":
                    self.subscribed[channel] = True
                    if channel.startswith("order_book."):
                        await self.snapshot(channel.split(".")[1])

    @property
    def ready(self) -> bool:
        """Every book of the feed got its snapshot on the current connection."""
        return all(self.subscribed.get(f"order_book.{m}.deltas") for m in MARKETS)

    async def send(self, frame: str | bytes) -> None:
        """Send any frame to the connected feed."""
        assert self.ws is not None
        await self.ws.send(frame)

    async def send_many(self, frames: list[str | bytes]) -> None:
        assert self.ws is not None
        for frame in frames:
            await self.ws.send(frame)

    async def snapshot(self, market: str) -> None:
        seq = self.seq[market] = self.seq.get(market, 1000) + 100
        book = s.book(seq, "s", market=market, ts=now_ms() - seq, inserts=(
            s.lv("BUY", "900", "1"), s.lv("BUY", "899", "2"), s.lv("SELL", "1100", "1"),
            s.lv("SELL", "1101", "3")))
        await self.send(s.push(f"order_book.{market}.deltas", book).decode())

    def delta(self, market: str = M, *, step: int = 1) -> bytes:
        """The next delta of ``market`` (``step`` > 1: a gap, < 1: a repeat or an older one)."""
        seq = self.seq[market] = self.seq[market] + step
        self.price = 950 + (self.price - 949) % 40
        book = s.book(seq, market=market, ts=now_ms() - seq, updates=(s.lv("BUY", str(self.price), "0.5"),))
        return s.push(f"order_book.{market}.deltas", book)

    async def good_delta(self, market: str = M) -> int:
        """Send the next in-order delta of ``market``; its seq_no."""
        await self.send(self.delta(market).decode())
        return self.seq[market]

    async def good_bbo(self, market: str = M, seq: int = 1) -> None:
        bbo = msgspec.structs.replace(s.bbo(seq=seq, ts=now_ms()), market=market)
        await self.send(s.push(f"bbo.{market}", bbo).decode())

    def order(self, **fields: Any) -> bytes:
        self.order_seq += 1
        ts = now_ms()
        data: dict[str, Any] = s.to_json(s.order(ts=ts))
        data.update(id=f"o{self.order_seq}", seq_no=ts * 1_000_000 + self.order_seq)
        data.update(fields)
        return s.push("orders.ALL", data)

    async def good_order(self) -> str:
        frame = self.order()
        await self.send(frame.decode())
        return f"o{self.order_seq}"


@dataclass
class Recorder:
    """Everything on ``pdx.>``: bus events and dead letters, each checked as it arrives."""

    scope: Scope
    events: list[tuple[str, AnyEvent, float]] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    _sub: Any = None

    async def start(self, nc: Any) -> Recorder:
        self._sub = await nc.subscribe(f"{subjects.ROOT}.>", cb=self._on_msg)
        return self

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()

    async def _on_msg(self, msg: Any) -> None:
        subject: str = msg.subject
        if not all(is_token(t) for t in subject.split(".")):
            self.invalid.append(f"unsafe subject {subject!r}")
            return
        if subject == subjects.FEED_DLQ:
            try:
                self.dead.append(decode_dead_letter(msg.data))
            except Exception as exc:
                self.invalid.append(f"undecodable dead letter: {exc}")
            return
        if not (subject.startswith("pdx.md.") or subject.startswith("pdx.acct.")):
            return  # heartbeats, requests
        try:
            event = decode_event(msg.data)
        except Exception as exc:
            self.invalid.append(f"undecodable on {subject}: {exc}")
            return
        bad = check_event(event, self.scope)
        if bad is not None:
            self.invalid.append(f"invalid {type(event).__name__} on {subject}: {bad}")
        self.events.append((subject, event, time.monotonic()))

    def of(self, cls: type) -> list[Any]:
        return [e for _, e, _ in self.events if isinstance(e, cls)]

    def book_seqs(self, market: str) -> list[int]:
        return [e.book.seq_no for e in self.of(BookEvent) if e.book.market == market]

    def saw(self, predicate: Callable[[AnyEvent], bool]) -> bool:
        return any(predicate(e) for _, e, _ in self.events)

    def has_order(self, order_id: str) -> bool:
        return self.saw(lambda e: isinstance(e, OrderEvent) and e.order.id == order_id)

    def has_book(self, market: str, seq: int) -> bool:
        return self.saw(lambda e: isinstance(e, BookEvent) and e.book.market == market
                        and e.book.seq_no == seq)

    def has_bbo(self, market: str) -> bool:
        return self.saw(lambda e: isinstance(e, BboEvent) and e.bbo.market == market)


@dataclass
class HealthPoller:
    """Samples ``GET /healthz`` every ``period_s``: ``(monotonic time, status code, body)``."""

    url: str
    period_s: float = 0.05
    samples: list[tuple[float, int, dict[str, Any]]] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def start(self) -> HealthPoller:
        self._task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        async with httpx.AsyncClient() as client:
            while True:
                try:
                    resp = await client.get(self.url, timeout=2.0)
                    self.samples.append((time.monotonic(), resp.status_code, resp.json()))
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(self.period_s)

    def since(self, t0: float) -> list[tuple[float, int, dict[str, Any]]]:
        return [x for x in self.samples if x[0] >= t0]
