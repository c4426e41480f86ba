"""The account write pipeline: Redis writes run behind event application, never in front of it.

The consumer applies a batch to the core (HTTP serves it at once) and hands its encoded changes
here; one writer task writes everything queued so far in ONE Lua call (batches coalesce while a
write is in flight), then acks the last message (AckPolicy.ALL) and pushes the changes to SSE.
So a slow Redis call (e.g. while Redis takes a multi-megabyte checkpoint) delays Redis and SSE
only, not the in-memory state. A write that fails is retried until Redis takes it, holding the
ack; past ``max_pending`` queued changes the consumer waits (backpressure, no unbounded queue).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from services.state.encode import Encoded
from services.state.hub import ChangeHub
from services.state.redis_writer import RedisWriter

log = logging.getLogger("state.pipeline")


class WritePipeline:
    """Queues applied batches and writes them to Redis in order, one coalesced call at a time."""

    def __init__(self, writer: RedisWriter, hub: ChangeHub, *, max_pending: int = 50_000) -> None:
        self.writer = writer
        self.hub = hub
        self.max_pending = max_pending
        self.written_seq = 0
        self.writes = 0
        self._changes: list[Encoded] = []
        self._seq = 0
        self._ack: Any = None
        self._queued = False
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self, written_seq: int) -> None:
        """Start the writer; ``written_seq``: the sequence Redis already reflects."""
        self.written_seq = self._seq = written_seq
        self._task = asyncio.create_task(self._run(), name="state-redis-writer")

    async def put(self, changes: list[Encoded], applied_seq: int, ack_msg: Any) -> None:
        """Queue one applied batch (its changes, the sequence after it, the message to ack)."""
        self._changes.extend(changes)
        self._seq = applied_seq
        self._ack = ack_msg
        self._queued = True
        self._wake.set()
        while len(self._changes) > self.max_pending:
            self._progress.clear()
            await self._progress.wait()

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
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        self._task = None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._queued:
                continue
            changes, seq, ack = self._changes, self._seq, self._ack
            self._changes, self._ack, self._queued = [], None, False
            await self._write(changes, seq)
            self.written_seq = seq
            self.writes += 1
            self._progress.set()
            if ack is not None:
                try:
                    await ack.ack()
                except Exception as exc:  # redelivered later; the core drops what it already has
                    log.warning("ack failed: %r", exc)
            if changes:
                self.hub.publish(changes)

    async def _write(self, changes: list[Encoded], seq: int) -> None:
        delay = 0.05
        while True:
            try:
                await self.writer.write_account(changes, seq)
                return
            except Exception as exc:  # Redis down: hold the batch (unacked) and retry
                log.error("redis write failed, retrying in %.2fs: %r", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
