"""Connection status of the feed (pure: every time is passed in).

States: ``disconnected`` → ``authenticating`` (a new connection: the epoch increases) →
``connected`` (authenticated and subscriptions sent) → ``disconnected`` again; ``auth_failed``
when the venue refuses the JWT. :meth:`StatusTracker.set` returns a :class:`FeedStatus` only on a
change (for the ACCOUNT stream); :meth:`StatusTracker.snapshot` builds the once-a-second heartbeat.
"""

from __future__ import annotations

from shared.bus import FeedStatus
from shared.bus.events import FeedState


class StatusTracker:
    """State, epoch and last-frame time of the feed's connection."""

    def __init__(self) -> None:
        self.state: FeedState = "disconnected"
        self.epoch = 0
        self.reason = ""
        self.last_frame: float | None = None  # monotonic seconds
        self.connected_since: float | None = None

    def new_connection(self, now: float, wall_ns: int) -> FeedStatus:
        """A new connection is being made: bump the epoch, state ``authenticating``."""
        self.epoch += 1
        self.last_frame = None
        self.state = "authenticating"
        self.reason = ""
        return self.snapshot(now, wall_ns)

    def set(self, state: FeedState, now: float, wall_ns: int, reason: str = "") -> FeedStatus | None:
        """Move to ``state``; the status event when it is a change, else None (the reason is
        still updated: a failure that repeats while disconnected may change its text)."""
        if state == self.state:
            self.reason = reason
            return None
        self.state = state
        self.reason = reason
        self.connected_since = now if state == "connected" else None
        return self.snapshot(now, wall_ns)

    def frame(self, now: float) -> None:
        """A frame arrived at ``now``."""
        self.last_frame = now

    def frame_age_ms(self, now: float) -> int:
        """Milliseconds since the last frame of this connection, -1 if none yet."""
        if self.last_frame is None:
            return -1
        return int((now - self.last_frame) * 1000)

    def silent(self, now: float, timeout_s: float) -> bool:
        """True when connected and no frame arrived for ``timeout_s`` (since the last frame, or
        since the connection was established when none came yet)."""
        if self.state != "connected":
            return False
        since = self.last_frame if self.last_frame is not None else self.connected_since
        return since is not None and now - since >= timeout_s

    @property
    def connected(self) -> bool:
        """True in state ``connected``."""
        return self.state == "connected"

    def snapshot(self, now: float, wall_ns: int) -> FeedStatus:
        """The current status as an event."""
        return FeedStatus(source="ws", recv_ns=wall_ns, conn_epoch=self.epoch, state=self.state,
                          epoch=self.epoch, last_frame_age_ms=self.frame_age_ms(now), reason=self.reason)
