"""Client-side token bucket (pure: time is passed in). Keeps our REST reads under the venue's
private-GET limit (PROTOCOL.md 3.10: 600/min per account) even before the venue answers 429."""

from __future__ import annotations


class TokenBucket:
    """``rate_per_s`` tokens per second, at most ``burst`` stored; :meth:`reserve` takes one token
    and says how long the caller must wait for it (0 when one was available)."""

    def __init__(self, rate_per_s: float, burst: int, now_s: float = 0.0) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError(f"rate_per_s must be > 0 and burst >= 1 (got {rate_per_s}, {burst})")
        self.rate = rate_per_s
        self.burst = float(burst)
        self.tokens = float(burst)
        self.updated = now_s

    def reserve(self, now_s: float) -> float:
        """Take a token at ``now_s``; seconds to wait before using it (tokens may go negative:
        later callers queue behind earlier reservations)."""
        if now_s > self.updated:
            self.tokens = min(self.burst, self.tokens + (now_s - self.updated) * self.rate)
            self.updated = now_s
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate
