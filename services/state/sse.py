"""``GET /v1/events``: state changes as Server-Sent Events, resumable with ``Last-Event-ID``.

Frames: ``id: a:<seq>.<i>,m:<epoch>.<n>`` (both streams' positions after the event, see
:mod:`services.state.core.sse`), ``event: <kind>``, ``data: {"stream","kind","key","seq","value"}``.
Comments: ``: connected <id>`` first, ``: keepalive`` every 15 s. Control events: ``reset`` (the
position asked for is no longer buffered: re-read the state, then follow with ``after_seq``),
``overflow`` (this client read too slowly and is cut off: reconnect with its last id).

Where to start: the ``Last-Event-ID`` header (what EventSource sends on reconnect; also
``?last_event_id=`` for clients that cannot set headers), else ``?after_seq=S`` (the ACCOUNT
changes after a state read that answered ``seq`` S: no gap, no duplicate), else from now on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

from fastapi import FastAPI, Header, Query
from fastapi.responses import Response, StreamingResponse

from services.state.core.sse import KINDS, BadEventId, parse_event_id, parse_kinds
from services.state.encode import encode
from shared.trace import stamp_sse

if TYPE_CHECKING:
    from services.state.service import StateService

KEEPALIVE_S = 15.0
RETRY_MS = 1000  # the reconnection delay a browser's EventSource uses
CHUNK = 64 * 1024

NotReached = Callable[[int, int], Awaitable[Response | None]]


def _error(seq: int, error: str, reason: str) -> Response:
    return Response(encode({"seq": seq, "error": error, "reason": reason}), status_code=422,
                    media_type="application/json", headers={"X-Stream-Seq": str(seq)})


async def take_burst(queue: asyncio.Queue[bytes | None], timeout_s: float) -> tuple[list[bytes], bool] | None:
    """Everything already queued, waiting up to ``timeout_s`` for the first frame (None: nothing
    came). ``(frames, ended)``: at most :data:`CHUNK` bytes of frames, then whether the hub ended
    the stream (a ``None`` in the queue). Nothing waits for more: one send per burst instead of one
    per frame when the client is behind, and no delay when it is not.

    ``asyncio.timeout``, not ``wait_for``: on Python 3.11 ``wait_for`` runs the ``get`` in a task
    of its own, and the two extra loop turns before the frame is taken (with the Redis write and
    every other ready task run first) were half of the applied -> sent time in bench.e2e.
    """
    if queue.empty():
        try:
            async with asyncio.timeout(timeout_s):
                item = await queue.get()
        except TimeoutError:
            return None
    else:
        item = queue.get_nowait()
    parts: list[bytes] = []
    size = 0
    while item is not None:
        parts.append(item)
        size += len(item)
        if queue.empty() or size >= CHUNK:
            break
        item = queue.get_nowait()
    return parts, item is None


def add_events_route(app: FastAPI, svc: StateService, not_reached: NotReached) -> None:
    """Register ``GET /v1/events`` on ``app``."""

    @app.get("/v1/events", summary="Server-Sent Events of state changes; resumable (Last-Event-ID)",
             description=__doc__)
    async def events(
        kinds: Annotated[str | None, Query(description=f"comma list, any of {sorted(KINDS)}")] = None,
        after_seq: Annotated[int | None, Query(ge=0, description=(
            "start after this ACCOUNT sequence (the seq of a state read)"))] = None,
        last_event_id: Annotated[str | None, Query(description="same as the Last-Event-ID header")] = None,
        last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
        min_seq: Annotated[int | None, Query(ge=0)] = None,
        min_seq_timeout_ms: Annotated[int, Query(ge=0, le=10_000)] = 1000,
    ) -> Response:
        seq = svc.core.account_seq
        try:
            wanted = parse_kinds(kinds)
        except ValueError as exc:
            return _error(seq, "bad_kinds", str(exc))
        raw_id = last_event_id_header or last_event_id
        try:
            resume = parse_event_id(raw_id) if raw_id else None
        except BadEventId as exc:
            return _error(seq, "bad_last_event_id", str(exc))
        if min_seq is not None and (late := await not_reached(min_seq, min_seq_timeout_ms)):
            return late
        start = svc.hub.subscribe(wanted, resume, after_seq)
        sub = start.subscriber
        tracing = svc.settings.trace  # benchmarks only: traced frames get their send time

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield b"retry: %d\n: connected %s\n\n" % (RETRY_MS, start.cursor.format().encode())
                if start.preamble:
                    yield start.preamble
                buf: list[bytes] = []
                size = 0
                for data in start.replay:
                    buf.append(data)
                    size += len(data)
                    if size >= CHUNK:
                        yield b"".join(buf)
                        buf, size = [], 0
                if buf:
                    yield b"".join(buf)
                queue = sub.queue
                while True:
                    burst = await take_burst(queue, KEEPALIVE_S)
                    if burst is None:
                        yield b": keepalive\n\n"
                        continue
                    parts, ended = burst
                    if parts:
                        if tracing:
                            now = time.time_ns()
                            parts = [stamp_sse(p, now) for p in parts]
                        yield parts[0] if len(parts) == 1 else b"".join(parts)
                    if ended:
                        if sub.overflowed:
                            yield b"event: overflow\ndata: {}\n\n"
                        return
            finally:
                svc.hub.unsubscribe(sub)

        headers = {"X-Stream-Seq": str(seq), "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)
