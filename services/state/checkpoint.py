"""Checkpoints of the state core in Redis.

``pdx:<account>:checkpoint`` is a hash whose ``seq`` is the last ACCOUNT stream sequence folded
into the checkpoint; ``pdx:<account>:checkpoint:state`` is a list of segments whose
concatenation is :meth:`StateCore.dump` (deterministic JSON). On start the service loads it and
replays the stream from ``seq + 1``. (A hash that still has a ``state`` field, the older
one-value format, is read as well.)

Saving never holds the event loop, nor Redis, for long: the dump is built in steps
(``codec.dump_steps``, ``CHUNK`` entries per step, unchanged records reused from a
:class:`DumpCache`), run back to back for at most ``SLICE_S`` and then leaving the loop to events
for ``PAUSE_S`` (a checkpoint of 15k orders takes ~100-200 ms of wall time but delays no event
by more than ~1 ms); the segments are pushed to a temporary list one by one and the list is
renamed into place together with ``seq`` in one MULTI/EXEC. (One 11 MB value stalled Redis for
~8-10 ms, and with it every account write; ~100 kB pushes stall it well under 1 ms.)
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
    if await redis.hget(key, "seq") is None:
        return None
    parts = await redis.lrange(state_key(key), 0, -1)
    data = b"".join(parts) if parts else await redis.hget(key, "state")
    if not data:
        return None
    try:
        core = StateCore.load(data)
    except Exception as exc:  # a corrupt or old-format checkpoint means a full replay, not a crash
        log.error("checkpoint %s unreadable (%s): replaying the whole stream", key, exc)
        return None
    core.reconfigure(config)
    # Books in a checkpoint are as old as the checkpoint and the market feed is not replayed.
    for book in core.books.values():
        book.invalidate("restored_from_checkpoint")
    return core


def state_key(key: str) -> str:
    """The list holding the dump's segments of the checkpoint hash ``key``."""
    return f"{key}:state"


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
    tmp = f"{state_key(key)}:tmp"
    await redis.delete(tmp)
    for seg in segments:
        if seg:
            await redis.rpush(tmp, seg)
    pipe = redis.pipeline(transaction=True)
    pipe.rename(tmp, state_key(key))
    pipe.hset(key, "seq", seq)
    pipe.hdel(key, "state")
    await pipe.execute()
    return seq
