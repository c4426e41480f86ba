"""Prometheus metrics of the reconciler (one registry per service instance)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from services.reconciler.run import RunReport
from shared.metrics import service_registry


class ReconcilerMetrics:
    """Every metric the reconciler exports on ``/metrics``."""

    def __init__(self) -> None:
        r = self.registry = service_registry()
        self.runs = Counter("reconciler_runs", "Runs by outcome (complete, incomplete, lookups_only, "
                            "failed, abandoned)", ["outcome"], registry=r)
        self.records = Counter("reconciler_records", "Snapshot records published, by part", ["part"],
                               registry=r)
        self.errors = Counter("reconciler_errors", "Snapshot parts that were incomplete, by part", ["part"],
                              registry=r)
        self.duration = Histogram("reconciler_run_duration_seconds", "Duration of a run", registry=r,
                                  buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
        self.requests = Counter("reconciler_requests", "Reconcile requests received, by reason", ["reason"],
                                registry=r)
        self.coalesced = Counter("reconciler_requests_coalesced", "Requests folded into another "
                                 "request's run", registry=r)
        self.bad_requests = Counter("reconciler_bad_requests", "Undecodable reconcile requests", registry=r)
        self.lookups = Counter("reconciler_lookups", "Lookups by outcome (found, not_found, error)",
                               ["outcome"], registry=r)
        self.running = Gauge("reconciler_running", "Runs in progress (one per lane at most: full, fast)",
                             registry=r)
        self.venue_requests = Counter("reconciler_venue_requests", "Private GETs sent to the venue, by "
                                      "purpose (full, fast_check, targeted, lookup)", ["purpose"],
                                      registry=r)
        self.last_run = Gauge("reconciler_last_run_timestamp_seconds", "Wall clock at the end of the last "
                              "run", registry=r)
        self.last_complete = Gauge("reconciler_last_complete_snapshot_timestamp_seconds",
                                   "Wall clock at the end of the last complete snapshot", registry=r)

    def observe(self, report: RunReport, wall_s: float) -> str:
        """Count one finished run; its outcome label."""
        for part in report.parts.values():
            self.records.labels(part.part).inc(part.count)
            if not part.complete:
                self.errors.labels(part.part).inc()
        for lookup in report.lookups:
            self.lookups.labels("error" if lookup.error else "found" if lookup.found else "not_found").inc()
        outcome = ("lookups_only" if not report.snapshot_id
                   else "complete" if report.complete else "incomplete")
        self.runs.labels(outcome).inc()
        self.duration.observe(report.duration_ms / 1000)
        self.last_run.set(wall_s)
        if report.snapshot_id and report.complete:
            self.last_complete.set(wall_s)
        return outcome
