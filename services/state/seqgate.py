"""Read-your-writes for HTTP reads: wait until the ACCOUNT stream sequence a caller names is applied.

The consumer calls :meth:`SeqGate.advance` after each batch it applied; a request with
``min_seq`` above it parks on a plain future (no task, no polling) kept in a heap by sequence, so an
advance wakes exactly the waiters it satisfies. A waiter that times out or whose client went away
removes itself.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

MAX_WAITERS = 10_000


class SeqGate:
    """The highest ACCOUNT stream sequence consumed, and the requests waiting for a higher one."""

    def __init__(self) -> None:
        self.seq = 0
        self._heap: list[tuple[int, int, asyncio.Future[None]]] = []
        self._ids = itertools.count()

    @property
    def waiting(self) -> int:
        """Requests parked right now."""
        return len(self._heap)

    def advance(self, seq: int) -> None:
        """Every event up to ``seq`` is applied (or dead-lettered): wake the waiters it satisfies."""
        if seq <= self.seq:
            return
        self.seq = seq
        heap = self._heap
        while heap and heap[0][0] <= seq:
            fut = heapq.heappop(heap)[2]
            if not fut.done():
                fut.set_result(None)

    async def wait(self, seq: int, timeout_s: float) -> bool:
        """True once ``seq`` is reached; False after ``timeout_s`` (or when too many already wait)."""
        if self.seq >= seq:
            return True
        if len(self._heap) >= MAX_WAITERS or timeout_s <= 0:
            return False
        entry = (seq, next(self._ids), asyncio.get_running_loop().create_future())
        heapq.heappush(self._heap, entry)
        try:
            async with asyncio.timeout(timeout_s):
                await entry[2]
            return True
        except TimeoutError:
            return self.seq >= seq
        finally:
            fut = entry[2]
            if not fut.done() or fut.cancelled():  # timed out or cancelled: advance did not pop it
                fut.cancel()
                try:
                    self._heap.remove(entry)
                    heapq.heapify(self._heap)
                except ValueError:
                    pass
