"""Settings of the feed service (``FEED_*`` variables plus the common unprefixed ones)."""

from __future__ import annotations

from typing import ClassVar, Literal

from shared.config import FEED_HTTP_PORT, CommonSettings
from shared.errors import ConfigError


class Settings(CommonSettings, frozen=True, kw_only=True):
    """Feed settings. Times in seconds unless the name says otherwise.

    ``sbe_schema_version``: 0 = public channels in JSON; N > 0 = connect with
    ``?sbeSchemaId=1&sbeSchemaVersion=N`` and decode public pushes as SBE.
    ``market_data_mode``: ``core`` publishes market data with core NATS publishes on the MARKET
    stream's subjects (stored by the stream, no ack wait); ``jetstream`` uses batched
    ``publish_async`` with acks (slower, see bench.feed).
    ``book_resync_min_interval_s``: a book resync request resubscribes a market at most this often.
    ``ws_max_size``: the largest WebSocket frame accepted (bytes); a larger one closes the
    connection (logged) and the feed reconnects. ``ws_max_queue``: frames websockets buffers
    before it stops reading the socket. Together they bound the memory a peer can make us hold.
    ``dlq_queue_max``: dead letters waiting to be published (more are counted, not kept);
    ``dlq_rate_per_s``: dead letters made per second at most (a flood is counted, not stored).
    ``venue_clock_skew_s``: how far ahead of our clock a venue timestamp may be.
    ``market_data_stale_s``: ``/healthz`` answers 503 when connected this long without publishing
    any market data (0 = never). ``fatal_retry_s``: the pause after a fatal failure (key, account
    or connection parameters refused). ``task_restart_max`` failures of one supervised task within
    ``task_restart_window_s`` make the process exit non-zero.
    ``event_loop``: ``uvloop`` (default) or ``asyncio`` for ``python -m services.feed`` (uvloop:
    ~35 % more awaited JetStream publishes per second here, the account lane's ceiling).
    ``account_inflight``: account events published before their acks are awaited (64 by
    default; 1: one at a time). Pipelining on the lane's one connection means one awaited round
    trip no longer caps its rate: with 1, bench.e2e saw the lane fall seconds behind at 1 000
    events/s on a busy 2-core machine (a JetStream ack round trip per event). A failure resends
    from the first unacked event (the same ``Nats-Msg-Id``: the duplicate window drops what was
    stored already), which keeps the order when what the stream stored is the acked prefix plus
    some of what followed (tests/feed/test_sink_window.py, NATS restarted mid-stream). Only a
    per-message refusal in mid-window (a clustered stream between two leaders) can store a later
    event before the resent one; the state's merge does not depend on stream order (it orders
    by venue evidence, as it must for the venue's own reordered pushes), so that costs at most a
    repair check. Set 1 for strict one-at-a-time publishing.
    ``trace``: latency tracing for benchmarks (off by default; see ``shared.trace``): account
    messages carry a ``Pdx-Trace`` header (simulator send stamp, receive, publish) and the
    JetStream ack times go out on ``pdx.trace.feed``. Off, the messages are unchanged.
    """

    env_prefix: ClassVar[str] = "FEED_"

    http_host: str = "127.0.0.1"
    http_port: int = FEED_HTTP_PORT
    sbe_schema_version: int = 0
    book_channel: Literal["deltas", "interactive_deltas"] = "deltas"
    subscribe_summary: bool = True
    market_data_mode: Literal["core", "jetstream"] = "core"
    market_queue_max: int = 20_000
    account_buffer_max: int = 100_000
    silence_timeout_s: float = 20.0
    status_interval_s: float = 1.0
    connect_timeout_s: float = 10.0
    reply_timeout_s: float = 10.0
    backoff_initial_s: float = 0.1
    backoff_max_s: float = 10.0
    backoff_stable_s: float = 30.0
    publish_timeout_s: float = 5.0
    book_resync_min_interval_s: float = 1.0
    ws_max_size: int = 1 << 20
    ws_max_queue: int = 64
    dlq_queue_max: int = 10_000
    dlq_rate_per_s: float = 1000.0
    venue_clock_skew_s: float = 3600.0
    market_data_stale_s: float = 30.0
    fatal_retry_s: float = 30.0
    task_restart_max: int = 5
    task_restart_window_s: float = 60.0
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    account_inflight: int = 64
    trace: bool = False

    def __post_init__(self) -> None:
        for name, low in (("ws_max_size", 1024), ("ws_max_queue", 1), ("dlq_queue_max", 0),
                          ("task_restart_max", 0), ("account_inflight", 1)):
            if getattr(self, name) < low:
                raise ConfigError(f"FEED_{name.upper()}", f"must be >= {low}, got {getattr(self, name)}")
        for name in ("fatal_retry_s", "venue_clock_skew_s", "task_restart_window_s", "dlq_rate_per_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"FEED_{name.upper()}", f"must be > 0, got {getattr(self, name)}")
