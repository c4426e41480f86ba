"""REST reads of one snapshot part, paced by the client-side token bucket.

Each fetcher yields ``(records, recv_ns)`` per response as it arrives, so the run can publish
records of the pages it got even when a later page fails. Failures propagate as the REST
client's typed errors (retries for 429/5xx/timeouts already happened inside the client);
:class:`~shared.paradex.rest.PageLimitError` when pagination would run away.

With a :class:`~shared.bus.gate.RecordGate`, only records that pass validation are
yielded; the refused ones are dead-lettered, and the part ends with
:class:`~shared.bus.gate.RecordsRefused` after its last page (the run then reports it
incomplete, with the good records already published). A response that does not decode is
dead-lettered before its error propagates.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextvars import ContextVar
from typing import Any

from services.reconciler.ratelimit import TokenBucket
from shared.bus.events import SnapshotPartName
from shared.bus.gate import RecordGate, RecordsRefused
from shared.errors import DecodeError
from shared.paradex.models.rest import Page
from shared.paradex.rest import ParadexRest, iter_pages

Batch = tuple[Sequence[Any], int]
"""Records of one response and the wall-clock ns when it arrived."""

PURPOSE: ContextVar[str] = ContextVar("reconciler_purpose", default="other")
"""What the current task's venue reads are for (full | fast_check | targeted | lookup): counted
per purpose by :class:`Limiter`, so the request budget can be read off ``/metrics``."""


class Limiter:
    """Awaitable front of a :class:`TokenBucket` (monotonic clock, injectable sleep). Every
    private GET of the reconciler takes a token here; ``counts`` tallies them by :data:`PURPOSE`."""

    def __init__(self, bucket: TokenBucket, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 on_acquire: Callable[[str], None] | None = None) -> None:
        self.bucket = bucket
        self._clock = clock
        self._sleep = sleep
        self._on_acquire = on_acquire
        self.waited_s = 0.0
        self.counts: dict[str, int] = {}

    async def acquire(self) -> None:
        """Wait for one token."""
        purpose = PURPOSE.get()
        self.counts[purpose] = self.counts.get(purpose, 0) + 1
        if self._on_acquire is not None:
            self._on_acquire(purpose)
        wait = self.bucket.reserve(self._clock())
        if wait > 0:
            self.waited_s += wait
            await self._sleep(wait)


class PartFetcher:
    """Fetches the parts of a snapshot from ``rest``; see the module docstring."""

    def __init__(self, rest: ParadexRest, limiter: Limiter, *, page_size: int = 500,
                 max_pages: int = 1000, clock_ns: Callable[[], int] = time.time_ns,
                 gate: RecordGate | None = None) -> None:
        self.rest = rest
        self.gate = gate
        self.limiter = limiter
        self.page_size = page_size
        self.max_pages = max_pages
        self._clock_ns = clock_ns
        self.requests = 0

    async def _call(self, make: Callable[[], Awaitable[Any]]) -> tuple[Any, int]:
        await self.limiter.acquire()
        self.requests += 1
        result = await make()
        return result, self._clock_ns()

    async def _single(self, make: Callable[[], Awaitable[Any]]) -> AsyncIterator[Batch]:
        result, recv_ns = await self._call(make)
        yield (result if isinstance(result, list) else [result]), recv_ns

    async def _paged(self, fetch: Callable[[str | None], Awaitable[Page[Any]]], what: str
                     ) -> AsyncIterator[Batch]:
        arrivals: list[int] = []

        async def paced(cursor: str | None) -> Page[Any]:
            page, recv_ns = await self._call(lambda: fetch(cursor))
            arrivals.append(recv_ns)
            assert isinstance(page, Page)
            return page

        async for page in iter_pages(paced, max_pages=self.max_pages, what=what):
            yield page.results, arrivals[-1]

    async def _algo_read(self, make: Callable[[], Awaitable[Any]]) -> Batch:
        token = PURPOSE.set("algos")
        try:
            result, recv_ns = await self._call(make)
        finally:
            PURPOSE.reset(token)
        return (result.results if isinstance(result, Page) else result), recv_ns

    async def open_algos(self) -> Batch:
        """``GET /algo/orders``: the NEW/OPEN TWAP algo orders (counted under purpose ``algos``)."""
        return await self._algo_read(self.rest.open_algo_orders)

    async def algo_history(self, since_ms: int) -> Batch:
        """One page of ``GET /algo/orders-history`` from ``since_ms`` (newest first)."""
        return await self._algo_read(
            lambda: self.rest.algo_orders_history(start_at=since_ms, page_size=self.page_size))

    def part(self, part: SnapshotPartName, since_ms: int) -> AsyncIterator[Batch]:
        """The responses of ``part`` (validated when there is a gate); ``since_ms`` bounds order
        history and fills (``start_at``)."""
        where, batches = self._part(part, since_ms)
        return batches if self.gate is None else self._admitted(self.gate, where, batches)

    async def _admitted(self, gate: RecordGate, where: str, batches: AsyncIterator[Batch]
                        ) -> AsyncIterator[Batch]:
        refused: Counter[str] = Counter()
        try:
            async for records, recv_ns in batches:
                good, dead = gate.admit(records, where, recv_ns)
                if dead:
                    refused.update(d.reason for d in dead)
                    await gate.publish(dead)
                yield good, recv_ns
        except DecodeError as exc:
            await gate.publish([gate.undecodable(exc, where)])
            raise
        if refused:
            raise RecordsRefused(where, refused)

    def _part(self, part: SnapshotPartName, since_ms: int) -> tuple[str, AsyncIterator[Batch]]:
        rest = self.rest
        if part == "open_orders":
            return "GET /orders", self._single(rest.open_orders)
        if part == "positions":
            return "GET /positions", self._single(rest.positions)
        if part == "account":
            return "GET /account", self._single(rest.account)
        if part == "balances":
            return "GET /balance", self._single(rest.balance)
        size = self.page_size
        if part == "order_history":
            where = "GET /orders-history"
            return where, self._paged(
                lambda c: rest.orders_history(start_at=since_ms, cursor=c, page_size=size), where)
        if part == "fills":
            where = "GET /fills"
            return where, self._paged(
                lambda c: rest.fills(start_at=since_ms, cursor=c, page_size=size), where)
        raise ValueError(f"unknown snapshot part {part!r}")
