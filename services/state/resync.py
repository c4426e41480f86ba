"""Asks the feed for fresh book snapshots (``subjects.FEED_BOOK_RESYNC``).

Market data arrives over core NATS, which keeps nothing, and the venue sends a book snapshot
only right after a subscription: a state that starts, restarts or restores a checkpoint after
the feed subscribed would otherwise keep every book ``valid: false``. So the shell sends a
:class:`~shared.bus.requests.BookResyncRequest` for every configured market on start, and again
for any configured market whose book stayed invalid (or absent) for ``after_s`` (a gap the feed
missed, a lost request, a feed that was down). Each market is asked for at most once per
``min_interval_s``; the feed rate-limits on its side too. Fire and forget: the next check retries.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from shared.bus.requests import BookResyncRequest, encode_resync
from shared.bus.subjects import FEED_BOOK_RESYNC

log = logging.getLogger("state.resync")


class HasValid(Protocol):
    """What the resyncer reads of a book."""

    valid: bool


class BookResyncer:
    """Decides when to ask for a book resync and publishes the requests."""

    def __init__(self, nc: Any, markets: Iterable[str], *, after_s: float = 2.0, min_interval_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.nc = nc
        self.markets = tuple(dict.fromkeys(markets))
        self.after_s = after_s
        self.min_interval_s = min_interval_s
        self.clock = clock
        self._invalid_since: dict[str, float] = {}
        self._last_sent: dict[str, float] = {}
        self.sent = 0  # markets named in requests that went out
        self.limited = 0
        self.failed = 0

    def due(self, books: Mapping[str, HasValid]) -> list[str]:
        """Configured markets whose book has been invalid or absent for ``after_s`` (pure but for
        the clock); a valid book resets its market's timer."""
        now = self.clock()
        out: list[str] = []
        for market in self.markets:
            book = books.get(market)
            if book is not None and book.valid:
                self._invalid_since.pop(market, None)
                continue
            since = self._invalid_since.setdefault(market, now)
            if now - since >= self.after_s:
                out.append(market)
        return out

    async def check(self, books: Mapping[str, HasValid]) -> list[str]:
        """Ask for the markets :meth:`due` names; the markets requested."""
        due = self.due(books)
        return await self.request(due, "book_invalid") if due else []

    async def request(self, markets: Iterable[str], reason: str) -> list[str]:
        """Publish one request for ``markets`` not asked for within ``min_interval_s``; the markets
        requested (empty when all were rate-limited or NATS refused the publish)."""
        now = self.clock()
        wanted: list[str] = []
        for market in dict.fromkeys(markets):
            last = self._last_sent.get(market)
            if last is not None and now - last < self.min_interval_s:
                self.limited += 1
            else:
                wanted.append(market)
        if not wanted:
            return []
        try:
            await self.nc.publish(FEED_BOOK_RESYNC,
                                  encode_resync(BookResyncRequest(markets=tuple(wanted), reason=reason)))
        except Exception as exc:  # NATS down: the periodic check asks again
            self.failed += 1
            log.warning("book resync request (%s) not sent: %r", reason, exc)
            return []
        for market in wanted:
            self._last_sent[market] = now
        self.sent += len(wanted)
        log.info("book resync requested (%s): %s", reason, ", ".join(wanted))
        return wanted
