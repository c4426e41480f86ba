"""What the feed refused (pure): counts by reason, dead letters for the shell to publish, and a
rate-bounded log.

Every refused record or frame is counted under its :data:`~shared.paradex.validate.Reason`,
becomes a :class:`~shared.bus.deadletter.DeadLetter` (raw frame, reason, channel) in
:attr:`Rejects.pending`, which the shell drains after each frame onto ``subjects.FEED_DLQ``, and
is logged through a :class:`~shared.logthrottle.LogThrottle` (a few lines a second, then a
summary line). Dead letters are themselves rate-bounded (``dlq_per_s``, a token bucket on the
receipt clock): a flood of garbage must not evict the DLQ stream's history nor cost a publish
per frame; the refusals beyond it are still counted (:attr:`Rejects.limited`). Refusing one
record never touches the connection or the other records.
"""

from __future__ import annotations

import logging
from collections import Counter

from shared.bus.deadletter import DeadLetter, dead_letter
from shared.logthrottle import LogThrottle
from shared.paradex.validate import Rejection

log = logging.getLogger("feed.rejects")

PENDING_MAX = 1000
"""Dead letters held between two drains (one frame yields at most one; the bound is a guard)."""


class Rejects:
    """Counts, pending dead letters and the throttled log of one feed."""

    def __init__(self, *, log_per_s: int = 5, dlq_per_s: float = 1000.0) -> None:
        self.counts: Counter[str] = Counter()  # by Reason
        self.filtered: Counter[str] = Counter()
        self.pending: list[DeadLetter] = []
        self.dropped = 0  # dead letters beyond PENDING_MAX
        self.limited = 0  # dead letters beyond dlq_per_s
        self.log = LogThrottle(log, per_window=log_per_s)
        self.dlq_per_s = dlq_per_s
        self._tokens = dlq_per_s
        self._refilled_ns = 0

    def refuse(self, rejection: Rejection, raw: bytes, where: str, recv_ns: int, *, binary: bool = False,
               exc_info: BaseException | None = None) -> None:
        """Count, dead-letter and (rate-bounded) log one refused record or frame."""
        reason = rejection.reason
        self.counts[reason] += 1
        if not self._take(recv_ns):
            self.limited += 1
        elif len(self.pending) < PENDING_MAX:
            self.pending.append(dead_letter("feed", "ws", rejection, raw, where=where, recv_ns=recv_ns,
                                            binary=binary))
        else:
            self.dropped += 1
        level = logging.ERROR if reason == "internal_error" else logging.WARNING
        self.log.log(recv_ns / 1e9, level, reason, "refused %s%s: %s%s (%.80r)", reason,
                     f" on {where[:80]}" if where else "", rejection.detail,
                     f" at {rejection.field}" if rejection.field else "", raw[:80], exc_info=exc_info)

    def _take(self, recv_ns: int) -> bool:
        """One dead-letter token (refilled at ``dlq_per_s``, at most one second's worth)."""
        elapsed = (recv_ns - self._refilled_ns) / 1e9
        if elapsed > 0:
            self._tokens = min(self.dlq_per_s, self._tokens + elapsed * self.dlq_per_s)
            self._refilled_ns = recv_ns
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def note(self, recv_ns: int, key: str, msg: str, *args: object) -> None:
        """A rate-bounded warning that is not a refusal (gaps, RPC errors, stray replies)."""
        self.log.log(recv_ns / 1e9, logging.WARNING, key, msg, *args)

    @property
    def total(self) -> int:
        """Records and frames refused so far."""
        return sum(self.counts.values())
