"""Bookkeeping records: REST snapshots in progress, the last reconciliation, feed and source status."""

from __future__ import annotations

import msgspec


class SnapshotRun(msgspec.Struct, kw_only=True):
    """A REST snapshot in progress, effective as of its ``snapshot_started`` (``start_seq``).

    ``quiet_ms`` / ``quiet_ns``: an entity whose last update (venue clock / recv clock) is later
    than these is inside the grace window and never judged absent by this snapshot. They are the
    marker's time minus G, or the disconnect time minus G while the private WS is down (rule 6).
    ``seen_*``: keys present in the snapshot (orders by id and ``client:<id>``). ``since_ms``: the
    venue time from which its order history and fills were fetched. ``recent_ms`` / ``recent_ns``:
    the marker's time minus the (shorter) lookup grace: an order absent but updated between these
    and ``quiet_*`` is looked up only.
    """

    id: str
    start_seq: int
    reason: str = ""
    parts: list[str] = msgspec.field(default_factory=list)
    quiet_ms: int = 0
    quiet_ns: int = 0
    seen_orders: set[str] = msgspec.field(default_factory=set)
    seen_positions: set[str] = msgspec.field(default_factory=set)
    seen_balances: set[str] = msgspec.field(default_factory=set)
    complete_parts: list[str] = msgspec.field(default_factory=list)
    corrections: int = 0
    records: int = 0
    since_ms: int = 0
    recent_ms: int = 0
    recent_ns: int = 0


class Reconciliation(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The last finished reconciliation run as the state saw it."""

    snapshot_id: str
    reason: str = ""
    start_seq: int = 0
    finish_seq: int = 0
    complete: bool = False
    corrections: int = 0
    records: int = 0
    duration_ms: int = 0
    errors: list[str] = msgspec.field(default_factory=list)


class FeedInfo(msgspec.Struct, kw_only=True):
    """The private feed as seen through the stream: last state, epoch, since when it is down."""

    state: str = "unknown"
    connected: bool = False
    epoch: int = 0
    down_since_ns: int = 0
    last_change_seq: int = 0
    reconnects: int = 0


class SourceInfo(msgspec.Struct, kw_only=True):
    """Last event of one source (ws | rest | cmd) on the ACCOUNT stream, or of the MARKET stream."""

    last_seq: int = 0
    last_recv_ns: int = 0
    last_venue_ts: int = 0
    events: int = 0


class KillSwitchState(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The last ``KillSwitch`` event for one scope (``strategy`` "" = global)."""

    active: bool
    strategy: str = ""
    by: str = ""
    reason: str = ""
    seq: int = 0
    recv_ns: int = 0
