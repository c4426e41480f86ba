"""Writes that could not reach Redis (an outage between a venue answer and its record): kept in
memory and written when Redis answers again, so no outcome is lost with the outage. Bounded: past
``max_items`` the oldest are dropped with an error line (their truth is still on the stream, and a
rebuild of the index restores it)."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass

from services.commands.core.messages import Answer
from services.commands.store import CommandStore, StoreUnavailable

log = logging.getLogger("commands.backlog")


@dataclass(frozen=True)
class _Finish:
    strategy: str
    done: list[tuple[str, Answer, str]]


@dataclass(frozen=True)
class _Release:
    client_ids: list[str]


class Backlog:
    """Finishes and releases to retry until Redis takes them, in order."""

    def __init__(self, store: CommandStore, max_items: int = 100_000, every_s: float = 0.25) -> None:
        self.store = store
        self.max_items = max_items
        self.every_s = every_s
        self._items: deque[_Finish | _Release] = deque()
        self.written = 0
        self.dropped = 0
        self.stopped = False

    def __len__(self) -> int:
        return len(self._items)

    def finish(self, strategy: str, done: list[tuple[str, Answer, str]]) -> None:
        self._add(_Finish(strategy, done))

    def release(self, client_ids: list[str]) -> None:
        self._add(_Release(client_ids))

    def _add(self, item: _Finish | _Release) -> None:
        if len(self._items) >= self.max_items:
            self._items.popleft()
            self.dropped += 1
            log.error("backlog full (%d): the oldest unstored outcome was dropped", self.max_items)
        self._items.append(item)

    async def flush(self) -> None:
        """Write what is queued, oldest first; stops at the first Redis failure."""
        while self._items:
            item = self._items[0]
            if isinstance(item, _Finish):
                await self.store.finish(item.strategy, item.done)
            else:
                await self.store.release(item.client_ids)
            self._items.popleft()
            self.written += 1

    async def run(self) -> None:
        while not self.stopped:
            await asyncio.sleep(self.every_s)
            if not self._items:
                continue
            try:
                await self.flush()
                log.warning("backlog written to Redis (%d items so far)", self.written)
            except StoreUnavailable:
                continue
