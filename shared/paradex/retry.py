"""Capped exponential backoff with full jitter (pure: no sleeping, no clock, injectable rng).

Used by the REST client for safe (GET) retries and by the feed and the reconciler for reconnects.

* :class:`BackoffPolicy` is the immutable rule: the ceiling of attempt ``n`` (0-based) is
  ``min(max_s, initial_s * factor**n)`` and the delay is uniformly drawn from ``[0, ceiling]``
  ("full jitter": clients that failed together do not retry together).
* :class:`Backoff` is the running state of one retry/reconnect loop: it counts consecutive
  failures and forgets them once the connection has stayed up for ``stable_after_s``, so a link
  that drops once a day does not wait as long as one that flaps.

Example (a reconnect loop)::

    backoff = Backoff(BackoffPolicy(initial_s=0.1, max_s=10.0))
    while True:
        try:
            ws = await connect()
            backoff.mark_up(time.monotonic())
            await serve(ws)
        except TransportError:
            await asyncio.sleep(backoff.next_delay(time.monotonic()))
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from shared.errors import ConfigError

Rng = Callable[[], float]
"""Returns a float in ``[0, 1)``; ``random.random`` by default, a constant in tests."""


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """Capped exponential backoff with full jitter.

    ``initial_s``: ceiling of the first retry; ``factor``: growth per attempt; ``max_s``: cap of the
    ceiling; ``stable_after_s``: how long a connection must stay up before the failure count is
    forgotten (used by :class:`Backoff`).
    """

    initial_s: float = 0.1
    factor: float = 2.0
    max_s: float = 10.0
    stable_after_s: float = 30.0

    def __post_init__(self) -> None:
        if not self.initial_s > 0:
            raise ConfigError("backoff.initial_s", f"must be > 0, got {self.initial_s}")
        if not self.factor >= 1:
            raise ConfigError("backoff.factor", f"must be >= 1, got {self.factor}")
        if not self.max_s >= self.initial_s:
            raise ConfigError("backoff.max_s", f"must be >= initial_s ({self.initial_s}), got {self.max_s}")
        if not self.stable_after_s >= 0:
            raise ConfigError("backoff.stable_after_s", f"must be >= 0, got {self.stable_after_s}")

    def ceiling(self, attempt: int) -> float:
        """The largest delay before retry number ``attempt`` (0-based): capped exponential."""
        if attempt < 0:
            raise ValueError(f"attempt must be >= 0, got {attempt}")
        try:
            ceiling = self.initial_s * self.factor**attempt
        except OverflowError:  # float power of a long-failing loop's attempt count
            return self.max_s
        return min(ceiling, self.max_s)

    def delay(self, attempt: int, rng: Rng = random.random) -> float:
        """A full-jitter delay for retry number ``attempt``: uniform in ``[0, ceiling(attempt)]``."""
        u = rng()
        if not 0.0 <= u <= 1.0:
            raise ValueError(f"rng must return a value in [0, 1], got {u}")
        return u * self.ceiling(attempt)


class Backoff:
    """Failure counter of one retry/reconnect loop over a :class:`BackoffPolicy` (times injected).

    Call :meth:`mark_up` when a connection (or request stream) is established and
    :meth:`next_delay` after each failure; the failure count resets when the failure comes at
    least ``stable_after_s`` after the last :meth:`mark_up`.
    """

    __slots__ = ("_rng", "_up_since", "attempts", "policy")

    def __init__(self, policy: BackoffPolicy | None = None, rng: Rng = random.random) -> None:
        self.policy = policy or BackoffPolicy()
        self._rng = rng
        self._up_since: float | None = None
        self.attempts = 0  # consecutive failures counted so far

    def mark_up(self, now: float) -> None:
        """Record that the connection came up at ``now`` (monotonic seconds)."""
        self._up_since = now

    def next_delay(self, now: float) -> float:
        """Record a failure at ``now`` and return how long to wait before trying again."""
        if self._up_since is not None and now - self._up_since >= self.policy.stable_after_s:
            self.attempts = 0
        self._up_since = None
        delay = self.policy.delay(self.attempts, self._rng)
        self.attempts += 1
        return delay

    def reset(self) -> None:
        """Forget every failure (e.g. after a deliberate reconnect)."""
        self.attempts = 0
        self._up_since = None
