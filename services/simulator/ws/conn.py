"""One WebSocket client of the simulator: its subscriptions and its bounded outbound queue.

Frames are queued by the hub (already encoded, shared between subscribers) and written by one
writer task per connection, so a slow client never slows the fan-out. A client with more than
``bound`` frames waiting is disconnected (close 1008 "slow consumer"), as the venue disconnects
consumers with 2000+ unprocessed messages. An optional per-frame delivery time implements
injected latency without reordering.

Send stamps (``SIM_WS_SEND_STAMP``, off by default; for latency benchmarks): every JSON frame
gets one more top-level member, ``"sim_sent_ns"``, the wall clock (``time.time_ns()``) when the
writer hands it to the socket, appended after the venue's own members (the frame's prefix and
its ``params`` are byte-for-byte the venue's). Off, frames are exactly the venue's. SBE (binary)
frames are never stamped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections import deque

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

log = logging.getLogger(__name__)

SLOW_CONSUMER = 1008
MAX_BATCH = 256
STAMP_KEY = b"sim_sent_ns"


def stamped(frame: bytes, sent_ns: int) -> bytes:
    """``frame`` (a JSON object) with ``"sim_sent_ns": sent_ns`` appended as its last member."""
    return b'%s,"sim_sent_ns":%d}' % (frame[:-1], sent_ns)


class Conn:
    """Per-connection state. ``sbe_version`` is set when the client negotiated SBE."""

    def __init__(self, ws: ServerConnection, conn_id: int, bound: int, sbe_version: int | None,
                 *, stamp: bool = False) -> None:
        self.ws = ws
        self.stamp = stamp
        self.id = conn_id
        self.bound = bound
        self.sbe_version = sbe_version
        self.account = ""
        self.subscriptions: set[str] = set()
        self.closed = False
        self.pushed = 0
        #: SBE frames dropped because they could not be encoded, and the channels told so.
        self.sbe_dropped = 0
        self.encode_failed: set[str] = set()
        #: Cancel on disconnect (armed with order.cancel_on_disconnect) and the orders placed here.
        self.cancel_on_disconnect = False
        self.placed: set[str] = set()
        #: Scoped markets_summary subscriptions: channel -> the markets it is filtered to.
        self.summary_filters: dict[str, set[str]] = {}
        self._queue: deque[tuple[float, bytes, bool]] = deque()
        self._wake = asyncio.Event()
        self._last_at = 0.0
        self._loop = asyncio.get_running_loop()

    @property
    def queued(self) -> int:
        return len(self._queue)

    def send(self, frame: bytes, binary: bool = False, delay_s: float = 0.0) -> None:
        """Queue one frame (text unless ``binary``); disconnect the client if over the bound."""
        if self.closed:
            return
        if len(self._queue) >= self.bound:
            self.drop("slow consumer", SLOW_CONSUMER)
            return
        at = 0.0
        if delay_s > 0 or self._last_at:
            at = max(self._loop.time() + delay_s, self._last_at)
            self._last_at = at
        self._queue.append((at, frame, binary))
        self._wake.set()

    def drop(self, reason: str, code: int = 1001) -> None:
        """Close the connection (from the server side) and forget queued frames."""
        if self.closed:
            return
        self.closed = True
        self._queue.clear()
        self._wake.set()
        log.info("closing websocket client", extra={"conn": self.id, "reason": reason})
        self._loop.create_task(self._close(code, reason))

    def abort(self) -> None:
        """Cut the TCP connection without a close frame (a network failure as the client sees it)."""
        self.closed = True
        self._queue.clear()
        self._wake.set()
        log.info("aborting websocket client", extra={"conn": self.id})
        transport = self.ws.transport
        if transport is not None:
            transport.abort()

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close(code, reason)

    async def writer(self) -> None:
        """Write queued frames in order until the connection closes.

        Frames already due are written as one batch: one ``transport.write`` (one syscall) for
        many frames, which matters once TCP_NODELAY sends every write as its own segment.
        """
        queue, loop = self._queue, self._loop
        try:
            while not self.closed:
                await self._wake.wait()
                self._wake.clear()
                while queue and not self.closed:
                    at = queue[0][0]
                    if at:
                        delay = at - loop.time()
                        if delay > 0:
                            await asyncio.sleep(delay)
                    batch: list[tuple[float, bytes, bool]] = []
                    now = loop.time()
                    while queue and len(batch) < MAX_BATCH and queue[0][0] <= now:
                        batch.append(queue.popleft())
                    if not queue:
                        self._last_at = 0.0
                    await self._write(batch)
                    self.pushed += len(batch)
        except ConnectionClosed:
            self.closed = True

    async def _write(self, batch: list[tuple[float, bytes, bool]]) -> None:
        ws = self.ws
        protocol = ws.protocol
        async with ws.send_context():
            sent_ns = time.time_ns() if self.stamp else 0
            if protocol.extensions or protocol.expect_continuation_frame or protocol.state is not State.OPEN:
                for _, frame, binary in batch:  # compression or another state: websockets frames it
                    if binary:
                        protocol.send_binary(frame)
                    elif sent_ns and frame.endswith(b"}"):
                        protocol.send_text(stamped(frame, sent_ns))
                    else:
                        protocol.send_text(frame)
                chunks = protocol.data_to_send()
            else:
                # The frames as websockets' Frame.serialize writes them for a server without
                # extensions (FIN, no mask), built here: ~3 us a frame less. Anything websockets
                # queued first (a pong, say) goes first.
                chunks = protocol.data_to_send()
                for _, frame, binary in batch:
                    if sent_ns and not binary and frame.endswith(b"}"):
                        frame = stamped(frame, sent_ns)
                    chunks.append(_header(frame, binary))
                    chunks.append(frame)
            if all(chunks):
                ws.transport.write(b"".join(chunks))
            else:  # an end-of-stream marker: let websockets handle it
                protocol.writes[:0] = chunks


def _header(payload: bytes, binary: bool) -> bytes:
    """A final unmasked text (or binary) frame header for ``payload`` (RFC 6455 5.2)."""
    head1 = 0x82 if binary else 0x81
    length = len(payload)
    if length < 126:
        return bytes((head1, length))
    if length < 65536:
        return _HEAD16.pack(head1, 126, length)
    return _HEAD64.pack(head1, 127, length)


_HEAD16 = struct.Struct("!BBH")
_HEAD64 = struct.Struct("!BBQ")
