"""The state service's Prometheus metrics, collected from the service at scrape time.

The values live where they are counted (the core's counters, the shell's tallies, the hub); a
:class:`StateCollector` reads them when ``/metrics`` is scraped, so the hot path pays nothing.
prometheus_client writes the exposition (``_total`` suffixes, label escaping), and the registry
carries the process and Python metrics too (:func:`shared.metrics.service_registry`).

The consumer lag needs a NATS round trip, which a collector (synchronous) cannot make: the route
awaits :meth:`StateMetrics.refresh_lag` first and the collector exports what it read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.state.inflight import check_metrics
from services.state.redis_writer import OUTCOMES
from shared.bus.subjects import DLQ_STREAM
from shared.metrics import service_registry

if TYPE_CHECKING:
    from services.state.service import StateService

log = logging.getLogger("state.metrics")

_BOOK_GAP_COUNTERS = ("book_gap", "book_gap_events")


def _counter(name: str, help_: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, help_, value=value)


def _gauge(name: str, help_: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_, value=value)


class StateCollector(Collector):
    """Every ``state_*`` metric, read from the service when collected."""

    def __init__(self, svc: StateService, holder: StateMetrics) -> None:
        self.svc = svc
        self.holder = holder

    def collect(self) -> Iterator[Metric]:
        svc = self.svc
        core = svc.core
        counters = core.metrics()
        applied = CounterMetricFamily("state_events_applied", "Events folded by the core, by kind and source",
                                      labels=["kind", "source"])
        others = CounterMetricFamily("state_core_counter", "Every other core counter, by name",
                                     labels=["name"])
        for name, v in counters.items():
            if name.startswith("events."):
                _, kind, source = name.split(".", 2)
                applied.add_metric([kind, source], v)
            else:
                others.add_metric([name], v)
        yield applied
        yield others
        yield _counter("state_stale_rest_suppressed", "REST records older than held state, dropped",
                       counters.get("stale_rest_suppressed", 0))
        yield _counter("state_corrections_applied", "REST records applied (the WebSocket had "
                       "missed something)",
                       counters.get("corrections", 0))
        yield _counter("state_book_gaps", "Book gaps (seen here or reported by the feed)",
                       sum(counters.get(c, 0) for c in _BOOK_GAP_COUNTERS))
        yield _counter("state_redelivered", "Account events at or below the applied sequence",
                       counters.get("redelivered", 0))
        yield _counter("state_dlq", "Bus messages sent to the dead-letter subject", svc.dlq_count)
        yield _counter("state_decode_errors", "Undecodable bus messages", svc.decode_errors)
        yield _gauge("state_account_applied_seq", "Last ACCOUNT stream sequence applied", core.account_seq)
        yield _gauge("state_market_applied_seq", "Local market-data sequence", core.market_seq)
        if self.holder.lag is not None:
            yield _gauge("state_consumer_lag", "This account's ACCOUNT stream messages not yet applied",
                         self.holder.lag)
        if self.holder.dlq_messages is not None:
            yield _gauge("state_dlq_stream_messages", "Messages in the dead-letter stream (every service's)",
                         self.holder.dlq_messages)
        if self.holder.stream_last_seq is not None:
            yield _gauge("state_account_stream_last_seq", "ACCOUNT stream last sequence",
                         self.holder.stream_last_seq)
        health = core.health().value
        feed = GaugeMetricFamily("state_feed_connected", "1 while the private feed is connected (as seen "
                                 "through the ACCOUNT stream)", value=1 if health.feed.connected else 0)
        yield feed
        books = GaugeMetricFamily("state_book_valid", "1 while the maintained book of a market is valid",
                                  labels=["market"])
        for market, book in health.books.items():
            books.add_metric([market], 1 if book.valid else 0)
        yield books
        kill = GaugeMetricFamily("state_kill_switch_active", "1 while the kill switch is on, by scope "
                                 "(global, or a strategy's name)", labels=["scope"])
        scopes = {"global": 0}  # always exported, so "off" is a value and not an absence
        scopes |= {scope or "global": 1 if ks.active else 0 for scope, ks in health.kill_switch.items()}
        for scope, on in sorted(scopes.items()):
            kill.add_metric([scope], on)
        yield kill
        rec = health.last_reconciliation
        yield _gauge("state_last_reconciliation_complete", "1 when the last finished reconciliation was "
                     "complete (0 before the first one)", 1 if rec is not None and rec.complete else 0)
        yield _gauge("state_last_reconciliation_corrections", "Corrections of the last finished "
                     "reconciliation", rec.corrections if rec is not None else 0)
        reconcile = CounterMetricFamily("state_reconcile_requests", "ReconcileRequests sent / coalesced",
                                        labels=["outcome"])
        reconcile.add_metric(["sent"], svc.requester.sent)
        reconcile.add_metric(["coalesced"], svc.requester.coalesced)
        yield reconcile
        resync = CounterMetricFamily("state_book_resync_requests", "Markets asked of the feed for a fresh "
                                     "book", labels=["outcome"])
        resync.add_metric(["sent"], svc.resync.sent)
        resync.add_metric(["rate_limited"], svc.resync.limited)
        resync.add_metric(["failed"], svc.resync.failed)
        yield resync
        yield _counter("state_checkpoints", "Checkpoints written", svc.checkpoints)
        outcomes = CounterMetricFamily("state_redis_account_write_outcomes", "Sequence-guarded account "
                                       "writes by outcome (already: another replica wrote them first)",
                                       labels=["outcome"])
        for code, name in OUTCOMES.items():
            outcomes.add_metric([name], svc.writer.outcomes[code])
        yield outcomes
        yield _counter("state_redis_rewrites", "Full rewrites of the account after Redis lost data",
                       svc.rewrite.rewrites)
        yield _gauge("state_history_gap", "1 when the ACCOUNT stream began past the checkpoint on start",
                     1 if svc.history_gap is not None else 0)
        yield _counter("state_redis_write_errors", "Redis batch writes that failed", svc.writer.errors)
        yield _counter("state_redis_account_writes", "Account write calls to Redis (each carries every "
                       "batch applied since the previous one)", svc.pipeline.writes)
        yield _gauge("state_redis_written_seq", "Last ACCOUNT stream sequence Redis reflects",
                     svc.pipeline.written_seq)
        hub = svc.hub
        yield _gauge("state_sse_clients", "Connected SSE clients", len(hub.subscribers))
        yield _counter("state_sse_dropped_clients", "SSE clients cut off for reading too slowly",
                       hub.dropped_clients)
        resumes = CounterMetricFamily("state_sse_resumes", "SSE connections with a Last-Event-ID, by "
                                      "outcome (replayed from the buffer, reset: re-read the state)",
                                      labels=["stream", "outcome"])
        known = {("account", "replayed"): 0, ("account", "reset"): 0, ("market", "replayed"): 0,
                 ("market", "snapshot"): 0}
        for (stream, outcome), n in sorted((known | dict(hub.resumes)).items()):
            resumes.add_metric([stream, outcome], n)
        yield resumes
        for name, typ, help_, samples in check_metrics(svc.core, svc.inflight, svc.repairs):
            labels = sorted({k for lab, _ in samples for k in lab})
            fam: CounterMetricFamily | GaugeMetricFamily
            if typ == "counter":
                fam = CounterMetricFamily(name.removesuffix("_total"), help_, labels=labels)
            else:
                fam = GaugeMetricFamily(name, help_, labels=labels)
            for lab, value in samples:
                fam.add_metric([lab.get(k, "") for k in labels], value)
            yield fam
        gcw = svc.gc
        collections = CounterMetricFamily("state_gc_collections", "Garbage collections by generation",
                                          labels=["generation"])
        pauses = CounterMetricFamily("state_gc_pause_seconds", "Time spent in garbage collections",
                                     labels=["generation"])
        longest = GaugeMetricFamily("state_gc_pause_seconds_max", "Longest garbage-collection pause",
                                    labels=["generation"])
        for g in range(len(gcw.collections)):
            collections.add_metric([str(g)], gcw.collections[g])
            pauses.add_metric([str(g)], round(gcw.pause_s[g], 6))
            longest.add_metric([str(g)], round(gcw.max_pause_s[g], 6))
        yield collections
        yield pauses
        yield longest


class StateMetrics:
    """The registry of one state service: its collector plus the process and Python metrics."""

    def __init__(self, svc: StateService) -> None:
        self.svc = svc
        self.lag: int | None = None
        self.stream_last_seq: int | None = None
        self.dlq_messages: int | None = None
        self.registry = service_registry()
        self.registry.register(StateCollector(svc, self))

    async def refresh_lag(self) -> None:
        """Ask JetStream for the consumer lag and the DLQ depth (each left out of the exposition
        when NATS cannot answer)."""
        try:
            self.lag, self.stream_last_seq = await self.svc.consumer_lag()
        except Exception as exc:
            log.debug("consumer lag unavailable: %r", exc)
            self.lag = self.stream_last_seq = None
        try:
            info = await self.svc.js.stream_info(DLQ_STREAM)
            self.dlq_messages = int(info.state.messages)
        except Exception as exc:
            log.debug("DLQ stream info unavailable: %r", exc)
            self.dlq_messages = None

    async def exposition(self) -> bytes:
        """The Prometheus text of every metric, the lag freshly read."""
        await self.refresh_lag()
        return generate_latest(self.registry)
