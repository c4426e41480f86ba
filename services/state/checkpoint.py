"""Checkpoints of the state core in Redis, one per replica.

``pdx:<account>:ckpt:<replica>`` is a hash whose ``seq`` is the last ACCOUNT stream sequence
folded into the checkpoint and ``covered`` the stream sequence up to which every event of the
account is in it (at least ``seq``; more when the account had nothing pending at a later stream
position); ``<key>:state`` is a list of segments whose concatenation is :meth:`StateCore.dump`
(deterministic JSON). ``pdx:<account>:ckpts`` maps each replica to its checkpoint's ``seq``.

On start a replica loads its own checkpoint, else the newest one of another replica (the fold is
deterministic, so any replica's checkpoint is a valid start; a new replica then never needs the
whole stream, which may be gone), else the single-replica ``pdx:<account>:checkpoint`` of older
versions, and replays the stream from ``seq + 1``. (A hash that still has a ``state`` field, the
oldest one-value format, is read as well.)

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
from typing import Any, NamedTuple

from services.state.core import StateConfig, StateCore
from services.state.core.codec import DumpCache, dump_steps
from shared.rediskeys import Keys

log = logging.getLogger("state.checkpoint")

CHUNK = 128  # entries per step: ~0.3 ms when none of them is cached
SLICE_S = 0.0005  # steps run back to back for this long, then the loop gets PAUSE_S to itself
PAUSE_S = 0.002


class Loaded(NamedTuple):
    """A checkpoint found on start: the core, where it came from, and its ``covered`` sequence."""

    core: StateCore
    key: str
    covered: int


async def load_for_replica(redis: Any, keys: Keys, replica: str, config: StateConfig) -> Loaded | None:
    """This replica's checkpoint, else the newest other replica's, else the legacy one (or None)."""
    own = keys.checkpoint_of(replica)
    candidates = [own]
    try:
        index = await redis.hgetall(keys.checkpoints)
    except Exception as exc:  # a wrong type there must not stop the start
        log.error("checkpoint index %s unreadable: %r", keys.checkpoints, exc)
        index = {}
    others = sorted(((int(v), _text(r)) for r, v in index.items() if _text(r) != replica and
                     _text(v).isdigit()), reverse=True)
    candidates += [keys.checkpoint_of(r) for _, r in others]
    candidates.append(keys.checkpoint)
    for key in candidates:
        core = await load_checkpoint(redis, key, config)
        if core is not None:
            raw = await redis.hget(key, "covered")
            covered = max(core.account_seq, int(raw) if raw is not None else 0)
            if key != own:
                log.warning("no checkpoint of replica %s: starting from %s (seq %d)", replica, key,
                            core.account_seq)
            return Loaded(core, key, covered)
    return None


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


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
                          written: Callable[[int], Awaitable[None]] | None = None, *,
                          covered: int = 0, index: tuple[str, str] | None = None) -> int:
    """Write the core's dump (as of this call); returns the account sequence it covers.

    ``written(seq)``, when given, is awaited before the write: it returns once Redis reflects
    ``seq`` (a checkpoint must never cover events whose Redis writes could still be lost).
    ``covered``: a stream sequence up to which the account had nothing left to apply when this
    was called (stored as ``max(seq, covered)``). ``index``: (hash, field) set to ``seq``.
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
    pipe.hset(key, mapping={"seq": seq, "covered": max(seq, covered)})
    pipe.hdel(key, "state")
    if index is not None:
        pipe.hset(index[0], index[1], seq)
    await pipe.execute()
    return seq
