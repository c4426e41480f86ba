"""Bodies built from the service's state for /v1/health, ``pdx:<account>:health`` and /metrics."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from services.state.encode import body_of
from services.state.horizon import HistoryGap
from services.state.inflight import ChecksHealth, check_metrics, checks_health
from services.state.redis_writer import OUTCOMES

if TYPE_CHECKING:
    from services.state.service import StateService


class StreamHealth(msgspec.Struct, kw_only=True):
    applied_seq: int
    last_event_age_ms: int  # -1 when no event was applied since start


class RedisHealth(msgspec.Struct, kw_only=True):
    """This replica's Redis writing: what Redis reflects, rewrites after data loss, md writer."""

    written_seq: int
    rewrites: int
    last_rewrite_entities: int
    last_rewrite_s: float
    waits: int
    market_data_writer: bool


class ShellHealth(msgspec.Struct, kw_only=True):
    """The shell's view added to the core's :class:`Health`."""

    ok: bool
    replica: str
    durable: str
    account: StreamHealth
    market: StreamHealth
    feed_connected: bool
    books_valid: dict[str, bool]
    checkpoint_seq: int
    restored_from_seq: int | None
    dlq: int
    redis_error: str
    redis: RedisHealth
    lease_ok: bool
    history_gap: HistoryGap | None
    core: Any
    checks: ChecksHealth | None = None


def _age_ms(wall: float, now: float) -> int:
    return int((now - wall) * 1000) if wall else -1


def health_value(svc: StateService) -> tuple[int, ShellHealth]:
    """(account seq, health) of the service now."""
    ans = svc.core.health()
    h = ans.value
    now = time.time()
    consumer_ok = svc.consumer is not None and svc.consumer.running
    lease_ok = svc.lease.valid()
    rw = svc.rewrite
    value = ShellHealth(
        ok=bool(svc.started and consumer_ok and svc.nc.is_connected and not svc.writer.last_error
                and lease_ok),
        replica=svc.replica, durable=svc.settings.durable,
        account=StreamHealth(applied_seq=h.account_seq,
                             last_event_age_ms=_age_ms(svc.last_account_wall, now)),
        market=StreamHealth(applied_seq=h.market_seq,
                            last_event_age_ms=_age_ms(svc.last_market_wall, now)),
        feed_connected=h.feed.connected, books_valid={m: b.valid for m, b in h.books.items()},
        checkpoint_seq=svc.checkpoint_seq, restored_from_seq=svc.restored_seq, dlq=svc.dlq_count,
        redis_error=svc.writer.last_error,
        redis=RedisHealth(written_seq=svc.pipeline.written_seq, rewrites=rw.rewrites,
                          last_rewrite_entities=rw.entities, last_rewrite_s=round(rw.last_s, 3),
                          waits=svc.pipeline.waits, market_data_writer=svc.writer.md_writer),
        lease_ok=lease_ok, history_gap=svc.history_gap, core=h,
        checks=checks_health(svc.core, svc.inflight, svc.repairs))
    return ans.seq, value


def health_body(svc: StateService) -> bytes:
    """``{"seq", "value": ShellHealth}`` JSON."""
    seq, value = health_value(svc)
    return body_of(seq, value)


_BOOK_GAP_COUNTERS = ("book_gap", "book_gap_events")
_NAME = re.compile(r"[^a-zA-Z0-9_]")


def metrics_text(svc: StateService, lag: int | None, stream_last_seq: int | None) -> str:
    """Prometheus text exposition (format 0.0.4) of the service's counters."""
    counters = svc.core.metrics()
    out: list[str] = []

    def metric(name: str, typ: str, help_: str, samples: Sequence[tuple[dict[str, str], float]]) -> None:
        out.append(f"# HELP {name} {help_}")
        out.append(f"# TYPE {name} {typ}")
        for labels, v in samples:
            lab = ",".join(f'{k}="{val}"' for k, val in labels.items())
            out.append(f"{name}{{{lab}}} {v}" if lab else f"{name} {v}")

    applied = []
    for name, v in counters.items():
        if name.startswith("events."):
            _, kind, source = name.split(".", 2)
            applied.append(({"kind": kind, "source": source}, v))
    metric("state_events_applied_total", "counter", "Events folded by the core, by kind and source", applied)
    metric("state_stale_rest_suppressed_total", "counter", "REST records older than held state, dropped",
           [({}, counters.get("stale_rest_suppressed", 0))])
    metric("state_corrections_applied_total", "counter", "REST records applied (WS had missed something)",
           [({}, counters.get("corrections", 0))])
    metric("state_book_gaps_total", "counter", "Book gaps (seen here or reported by the feed)",
           [({}, sum(counters.get(c, 0) for c in _BOOK_GAP_COUNTERS))])
    metric("state_redelivered_total", "counter", "Account events at or below the applied sequence",
           [({}, counters.get("redelivered", 0))])
    metric("state_dlq_total", "counter", "Bus messages sent to the DLQ", [({}, svc.dlq_count)])
    metric("state_decode_errors_total", "counter", "Undecodable bus messages", [({}, svc.decode_errors)])
    metric("state_account_applied_seq", "gauge", "Last ACCOUNT stream sequence applied",
           [({}, svc.core.account_seq)])
    metric("state_market_applied_seq", "gauge", "Local market-data sequence", [({}, svc.core.market_seq)])
    if lag is not None:
        metric("state_consumer_lag", "gauge", "This account's ACCOUNT stream messages not yet applied",
               [({}, lag)])
    if stream_last_seq is not None:
        metric("state_account_stream_last_seq", "gauge", "ACCOUNT stream last sequence",
               [({}, stream_last_seq)])
    metric("state_reconcile_requests_total", "counter", "ReconcileRequests sent / coalesced",
           [({"outcome": "sent"}, svc.requester.sent), ({"outcome": "coalesced"}, svc.requester.coalesced)])
    metric("state_book_resync_requests_total", "counter", "Markets asked of the feed for a fresh book",
           [({"outcome": "sent"}, svc.resync.sent), ({"outcome": "rate_limited"}, svc.resync.limited),
            ({"outcome": "failed"}, svc.resync.failed)])
    metric("state_checkpoints_total", "counter", "Checkpoints written", [({}, svc.checkpoints)])
    metric("state_redis_account_write_outcomes_total", "counter",
           "Sequence-guarded account writes by outcome (already: another replica wrote them first)",
           [({"outcome": name}, svc.writer.outcomes[code]) for code, name in OUTCOMES.items()])
    metric("state_redis_rewrites_total", "counter", "Full rewrites of the account after Redis lost data",
           [({}, svc.rewrite.rewrites)])
    metric("state_history_gap", "gauge", "1 when the ACCOUNT stream began past the checkpoint on start",
           [({}, 1 if svc.history_gap is not None else 0)])
    metric("state_redis_write_errors_total", "counter", "Redis batch writes that failed",
           [({}, svc.writer.errors)])
    metric("state_sse_clients", "gauge", "Connected SSE clients", [({}, len(svc.hub.subscribers))])
    metric("state_redis_account_writes_total", "counter",
           "Account write calls to Redis (each carries every batch applied since the previous one)",
           [({}, svc.pipeline.writes)])
    metric("state_redis_written_seq", "gauge", "Last ACCOUNT stream sequence Redis reflects",
           [({}, svc.pipeline.written_seq)])
    gcw = svc.gc
    metric("state_gc_collections_total", "counter", "Garbage collections by generation",
           [({"generation": str(g)}, n) for g, n in enumerate(gcw.collections)])
    metric("state_gc_pause_seconds_total", "counter", "Time spent in garbage collections",
           [({"generation": str(g)}, round(t, 6)) for g, t in enumerate(gcw.pause_s)])
    metric("state_gc_pause_seconds_max", "gauge", "Longest garbage-collection pause",
           [({"generation": str(g)}, round(t, 6)) for g, t in enumerate(gcw.max_pause_s)])
    for family in check_metrics(svc.core, svc.inflight, svc.repairs):
        metric(*family)
    metric("state_core_counter", "counter", "Every core counter by name",
           [({"name": _NAME.sub("_", k)}, v) for k, v in counters.items() if not k.startswith("events.")])
    return "\n".join(out) + "\n"
