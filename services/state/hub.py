"""Fan-out of change notifications to Server-Sent-Events clients (bounded queue per client)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from services.state.encode import Encoded


class Subscriber:
    """One SSE client: a bounded queue and an optional kinds filter."""

    def __init__(self, kinds: frozenset[str] | None, maxsize: int) -> None:
        self.kinds = kinds
        self.queue: asyncio.Queue[Encoded | None] = asyncio.Queue(maxsize)
        self.overflowed = False


class ChangeHub:
    """Publishes encoded changes to every subscriber; a client that falls behind is cut off."""

    def __init__(self, maxsize: int = 10_000) -> None:
        self.maxsize = maxsize
        self.subscribers: set[Subscriber] = set()
        self.dropped_clients = 0

    def subscribe(self, kinds: frozenset[str] | None = None) -> Subscriber:
        sub = Subscriber(kinds, self.maxsize)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def publish(self, changes: Iterable[Encoded]) -> None:
        """Queue ``changes`` for every subscriber interested in their kind."""
        if not self.subscribers:
            return
        items = list(changes)
        for sub in list(self.subscribers):
            kinds = sub.kinds
            for c in items:
                if kinds is not None and c.kind not in kinds:
                    continue
                try:
                    sub.queue.put_nowait(c)
                except asyncio.QueueFull:
                    self._cut(sub)
                    break

    def close(self) -> None:
        """End every stream (shutdown)."""
        for sub in list(self.subscribers):
            self._cut(sub, overflow=False)

    def _cut(self, sub: Subscriber, overflow: bool = True) -> None:
        self.subscribers.discard(sub)
        sub.overflowed = overflow
        if overflow:
            self.dropped_clients += 1
        while True:
            try:
                sub.queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                sub.queue.get_nowait()
