"""Token buckets with continuous refill, as the venue documents (PROTOCOL.md 3.10). Pure: time is
passed in (seconds, monotonic).

A *scope* (public, auth, orders, private GET...) has one or two buckets (per second and per minute)
per key (client IP or account); a request passes only if every bucket of its scope has a token.
Headers: ``x-ratelimit-limit`` = capacity of the tightest bucket, ``x-ratelimit-remaining`` =
whole tokens left in it, ``x-ratelimit-reset`` = Unix ms when it will be full again,
``x-ratelimit-window`` = its window in ms (the venue does not document the units; ours are ms).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limit:
    """``capacity`` requests per ``window_s`` seconds, refilled continuously."""

    capacity: int
    window_s: float

    @property
    def rate(self) -> float:
        return self.capacity / self.window_s


class Bucket:
    """One token bucket; starts full."""

    __slots__ = ("limit", "tokens", "updated")

    def __init__(self, limit: Limit, now: float) -> None:
        self.limit = limit
        self.tokens = float(limit.capacity)
        self.updated = now

    def refill(self, now: float) -> None:
        elapsed = now - self.updated
        if elapsed > 0:
            self.tokens = min(float(self.limit.capacity), self.tokens + elapsed * self.limit.rate)
            self.updated = now

    def seconds_to_full(self) -> float:
        return (self.limit.capacity - self.tokens) / self.limit.rate


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether the request may pass, and the headers describing the tightest bucket."""

    allowed: bool
    headers: dict[str, str]
    retry_after_s: float = 0.0


class RateLimiter:
    """Buckets per (scope, key). ``limits`` maps a scope to its limits (empty = unlimited)."""

    def __init__(self, limits: dict[str, tuple[Limit, ...]]) -> None:
        self.limits = {scope: tuple(x for x in lims if x.capacity > 0) for scope, lims in limits.items()}
        self._buckets: dict[tuple[str, str], list[Bucket]] = {}

    def set_limits(self, scope: str, limits: tuple[Limit, ...]) -> None:
        """Replace a scope's limits (buckets start full again)."""
        self.limits[scope] = tuple(lim for lim in limits if lim.capacity > 0)
        for key in [k for k in self._buckets if k[0] == scope]:
            del self._buckets[key]

    def check(self, scope: str, key: str, now: float, wall_ms: int, cost: int = 1) -> Decision:
        """Take ``cost`` tokens from every bucket of ``scope`` for ``key`` if all have them."""
        limits = self.limits.get(scope)
        if not limits:
            return Decision(True, {})
        buckets = self._buckets.get((scope, key))
        if buckets is None:
            buckets = self._buckets[(scope, key)] = [Bucket(lim, now) for lim in limits]
        for b in buckets:
            b.refill(now)
        allowed = all(b.tokens >= cost for b in buckets)
        if allowed:
            for b in buckets:
                b.tokens -= cost
        tight = min(buckets, key=lambda b: b.tokens / b.limit.capacity)
        retry = 0.0 if allowed else max((cost - b.tokens) / b.limit.rate for b in buckets)
        headers = {
            "x-ratelimit-limit": str(tight.limit.capacity),
            "x-ratelimit-remaining": str(max(0, math.floor(tight.tokens))),
            "x-ratelimit-reset": str(wall_ms + math.ceil(tight.seconds_to_full() * 1000)),
            "x-ratelimit-window": str(round(tight.limit.window_s * 1000)),
        }
        return Decision(allowed, headers, retry)
