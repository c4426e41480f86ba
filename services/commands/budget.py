"""The venue's order-write budget (PROTOCOL 3.10: 800/s and 17 250/min per account, batch = 1).

:class:`LocalBudget` keeps it in this process: the bucket of ``core.bucket`` on the monotonic
clock. ``take(n)`` returns 0.0 when ``n`` units were taken, else the seconds to wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from services.commands.core.bucket import TokenBucket


class Budget(Protocol):
    async def take(self, n: float = 1.0) -> float: ...

    async def refund(self, n: float = 1.0) -> None: ...


class LocalBudget:
    """The budget of one process (replicas each have their own: see ``SharedBudget``)."""

    def __init__(self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.bucket = TokenBucket(rate_per_s, burst, clock())

    async def take(self, n: float = 1.0) -> float:
        return self.bucket.take(self.clock(), n)

    async def refund(self, n: float = 1.0) -> None:
        self.bucket.refund(n)
