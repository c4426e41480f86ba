"""Prometheus metrics of the feed (one registry per service instance, so tests can run several).

Per-frame counts live in plain ``Counter`` dicts of the protocol core (cheap on the hot path) and
are exported at scrape time by :class:`_CoreCollector`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from services.feed.core.rejects import Rejects
from shared.metrics import service_registry
from shared.paradex.validate import REASONS

_ERROR_KINDS = ("decode_errors", "rpc_errors", "subscribe_errors", "unknown_channel", "unexpected_reply",
                "sbe_skipped", "internal_errors")
_BOOK_KINDS = ("book_gap", "book_crossed", "book_duplicate", "book_stale")


_FILTERED = ("summary_not_followed",)

Source = Callable[[], tuple[Mapping[str, int], Mapping[str, int], Rejects]]
"""``(frames by channel, counters, refusals)`` of the protocol core."""


class _CoreCollector(Collector):
    def __init__(self, source: Source) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        frames, counters, rejects = self._source()
        rejected, filtered = rejects.counts, rejects.filtered
        rej = CounterMetricFamily("feed_rejected", "Venue records and frames refused (dead-lettered), by "
                                  "reason", labels=["reason"])
        for reason in REASONS:
            rej.add_metric([reason], rejected.get(reason, 0))
        yield rej
        flt = CounterMetricFamily("feed_filtered", "Venue records dropped on purpose (summaries of markets "
                                  "not followed), by kind", labels=["kind"])
        for kind in _FILTERED:
            flt.add_metric([kind], filtered.get(kind, 0))
        yield flt
        unsent = CounterMetricFamily("feed_dead_letters_unsent", "Refusals not dead-lettered, by cause "
                                     "(rate_limited: above FEED_DLQ_RATE_PER_S)", labels=["cause"])
        unsent.add_metric(["rate_limited"], rejects.limited)
        unsent.add_metric(["overflow"], rejects.dropped)
        yield unsent
        fam = CounterMetricFamily("feed_frames", "WebSocket pushes received, by channel subscribed "
                                  "(\"other\" for any other)", labels=["channel"])
        for channel, n in sorted(frames.items()):
            fam.add_metric([channel], n)
        yield fam
        err = CounterMetricFamily("feed_decode_errors", "Malformed or refused input, by kind",
                                  labels=["kind"])
        for kind in _ERROR_KINDS:
            err.add_metric([kind], counters.get(kind, 0))
        yield err
        book = CounterMetricFamily("feed_book_frames_rejected", "Book frames not applied (gaps, crossed, "
                                   "duplicates, stale)", labels=["reason"])
        for kind in _BOOK_KINDS:
            book.add_metric([kind.removeprefix("book_")], counters.get(kind, 0))
        yield book


class FeedMetrics:
    """Every metric the feed exports on ``/metrics``."""

    def __init__(self) -> None:
        r = self.registry = service_registry()
        self.reconnects = Counter("feed_reconnects", "WebSocket connections after the first", registry=r)
        self.silences = Counter("feed_silences", "Connections closed for silence", registry=r)
        self.queue_depth = Gauge("feed_queue_depth", "Events waiting to be published, by lane", ["lane"],
                                 registry=r)
        self.published = Counter("feed_published", "Events published, by lane", ["lane"], registry=r)
        self.dropped = Counter("feed_dropped", "Events dropped, by lane and cause", ["lane", "cause"],
                               registry=r)
        self.publish_latency = Histogram(
            "feed_publish_latency_seconds", "Frame receipt to publish done, by lane", ["lane"], registry=r,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.connected = Gauge("feed_connected", "1 while the venue connection is up", registry=r)
        self.nats_connected = Gauge("feed_nats_connected", "1 while NATS is connected", registry=r)
        self.epoch = Gauge("feed_epoch", "Current connection epoch", registry=r)
        self.dead_letters = Counter("feed_dead_letters", "Dead letters on pdx.dlq.feed, by outcome "
                                    "(published, dropped, failed)", ["outcome"], registry=r)
        self.task_restarts = Counter("feed_task_restarts", "Supervised task failures (each followed by a "
                                     "restart, or by giving up), by task", ["task"], registry=r)
        self.session_ends = Counter("feed_session_ends", "Venue sessions ended, by class (transient, fatal, "
                                    "oversized, auth_refused, stopped)", ["kind"], registry=r)
        self.book_resyncs = Counter(
            "feed_book_resyncs", "Markets named in book resync requests, by outcome (resubscribed, "
            "rate_limited, unknown, not_connected, bad_request)", ["outcome"], registry=r)

    def attach(self, source: Source) -> None:
        """Export the protocol core's counts (see :data:`Source`) at scrape time."""
        self.registry.register(_CoreCollector(source))
