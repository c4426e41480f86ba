"""Settings of the reconciler (``RECONCILER_*`` variables plus the common unprefixed ones)."""

from __future__ import annotations

from typing import ClassVar

from shared.config import RECONCILER_HTTP_PORT, CommonSettings


class Settings(CommonSettings, frozen=True, kw_only=True):
    """Reconciler settings. Times in seconds unless the name says otherwise.

    ``interval_s``: a full snapshot this long after the last one started. ``fast_interval_s``: a
    fast check (open orders, positions, account, balances: 4 requests) this long after the last
    one (0 turns it off). ``clock_sync_s``: at most one ``/system/time`` (public) per this period.
    ``history_lookback_s``: order-history/fills window of the first run; later runs start at the
    previous successful run's start minus ``history_overlap_s``. ``rate_per_s``/``rate_burst``:
    the client-side token bucket for REST reads (venue: 600/min private GETs per account).
    ``coalesce_s``: how long a woken run waits to gather a burst of requests.
    ``part_timeout_s``: one part (all its pages, retries included) must finish within this.
    ``shutdown_grace_s``: on SIGTERM the current run may finish within this, else it is abandoned.
    ``markets_interval_s``: how often ``GET /markets`` is fetched (the specs are published to the
    ACCOUNT stream at start-up and when they change; 0 = at start-up and on request only).
    """

    env_prefix: ClassVar[str] = "RECONCILER_"

    http_host: str = "127.0.0.1"
    http_port: int = RECONCILER_HTTP_PORT
    interval_s: float = 300.0
    fast_interval_s: float = 10.0
    clock_sync_s: float = 30.0
    run_at_startup: bool = True
    history_lookback_s: float = 86_400.0
    history_overlap_s: float = 60.0
    page_size: int = 500
    max_pages: int = 1000
    rate_per_s: float = 8.0
    rate_burst: int = 20
    coalesce_s: float = 0.05
    max_lookups: int = 200
    request_timeout_s: float = 10.0
    part_timeout_s: float = 60.0
    max_retries: int = 4
    backoff_initial_s: float = 0.1
    backoff_max_s: float = 5.0
    publish_timeout_s: float = 5.0
    shutdown_grace_s: float = 10.0
    markets_interval_s: float = 300.0
