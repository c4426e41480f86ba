"""Settings of the state service (``STATE_*`` variables plus the common unprefixed ones)."""

from __future__ import annotations

import re
import socket
from typing import ClassVar

from shared.config import COMMANDS_HTTP_PORT, STATE_HTTP_PORT, CommonSettings
from shared.settings import Secret

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def safe_replica_id(name: str) -> str:
    """``name`` as a token safe in a JetStream consumer name and a Redis key (``[A-Za-z0-9_-]``)."""
    return _UNSAFE.sub("_", name.strip())[:64] or "state"


class Settings(CommonSettings, frozen=True, kw_only=True):
    """State-service settings. Times in seconds unless the name says otherwise.

    ``replica_id``: this replica's name ("" = the host name), in its durable consumer, checkpoint,
    lease and health keys; two replicas of one account need different ids (a second process with
    the same id refuses to start). ``consumer_name``: the JetStream durable on the ACCOUNT stream
    ("" = ``state-<account>-<replica>``). ``lease_ttl_s``: the replica's lease on its durable
    (renewed every quarter of it; a process killed without clean-up blocks a successor with its
    id for at most this long). ``rewrite_chunk``: entities per Redis call of a full rewrite (after
    Redis lost data). ``horizon_check_s``: how often the ACCOUNT stream's first sequence is compared
    with the last checkpoint (a checkpoint is written at once when the stream passed it; see
    ``services.state.horizon``). ``fetch_batch`` / ``fetch_expires_s``: size and expiry of one pull
    request. ``checkpoint_every_events`` / ``checkpoint_interval_s``: a checkpoint is written after
    that many applied account events, or that long after the last one when anything changed (the
    interval bounds a restart's replay; the count is the backstop at very high rates: a checkpoint
    serializes the whole state, ~12 MB and 30-140 ms of CPU at 15 000 orders, so at 5 000 events/s
    one every 5 000 events cost a checkpoint a second).
    ``md_flush_interval_s``: market-data Redis writes are coalesced per market (latest wins) and
    flushed at this period. ``book_depth``: levels per side written to ``pdx:md:book:<market>``.
    ``book_resync_after_s``: a configured market's book invalid (or never seen) this long is asked
    for again from the feed (``pdx.feed.resync``; every market is also asked for on start), at most
    once per ``book_resync_min_interval_s`` per market. ``event_loop``: ``uvloop`` (default) or
    ``asyncio`` for ``python -m services.state``. ``gc_freeze``: freeze the objects alive after
    start-up out of the garbage collector's full collections (see ``shared.gcwatch``).
    ``retention_ms`` / ``fill_retention_ms``: terminal orders / fills older than this by the
    stream's venue clock leave memory and Redis (0 = keep forever; ``services.state.core.retention``).
    ``read_tokens`` (or ``STATE_READ_TOKENS_FILE``): bearer tokens of the HTTP API, comma, space or
    newline separated, each at least 16 characters; when set, every route but ``/healthz`` needs
    one (``services.state.auth``).
    ``max_closed_orders`` / ``max_fills``: past this many terminal orders / fills the oldest leave
    memory and Redis too (0 = no limit), so memory stays bounded whatever the flow.
    ``lookup_grace_ms``: an open order missing from a snapshot, quiet this long but not yet
    ``grace_ms``, is looked up (closed only by the lookup's answer); one updated less than this
    before the snapshot is looked up this long after it (the REST answer may predate the order).
    ``sse_queue_max``: events queued per SSE client before it is cut off (``overflow``).
    ``sse_replay_max``: recent account changes kept (and read back from Redis at start) so SSE
    clients resume with ``Last-Event-ID`` without a gap (``services.state.hub``).
    ``commands_url``: the commands service, for the dashboard's kill switch (``services.state.page``).
    ``settle_ms``: a suspected missed push (``services.state.core.gaps``) is a detection once the
    stream moved this far past it; its targeted reconciliation is asked for then, again after
    ``repair_backoff_s`` doubling, ``repair_max_attempts`` times. ``inflight_threshold_s``: an
    order in PENDING_NEW / UNKNOWN / PENDING_CANCEL / PENDING_MODIFY this long is looked up, again
    after ``inflight_backoff_s`` doubling, ``inflight_max_attempts`` times, then reported
    unresolved (``services.state.inflight``). ``checks_interval_s``: how often both timers look;
    ``checks`` false turns both off (e.g. on all state replicas but one: each replica asks, the
    reconciler folds identical requests into one run).
    ``trace``: latency tracing for benchmarks (off by default; ``shared.trace``): account events
    that arrive with the feed's ``Pdx-Trace`` header (``FEED_TRACE``) get their receive, applied,
    Redis-written and SSE-sent stamps, and their SSE frames end with a ``"trace"`` member. Off,
    every output is unchanged.
    """

    env_prefix: ClassVar[str] = "STATE_"

    http_host: str = "127.0.0.1"
    http_port: int = STATE_HTTP_PORT
    replica_id: str = ""
    consumer_name: str = ""
    lease_ttl_s: float = 5.0
    rewrite_chunk: int = 500
    horizon_check_s: float = 10.0
    fetch_batch: int = 1000
    fetch_expires_s: float = 2.0
    checkpoint_every_events: int = 25_000
    checkpoint_interval_s: float = 5.0
    md_flush_interval_s: float = 0.05
    book_depth: int = 20
    changes_maxlen: int = 100_000
    md_changes_maxlen: int = 10_000
    recent_fills_max: int = 1000
    reconcile_coalesce_s: float = 1.0
    health_interval_s: float = 1.0
    sse_queue_max: int = 10_000
    sse_replay_max: int = 10_000
    commands_url: str = f"http://127.0.0.1:{COMMANDS_HTTP_PORT}"
    grace_ms: int = 5000
    lookup_grace_ms: int = 500
    settle_ms: int = 200
    inflight_threshold_s: float = 2.0
    inflight_backoff_s: float = 0.5
    inflight_max_attempts: int = 5
    repair_backoff_s: float = 0.5
    repair_max_attempts: int = 4
    checks_interval_s: float = 0.05
    checks: bool = True
    max_trades: int = 100
    retention_ms: int = 6 * 3600 * 1000
    fill_retention_ms: int = 6 * 3600 * 1000
    max_closed_orders: int = 20_000
    max_fills: int = 20_000
    startup_reconcile: bool = True
    book_resync_after_s: float = 2.0
    book_resync_min_interval_s: float = 1.0
    event_loop: str = "uvloop"
    gc_freeze: bool = True
    read_tokens: Secret = Secret("")
    trace: bool = False

    def __post_init__(self) -> None:
        from services.state.auth import parse_tokens

        parse_tokens(self.read_tokens.reveal())  # a malformed list stops the start, naming the variable

    @property
    def tokens(self) -> tuple[bytes, ...]:
        """The read tokens (empty: the API is open)."""
        from services.state.auth import parse_tokens

        return parse_tokens(self.read_tokens.reveal())

    @property
    def replica(self) -> str:
        """This replica's id: ``replica_id``, else the host name (made key- and subject-safe)."""
        return safe_replica_id(self.replica_id or socket.gethostname())

    @property
    def durable(self) -> str:
        """Durable consumer name of this replica."""
        return self.consumer_name or f"state-{self.account_token}-{self.replica}"
