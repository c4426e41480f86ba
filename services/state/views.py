"""Bodies built from the service's state for /v1/health and ``pdx:<account>:health``."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import msgspec

from services.state.encode import body_of
from services.state.horizon import HistoryGap
from services.state.inflight import ChecksHealth, checks_health

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
