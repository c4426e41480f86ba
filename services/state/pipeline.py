"""The account write pipeline: Redis writes run behind event application, never in front of it.

The consumer applies a batch to the core (HTTP serves it at once) and hands its encoded changes
here: they go to SSE at once (:meth:`put`), then one writer task writes everything queued so far
in ONE Lua call (batches coalesce while a write is in flight) and acks the last message
(AckPolicy.ALL). So a slow Redis call (e.g. while Redis takes a multi-megabyte checkpoint) delays
Redis and the ack only, not the in-memory state nor SSE; a Redis round trip is no longer a hop of
every SSE frame (``bench.e2e``: ~1.7 ms p50 at 1 000 ev/s). An SSE client may therefore see a
change before Redis has it (HTTP reads always have it: they read the core); Redis readers are
unaffected (``pdx:<account>:seq`` still says what Redis holds, atomically per write). What SSE
sent is never lost to a crash: the fold is deterministic, so a restarted service replays the same
changes with the same ids from its checkpoint (which never passes what Redis holds), and a
client resuming from an id Redis never saw gets exactly what follows it.

A write that fails is retried until Redis takes it, holding the
ack; past ``max_pending`` queued changes the consumer waits (backpressure, no unbounded queue).
One call carries at most ``max_write`` changes (whole batches; a single larger batch goes alone):
a Lua call holds Redis for everyone while it runs, and packing its arguments holds our event loop,
so a writer that fell behind catches up in calls of bounded size, not in one huge one.

``written_seq`` is the highest sequence Redis is known to reflect (written by us, or found there
written by another replica: the writes are sequence-guarded, see ``redis_writer``); it is the
``floor`` of every write. A write that finds Redis below it (or without ``seq``) triggers a full
rewrite (``services.state.rewrite``) and is retried after it; :meth:`probe` makes the writer check
once even when no event arrives (a quiet account would otherwise never notice a wiped Redis).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from services.state.core import StateCore
from services.state.encode import Encoded
from services.state.hub import ChangeHub
from services.state.redis_writer import ABSENT, ALREADY, WAIT, WRITTEN, RedisWriter
from services.state.rewrite import FullRewrite

log = logging.getLogger("state.pipeline")


class WritePipeline:
    """Queues applied batches and writes them to Redis in order, one coalesced call at a time."""

    def __init__(self, writer: RedisWriter, hub: ChangeHub, *, max_pending: int = 20_000,
                 max_write: int = 5000, rewrite: FullRewrite | None = None,
                 core: Callable[[], StateCore] | None = None,
                 on_rewrite: Callable[[int], None] | None = None, trace: bool = False) -> None:
        self.writer = writer
        self.hub = hub
        self.max_pending = max_pending
        self.max_write = max_write
        self.rewrite = rewrite
        self.core = core
        self.on_rewrite = on_rewrite
        self.trace = trace  # unused: SSE frames no longer wait for Redis, so carry no Redis stamp
        self.written_seq = 0
        self.writes = 0
        self.rewrites = 0
        self.waits = 0
        self._probe = False
        self._batches: deque[tuple[list[Encoded], int, Any]] = deque()
        self._pending = 0
        self._seq = 0
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self, written_seq: int) -> None:
        """Start the writer; ``written_seq``: the sequence Redis already reflects."""
        self.written_seq = self._seq = written_seq
        self._task = asyncio.create_task(self._run(), name="state-redis-writer")

    async def put(self, changes: list[Encoded], applied_seq: int, ack_msg: Any) -> None:
        """Push one applied batch to SSE and queue it for Redis (its changes, the sequence after
        it, the message to ack)."""
        if changes:
            self.hub.publish(changes)
        self._batches.append((changes, applied_seq, ack_msg))
        self._pending += len(changes)
        self._seq = applied_seq
        self._wake.set()
        while self._pending > self.max_pending:
            self._progress.clear()
            await self._progress.wait()

    def probe(self) -> None:
        """Have the writer check Redis still reflects ``written_seq`` (rewrite if it does not)."""
        self._probe = True
        self._wake.set()

    async def wait_written(self, seq: int) -> None:
        """Return once Redis reflects ``seq`` (or beyond)."""
        while self.written_seq < seq:
            self._progress.clear()
            await self._progress.wait()

    async def stop(self) -> None:
        """Write what is queued, then stop the writer."""
        if self._task is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.wait_written(self._seq), 10.0)
        # A cancel that lands inside a Redis call can be swallowed there (redis-py turns it into a
        # timeout, which the retry loop catches), leaving the task waiting for work forever:
        # cancel again until it is done (bounded).
        for _ in range(20):
            self._task.cancel()
            done, _ = await asyncio.wait({self._task}, timeout=0.5)
            if done:
                break
            log.warning("redis writer did not stop on cancel; cancelling again")
        with contextlib.suppress(asyncio.CancelledError, Exception):
            if self._task.done():
                await self._task
        self._task = None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._batches:
                if self._probe:
                    self._probe = False
                    self.written_seq = max(self.written_seq, await self._write([], self.written_seq))
                continue
            self._probe = False
            changes, seq, ack = self._take()
            if self._batches:
                self._wake.set()  # more to write after this call
            self.written_seq = max(self.written_seq, await self._write(changes, seq))
            self._pending -= len(changes)
            self.writes += 1
            self._progress.set()
            if ack is not None:
                try:
                    await ack.ack()
                except Exception as exc:  # redelivered later; the core drops what it already has
                    log.warning("ack failed: %r", exc)

    def _take(self) -> tuple[list[Encoded], int, Any]:
        """Whole queued batches, oldest first, up to ``max_write`` changes (at least one batch)."""
        batches = self._batches
        changes, seq, ack = batches.popleft()
        if batches and len(changes) < self.max_write:
            changes = list(changes)
            while batches and len(changes) + len(batches[0][0]) <= self.max_write:
                more, seq, ack = batches.popleft()
                changes.extend(more)
        return changes, seq, ack

    async def _write(self, changes: list[Encoded], seq: int) -> int:
        """Write until Redis reflects ``seq``; returns the sequence it reflects then (>= ``seq``)."""
        delay = 0.05
        waited = False
        while True:
            try:
                code, cur = await self.writer.write_account(changes, seq, self.written_seq)
            except Exception as exc:  # Redis down: hold the batch (unacked) and retry
                log.error("redis write failed, retrying in %.2fs: %r", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            if code == WRITTEN:
                return seq
            if code == ALREADY:  # another replica wrote these changes (or more) already
                return max(seq, cur)
            if code == WAIT:  # a replica is rewriting the account
                if not waited:
                    self.waits += 1
                    log.warning("redis: a full rewrite is in progress; account writes wait for it")
                    waited = True
                await asyncio.sleep(0.1)
                continue
            try:
                await self._recover(code, cur)
            except Exception as exc:  # Redis failed again mid-rewrite: the next attempt starts over
                log.error("redis full rewrite failed, retrying in %.2fs: %r", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _recover(self, code: int, cur: int) -> None:
        """Redis lost data: rewrite every entity (then the caller retries its batch)."""
        reason = "redis_wiped" if code == ABSENT else "redis_lost_writes"
        log.error("redis lost data (%s): %s, but this writer saw it reflect seq %d; rewriting every "
                  "entity", reason, "no pdx:<account>:seq" if code == ABSENT else f"seq is {cur}",
                  self.written_seq)
        if self.rewrite is None or self.core is None:
            raise RuntimeError("redis lost data and no full rewrite is configured")
        now = await self.rewrite.run(self.core(), self.written_seq, reason)
        self.rewrites += 1
        self.written_seq = max(self.written_seq, now)
        if self.on_rewrite is not None:
            self.on_rewrite(now)

