"""Checkpoints of the state core in Redis: ``pdx:<account>:checkpoint`` = hash {seq, state}.

``state`` is :meth:`StateCore.dump` bytes (deterministic JSON); ``seq`` the last ACCOUNT stream
sequence folded into it. On start the service loads it and replays the stream from ``seq + 1``.

Saving never holds the event loop for long: the dump is built in steps (``codec.dump_steps``,
``CHUNK`` entries per step, unchanged records reused from a :class:`DumpCache`), run back to back
for at most ``SLICE_S`` and then leaving the loop to events for ``PAUSE_S`` (so a checkpoint of
15k orders takes ~100-200 ms of wall time but delays no event by more than ~1 ms), and the
HSET is written to Redis segment by segment on a connection of its own, so the multi-megabyte
dump is never joined into one buffer in this process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from services.state.core import StateConfig, StateCore
from services.state.core.codec import DumpCache, dump_steps

log = logging.getLogger("state.checkpoint")

CHUNK = 128  # entries per step: ~0.3 ms when none of them is cached
SLICE_S = 0.0005  # steps run back to back for this long, then the loop gets PAUSE_S to itself
PAUSE_S = 0.002


async def load_checkpoint(redis: Any, key: str, config: StateConfig) -> StateCore | None:
    """The core saved under ``key``, or None when there is none (or it cannot be read)."""
    data = await redis.hget(key, "state")
    if not data:
        return None
    try:
        core = StateCore.load(data)
    except Exception as exc:  # a corrupt or old-format checkpoint means a full replay, not a crash
        log.error("checkpoint %s unreadable (%s): replaying the whole stream", key, exc)
        return None
    core.config = config
    core.max_trades = config.max_trades
    # Books in a checkpoint are as old as the checkpoint and the market feed is not replayed.
    for book in core.books.values():
        book.invalidate("restored_from_checkpoint")
    return core


async def dump_segments(core: StateCore, cache: DumpCache | None = None, chunk: int = CHUNK) -> list[bytes]:
    """The core's dump as of this call, as segments (``b"".join`` = ``core.dump()``), built in steps."""
    steps = dump_steps(core, cache, chunk)
    slice_end = time.perf_counter() + SLICE_S
    while True:
        try:
            next(steps)
        except StopIteration as done:
            segments: list[bytes] = done.value
            return segments
        if time.perf_counter() >= slice_end:
            await asyncio.sleep(PAUSE_S)
            slice_end = time.perf_counter() + SLICE_S


async def save_checkpoint(redis: Any, key: str, core: StateCore, cache: DumpCache | None = None,
                          written: Callable[[int], Awaitable[None]] | None = None) -> int:
    """Write the core's dump (as of this call); returns the account sequence it covers.

    ``written(seq)``, when given, is awaited before the write: it returns once Redis reflects
    ``seq`` (a checkpoint must never cover events whose Redis writes could still be lost).
    """
    seq = core.account_seq
    segments = await dump_segments(core, cache)
    if written is not None:
        await written(seq)
    await _hset_segments(redis, key, seq, segments)
    return seq


def _bulk(b: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(b), b)


async def _hset_segments(redis: Any, key: str, seq: int, segments: list[bytes]) -> None:
    """``HSET key seq <seq> state <b"".join(segments)>`` without joining: RESP written piece by piece.

    Redis executes the command once the whole value has arrived, so it stays atomic.
    """
    total = sum(len(s) for s in segments)
    head = (b"*6\r\n" + _bulk(b"HSET") + _bulk(key.encode()) + _bulk(b"seq") + _bulk(b"%d" % seq)
            + _bulk(b"state") + b"$%d\r\n" % total)
    pool = redis.connection_pool
    conn = await pool.get_connection()
    ok = False
    try:
        await conn.send_packed_command([head])
        for seg in segments:
            await conn.send_packed_command([seg], check_health=False)
        await conn.send_packed_command([b"\r\n"], check_health=False)
        await conn.read_response()  # raises the server's error, if any
        ok = True
    finally:
        if not ok:  # a half-written command would corrupt the connection's protocol state
            await conn.disconnect()
        await pool.release(conn)
