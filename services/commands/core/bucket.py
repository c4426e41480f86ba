"""Client-side token bucket with continuous refill (pure: time is passed in)."""

from __future__ import annotations


class TokenBucket:
    """``rate`` tokens per second up to ``burst``; :meth:`take` returns 0.0 when a token was taken,
    else the seconds until one will be available (the Retry-After)."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.at = now

    def _refill(self, now: float) -> None:
        if now > self.at:
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
            self.at = now

    def take(self, now: float, n: float = 1.0) -> float:
        """Take ``n`` tokens if available (returns 0.0), else return the wait in seconds."""
        self._refill(now)
        if self.tokens >= n:
            self.tokens -= n
            return 0.0
        return (n - self.tokens) / self.rate

    def refund(self, n: float = 1.0) -> None:
        """Give back tokens taken for a request that was not sent after all."""
        self.tokens = min(self.burst, self.tokens + n)
