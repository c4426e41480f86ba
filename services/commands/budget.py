"""The venue's order-write budget (PROTOCOL 3.10: 800/s and 17 250/min per account, a batch is one
unit), as cancels and modifies spend it. Places take theirs inside the claim script.

:class:`SharedBudget` keeps the buckets in Redis (``Keys.cmd_budget``, on Redis's clock), shared by
every commands replica. When Redis does not answer, cancels must still go out (a kill switch
during an outage), so it falls back to a :class:`LocalBudget` holding this replica's explicit
share (``rate / COMMANDS_REPLICAS``), which keeps the replicas together within the venue's limit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from services.commands.core.bucket import TokenBucket
from services.commands.store import CommandStore, StoreUnavailable

log = logging.getLogger("commands.budget")


class Budget(Protocol):
    async def take(self, n: int = 1) -> float: ...

    async def refund(self, n: int = 1) -> None: ...


class LocalBudget:
    """A budget held by this process alone."""

    def __init__(self, rate_per_s: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.bucket = TokenBucket(rate_per_s, max(1, int(burst)), clock())

    async def take(self, n: int = 1) -> float:
        return self.bucket.take(self.clock(), n)

    async def refund(self, n: int = 1) -> None:
        self.bucket.refund(n)


class SharedBudget:
    """The Redis buckets every replica shares, this replica's share when Redis is down."""

    def __init__(self, store: CommandStore, fallback: LocalBudget) -> None:
        self.store = store
        self.fallback = fallback
        self.degraded = False

    async def take(self, n: int = 1) -> float:
        try:
            wait = await self.store.take(n)
        except StoreUnavailable as exc:
            if not self.degraded:
                log.warning("venue budget falls back to this replica's share (Redis down): %s", exc)
            self.degraded = True
            return await self.fallback.take(n)
        self.degraded = False
        return wait

    async def refund(self, n: int = 1) -> None:
        try:
            await self.store.release([], units=n)
        except StoreUnavailable:
            await self.fallback.refund(n)
