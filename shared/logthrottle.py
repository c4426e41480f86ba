"""Rate-bounded logging for floods of similar lines (pure: the caller passes the time).

A hostile or broken peer can send tens of thousands of bad frames a second; logging each would
bury every other line (and cost more than the frames). :class:`LogThrottle` lets at most
``per_window`` lines through per ``window_s``; the rest are counted by a key from a fixed set
(a rejection reason, say) and reported as one summary line when the window ends: on the next
line, or on :meth:`flush`, which a periodic task calls so that the summary of a flood that
stopped still appears.

Example::

    throttle = LogThrottle(log)
    throttle.log(now_s, logging.WARNING, "bad_json", "refused frame: %s", detail)
    ...
    throttle.flush(now_s)  # e.g. once a second
    # -> "49995 similar lines suppressed in the last 1.0 s (bad_json 49995)"
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any


class LogThrottle:
    """At most ``per_window`` lines per ``window_s`` seconds through ``logger``, then a summary."""

    def __init__(self, logger: logging.Logger, *, per_window: int = 5, window_s: float = 1.0) -> None:
        self.logger = logger
        self.per_window = per_window
        self.window_s = window_s
        self.suppressed: Counter[str] = Counter()
        self.suppressed_total = 0
        self._start = float("-inf")
        self._lines = 0

    def log(self, now_s: float, level: int, key: str, msg: str, *args: Any, exc_info: Any = None) -> bool:
        """Log ``msg % args`` unless this window's quota is used; True when it was logged."""
        if now_s - self._start >= self.window_s:
            self._summary(now_s)
            self._start = now_s
            self._lines = 0
        if self._lines < self.per_window:
            self._lines += 1
            self.logger.log(level, msg, *args, exc_info=exc_info)
            return True
        self.suppressed[key] += 1
        self.suppressed_total += 1
        return False

    def flush(self, now_s: float) -> None:
        """Write the summary of a finished window that suppressed lines."""
        if self.suppressed and now_s - self._start >= self.window_s:
            self._summary(now_s)
            self._start = now_s
            self._lines = 0

    def _summary(self, now_s: float) -> None:
        if not self.suppressed:
            return
        total = sum(self.suppressed.values())
        by_key = ", ".join(f"{k} {n}" for k, n in self.suppressed.most_common())
        span = now_s - self._start
        self.logger.warning("%d similar lines suppressed in the last %.1f s (%s)", total, span, by_key)
        self.suppressed.clear()
