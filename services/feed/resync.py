"""Book resync requests: another service asks the feed for fresh book snapshots.

The venue sends a book snapshot (``s``) only right after a subscription, and market data reaches
consumers over core NATS, which keeps nothing: a state service started (or restored) after the
feed subscribed would never see one. It sends a :class:`~shared.bus.requests.BookResyncRequest`
on ``subjects.FEED_BOOK_RESYNC``; for every named market this feed follows, the feed takes the
book-gap path (unsubscribe + subscribe, deltas dropped until the new snapshot), at most once per
``min_interval_s`` per market so that several replicas asking at once cost one resubscription.
Markets the feed does not follow are ignored (logged). A request with a reply subject gets a
:class:`~shared.bus.requests.BookResyncAck`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from services.feed.connection import FeedConnection
from services.feed.metrics import FeedMetrics
from shared.bus import subjects
from shared.bus.requests import BookResyncAck, decode_resync, encode_resync_ack

log = logging.getLogger("feed.resync")


class RateLimiter:
    """At most one pass per key per ``min_interval_s`` (pure; the clock is injected)."""

    def __init__(self, min_interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.min_interval_s = min_interval_s
        self.clock = clock
        self._last: dict[str, float] = {}

    def split(self, keys: Iterable[str]) -> tuple[list[str], list[str]]:
        """``(allowed, limited)`` for ``keys``; the allowed ones are stamped now."""
        now = self.clock()
        allowed: list[str] = []
        limited: list[str] = []
        for key in dict.fromkeys(keys):
            last = self._last.get(key)
            if last is not None and now - last < self.min_interval_s:
                limited.append(key)
            else:
                self._last[key] = now
                allowed.append(key)
        return allowed, limited


class ResyncHandler:
    """Serves ``subjects.FEED_BOOK_RESYNC`` for one feed connection."""

    def __init__(self, nc: Any, connection: FeedConnection, metrics: FeedMetrics, *,
                 min_interval_s: float = 1.0, clock: Callable[[], float] = time.monotonic,
                 on_failure: Callable[[], None] | None = None) -> None:
        self.nc = nc
        self.connection = connection
        self.metrics = metrics
        self.limiter = RateLimiter(min_interval_s, clock)
        self.on_failure = on_failure
        self.failures = 0
        self.last_error = ""
        self._sub: Any = None

    @property
    def subscribed(self) -> bool:
        """True while the resync subscription is in place."""
        return self._sub is not None

    async def start(self) -> None:
        """Subscribe to the resync subject."""
        self._sub = await self.nc.subscribe(subjects.FEED_BOOK_RESYNC, cb=self._on_msg)

    async def stop(self) -> None:
        """Unsubscribe."""
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    async def handle(self, data: bytes) -> BookResyncAck | None:
        """Act on one request payload; the ack, or None when the payload is not a request."""
        count = self.metrics.book_resyncs
        try:
            req = decode_resync(data)
        except Exception as exc:  # msgspec decode/validation error: nothing to act on
            count.labels("bad_request").inc()
            log.warning("bad book resync request: %s (%.120r)", exc, data)
            return None
        followed = set(self.connection.proto.markets)
        unknown = [m for m in dict.fromkeys(req.markets) if m not in followed]
        if unknown:
            count.labels("unknown").inc(len(unknown))
            log.info("book resync (%s) for markets this feed does not follow ignored: %s", req.reason,
                     ", ".join(unknown))
        wanted = [m for m in req.markets if m in followed]
        allowed, limited = self.limiter.split(wanted)
        if limited:
            count.labels("rate_limited").inc(len(limited))
        resubscribed: list[str] = []
        connected = True
        if allowed:
            connected = await self.connection.resubscribe_books(allowed)
            if connected:
                resubscribed = allowed
                count.labels("resubscribed").inc(len(allowed))
                log.info("book resync (%s): resubscribing %s", req.reason, ", ".join(allowed))
            else:  # the next connection subscribes every book afresh: nothing to do now
                count.labels("not_connected").inc(len(allowed))
        return BookResyncAck(resubscribed=tuple(resubscribed), rate_limited=tuple(limited),
                             unknown=tuple(unknown), connected=connected)

    async def _on_msg(self, msg: Any) -> None:
        # NATS runs this callback in its own task, which would swallow an exception: log and
        # count it here; the next request is handled afresh
        try:
            await self._serve(msg)
        except Exception as exc:
            self.failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}"[:300]
            if self.on_failure is not None:
                self.on_failure()
            log.exception("book resync request failed")

    async def _serve(self, msg: Any) -> None:
        ack = await self.handle(msg.data)
        if ack is None or not msg.reply:
            return
        try:
            await self.nc.publish(msg.reply, encode_resync_ack(ack))
        except Exception as exc:  # the requester went away or NATS is down: the work is done anyway
            log.debug("book resync ack not sent: %r", exc)
