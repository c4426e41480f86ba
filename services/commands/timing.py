"""Per-request timing: when an HTTP request arrived and how long its order took to leave.

:class:`services.commands.api.ArrivalStamp` puts a fresh :class:`Timing` in :data:`TIMING` for every
HTTP request; the venue-request hooks (REST ``on_request``, WS ``on_send``) fill in ``hub_s``
(arrival to the first venue request leaving: validation, idempotency claim, intent ack, signing)
and the place pipeline ``venue_s`` (that request to its outcome classified). The order routes
answer them as a ``Server-Timing`` header (``hub;dur=0.812, venue;dur=1.105``, milliseconds), so
a strategy, or ``bench.commands`` from its own process, sees the hub's share of each order. Tasks
spawned for the request copy the context, so they fill the same object."""

from __future__ import annotations

import time
from contextvars import ContextVar


class Timing:
    __slots__ = ("arrival", "hub_s", "venue_s")

    def __init__(self, arrival: float) -> None:
        self.arrival = arrival  # time.perf_counter() at arrival
        self.hub_s: float | None = None
        self.venue_s: float | None = None

    def left(self) -> float | None:
        """Called as the first venue request leaves: the hub's share (s), or None if one left already."""
        if self.hub_s is not None:
            return None
        self.hub_s = time.perf_counter() - self.arrival
        return self.hub_s

    def header(self) -> str | None:
        """The ``Server-Timing`` value, or None when no venue request left (e.g. 4xx, replays)."""
        if self.hub_s is None:
            return None
        out = f"hub;dur={self.hub_s * 1000:.3f}"
        if self.venue_s is not None:
            out += f", venue;dur={self.venue_s * 1000:.3f}"
        return out


TIMING: ContextVar[Timing | None] = ContextVar("timing", default=None)
