"""Settings of the feed service (``FEED_*`` variables plus the common unprefixed ones)."""

from __future__ import annotations

from typing import ClassVar, Literal

from shared.config import FEED_HTTP_PORT, CommonSettings


class Settings(CommonSettings, frozen=True, kw_only=True):
    """Feed settings. Times in seconds unless the name says otherwise.

    ``sbe_schema_version``: 0 = public channels in JSON; N > 0 = connect with
    ``?sbeSchemaId=1&sbeSchemaVersion=N`` and decode public pushes as SBE.
    ``market_data_mode``: ``core`` publishes market data with core NATS publishes on the MARKET
    stream's subjects (stored by the stream, no ack wait); ``jetstream`` uses batched
    ``publish_async`` with acks (slower, see bench.feed).
    ``book_resync_min_interval_s``: a book resync request resubscribes a market at most this often.
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
