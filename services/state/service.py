"""The state service's async shell: stream in, fold with the pure core, Redis/SSE/requests out.

Flow per ACCOUNT batch: decode each message (malformed ones go to the DLQ), ``core.apply``,
push the changes to SSE clients, then (``services.state.pipeline``, behind the apply path) write
every change in one sequence-guarded Redis call (retrying until Redis takes it; a Redis that lost
data gets a full rewrite) and ack the batch (AckPolicy.ALL); send the ReconcileRequests the core
asked for, and checkpoint every
``checkpoint_every_events`` events. Replicas: each process holds a lease on its own durable
consumer (``services.state.lease``; a second process with the same replica id refuses to start)
and writes its own checkpoint; all of them write Redis, the sequence guard keeps every change
once and in order. Market data arrives on core NATS
subjects (both feed modes publish there), is numbered locally and applied at once; its Redis
writes are coalesced per market and flushed every ``md_flush_interval_s``. Books get their
snapshot through book resync requests to the feed (on start, and while a book stays invalid).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from services.state import memtrim
from services.state.actions import ReconcileRequester
from services.state.checkpoint import load_for_replica, save_checkpoint
from services.state.consumer import PullConsumer, bind_durable, stream_seq
from services.state.core import INVALID, Action, StateConfig, StateCore
from services.state.encode import Encoded, encode, encode_change
from services.state.horizon import HistoryGap, Horizon
from services.state.hub import ChangeHub, read_tail
from services.state.inflight import InflightCheck, run_checks
from services.state.lease import Lease
from services.state.marketdata import MarketData
from services.state.pages import Pages
from services.state.pipeline import WritePipeline
from services.state.readindex import ReadIndex
from services.state.redis_writer import RedisWriter
from services.state.repairs import RepairCheck
from services.state.resync import BookResyncer
from services.state.rewrite import FullRewrite
from services.state.seqgate import SeqGate
from services.state.settings import Settings
from services.state.views import health_body
from shared.bus import decode_event, ensure_streams
from shared.bus.requests import MarketsRequest, ReconcileRequest, encode_markets_request
from shared.bus.subjects import (
    ACCOUNT_STREAM,
    MARKET_WILDCARD,
    MARKETS_REQUEST,
    account_filter,
    dlq_subject,
)
from shared.gcwatch import GcWatch
from shared.rediskeys import Keys
from shared.trace import TRACE_HEADER, applied_trace

log = logging.getLogger("state")

WRITTEN_WAIT_S = 10.0


def _stamp_applied(changes: list[Encoded], n: int, msg: Any) -> None:
    """Give the last ``n`` changes (one applied event's) the trace of ``msg`` (tracing only)."""
    header = (msg.headers or {}).get(TRACE_HEADER)
    trace = applied_trace(header, time.time_ns()) if header else b""
    if trace:
        changes[-n:] = [ch._replace(trace=trace) for ch in changes[-n:]]

class StateService:
    """Owns the core and every I/O around it for one account."""

    def __init__(self, settings: Settings, nc: Any, redis: Any) -> None:
        self.settings = settings
        self.nc = nc
        self.js = nc.jetstream()
        self.redis = redis
        self.keys = Keys(settings.account_token)
        self.config = StateConfig(grace_ms=settings.grace_ms, max_trades=settings.max_trades,
                                  retention_ms=settings.retention_ms,
                                  fill_retention_ms=settings.fill_retention_ms,
                                  max_closed_orders=settings.max_closed_orders, max_fills=settings.max_fills,
                                  settle_ms=settings.settle_ms,
                                  lookup_grace_ms=settings.lookup_grace_ms)
        self.core = StateCore(self.config)
        self.replica = settings.replica
        self.writer = RedisWriter(redis, self.keys, changes_maxlen=settings.changes_maxlen,
                                  md_changes_maxlen=settings.md_changes_maxlen,
                                  recent_fills_max=settings.recent_fills_max,
                                  md_lease_ms=int(max(5.0, 10 * settings.md_flush_interval_s) * 1000))
        self.hub = ChangeHub(settings.sse_queue_max, settings.sse_replay_max)
        self.rewrite = FullRewrite(redis, self.keys, changes_maxlen=settings.changes_maxlen,
                                   recent_fills_max=settings.recent_fills_max, chunk=settings.rewrite_chunk)
        self.pipeline = WritePipeline(self.writer, self.hub, rewrite=self.rewrite, core=lambda: self.core,
                                      on_rewrite=self._after_rewrite, trace=settings.trace)
        self.lease = Lease(redis, self.keys.lease(settings.durable), settings.durable, self.replica,
                           ttl_s=settings.lease_ttl_s)
        self.horizon = Horizon(self.js, ACCOUNT_STREAM, settings.durable)
        self.checkpoint_key = self.keys.checkpoint_of(self.replica)
        self.checkpoint_covered = 0
        self.history_gap: HistoryGap | None = None
        #: set when this process must stop (its lease was taken over): ``__main__`` exits on it
        self.fatal = asyncio.Event()
        self.fatal_reason = ""
        #: HTTP reads with ``min_seq`` wait on it (read-your-writes); advanced after each batch.
        self.seq_gate = SeqGate()
        #: sorted keys for paginated reads, kept from the core's changes (rebuilt on start)
        self.index = ReadIndex()
        self.pages = Pages(self.index)
        self.requester = ReconcileRequester(nc, settings.reconcile_coalesce_s,
                                            later_s=settings.lookup_grace_ms / 1000)
        self.resync = BookResyncer(nc, settings.paradex_markets, after_s=settings.book_resync_after_s,
                                   min_interval_s=settings.book_resync_min_interval_s)
        #: timers asking the venue about orders stuck in flight and suspected missed pushes
        self.inflight = InflightCheck(settings.inflight_threshold_s, settings.inflight_backoff_s,
                                      settings.inflight_max_attempts)
        self.repairs = RepairCheck(settings.settle_ms / 1000, settings.repair_backoff_s,
                                   settings.repair_max_attempts)
        self.consumer: PullConsumer | None = None
        self.dlq_count = 0
        self.account_decode_errors = 0
        self.account_apply_errors = 0
        self.last_account_wall = 0.0
        self.restored_seq: int | None = None
        self.checkpoint_seq = 0
        self.checkpoints = 0
        self._since_checkpoint = 0
        self._last_checkpoint_t = time.monotonic()
        self._checkpoint_lock = asyncio.Lock()
        self._checkpoint_task: asyncio.Task[None] | None = None
        self.gc = GcWatch()
        self.market = MarketData(lambda: self.core, self.writer, self.hub, self._dead_letter,
                                 book_depth=settings.book_depth,
                                 flush_interval_s=settings.md_flush_interval_s)
        self.hub.market_snapshot = self._market_snapshot
        self._market_sub: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self.started = False

    # ------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Take the durable's lease, load a checkpoint, bind the durable, subscribe, start tasks.

        Raises :class:`~services.state.lease.DurableInUse` when another live process holds the
        lease on this replica's durable (nothing is consumed then)."""
        s = self.settings
        await ensure_streams(self.js)
        await self.lease.acquire()
        self.lease.start()
        self.gc.install()
        loaded = await load_for_replica(self.redis, self.keys, self.replica, self.config)
        restored = loaded.core if loaded is not None else None
        if loaded is not None:
            self.core = loaded.core
            self.restored_seq = loaded.core.account_seq
            self.checkpoint_covered = loaded.covered
            if loaded.key == self.checkpoint_key:
                self.checkpoint_seq = loaded.core.account_seq
        after = self.restored_seq or 0
        self.index.rebuild(self.core)
        self.history_gap = await self.horizon.gap_at_start(self.checkpoint_covered, loaded is not None)
        how = await bind_durable(self.js, ACCOUNT_STREAM, s.durable, account_filter(s.account_token),
                                 after, max_ack_pending=max(20_000, 4 * s.fetch_batch))
        origin = f"checkpoint {loaded.key}" if loaded is not None else "no checkpoint: full replay"
        log.info("state replica %s: %s durable %s from stream seq %d (%s)", self.replica, how, s.durable,
                 after + 1, origin)
        if self.history_gap is not None:
            await self.requester.send(ReconcileRequest(reason="stream_evicted_past_checkpoint"))
        elif restored is None and s.startup_reconcile:
            await self.requester.send(ReconcileRequest(reason="state_startup"))
        if not self.core.market_specs.specs:
            await self._ask_markets("state_start")
        self._market_sub = await self.nc.subscribe(MARKET_WILDCARD, cb=self.market.on_message)
        # The venue sends a book snapshot only on subscribe, and core NATS keeps nothing: ask the
        # feed to resubscribe our books (after the subscription reached the server, so the fresh
        # snapshots cannot slip past us).
        with contextlib.suppress(Exception):  # NATS slow: the periodic check asks again anyway
            await self.nc.flush(timeout=2)
        await self.resync.request(s.paradex_markets,
                                  "state_restored" if restored is not None else "state_start")
        await self._seed_hub(after)
        self.pipeline.start(after)
        self.seq_gate.advance(after)
        self.consumer = PullConsumer(self.nc, ACCOUNT_STREAM, s.durable, self._on_batch,
                                     batch=s.fetch_batch, expires_s=s.fetch_expires_s,
                                     may_pull=self.lease.valid, trace=s.trace)
        await self.consumer.start()
        self._tasks = [asyncio.create_task(self.market.flush_loop(), name="state-md-flush"),
                       asyncio.create_task(self._periodic_loop(), name="state-periodic"),
                       asyncio.create_task(self._resync_loop(), name="state-book-resync"),
                       asyncio.create_task(self._watch_lease(), name="state-lease-watch")]
        if s.checks:
            self._tasks.append(asyncio.create_task(
                run_checks(lambda: self.core, (self.inflight, self.repairs), self.requester,
                           s.checks_interval_s, active=self.lease.valid), name="state-checks"))
        self.started = True

    async def stop(self) -> None:
        """Stop consuming, flush market data, write a final checkpoint, end SSE streams."""
        if self._market_sub is not None:
            with contextlib.suppress(Exception):
                await self._market_sub.unsubscribe()
            self._market_sub = None
        if self.consumer is not None:
            await self.consumer.stop()
        await self.pipeline.stop()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks = []
        self.requester.cancel_later()
        if self._checkpoint_task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._checkpoint_task, WRITTEN_WAIT_S + 5)
        try:
            await self.market.flush()
        except Exception as exc:
            log.error("final market-data flush failed: %r", exc)
        if not self.lease.lost.is_set():  # a lost lease: the successor's checkpoints, not ours
            try:
                seq = await asyncio.wait_for(self.checkpoint(), WRITTEN_WAIT_S + 5)
                log.info("final checkpoint written at stream seq %d", seq)
            except Exception as exc:
                log.error("final checkpoint failed (the next start replays from the previous one): %r",
                          exc)
        await self.lease.stop()
        self.hub.close()
        self.gc.uninstall()
        self.started = False

    @property
    def decode_errors(self) -> int:
        """Undecodable bus messages (account and market data)."""
        return self.account_decode_errors + self.market.decode_errors

    @property
    def last_market_wall(self) -> float:
        return self.market.last_wall

    async def checkpoint(self) -> int:
        """Save the core as of now (after any checkpoint in progress); returns the sequence saved.

        The dump is built in small steps with the loop running between them (events keep being
        applied; the checkpoint still reflects the state at its start).
        """
        async with self._checkpoint_lock:
            self._since_checkpoint = 0
            self._last_checkpoint_t = time.monotonic()
            buffered = self.consumer.buffered if self.consumer is not None else 0
            covered = await self.horizon.covered_now(self.core.account_seq, buffered)
            # No DumpCache: it kept the encoded entry of every held record between checkpoints
            # (26 MB at 20 000 orders + 20 000 fills, the default limits) to save ~50 ms of CPU per
            # checkpoint, which come once per STATE_CHECKPOINT_INTERVAL_S (or 25 000 events).
            seq = await save_checkpoint(self.redis, self.checkpoint_key, self.core, None,
                                        self._wait_written, covered=covered,
                                        index=(self.keys.checkpoints, self.replica))
            self.checkpoint_seq = seq
            self.checkpoint_covered = max(seq, covered)
            self.checkpoints += 1
            memtrim.trim()  # the dump's segments were tens of MB: give the pages back
            return seq

    async def _wait_written(self, seq: int) -> None:
        # Redis down: the checkpoint fails (and is retried later) rather than waiting forever.
        await asyncio.wait_for(self.pipeline.wait_written(seq), WRITTEN_WAIT_S)

    def _checkpoint_soon(self) -> None:
        """Start a background checkpoint unless one is running."""
        if self._checkpoint_task is None or self._checkpoint_task.done():
            self._since_checkpoint = 0
            self._checkpoint_task = asyncio.create_task(self._safe_checkpoint(), name="state-checkpoint")

    # -------------------------------------------------------------------------------- account

    async def _on_batch(self, msgs: list[Any]) -> None:
        core = self.core
        changes: list[Encoded] = []
        actions: list[Action] = []
        applied = 0
        tracing = self.settings.trace
        for msg in msgs:
            seq = stream_seq(msg)
            try:
                event = decode_event(msg.data)
            except Exception as exc:
                self.account_decode_errors += 1
                await self._dead_letter(msg.subject, seq, msg.data, f"decode: {exc}")
                continue
            try:
                res = core.apply(seq, event)
            except Exception as exc:  # a core bug must not stop the stream; the event is kept
                self.account_apply_errors += 1
                log.exception("apply failed at stream seq %d", seq)
                await self._dead_letter(msg.subject, seq, msg.data, f"apply: {exc!r}")
                continue
            if res.dropped.startswith(INVALID):  # the core's guard refused its venue record
                await self._dead_letter(msg.subject, seq, msg.data, res.dropped)
            applied += 1
            if res.changes:
                self.index.apply(res.changes)
            for ch in res.changes:
                changes.append(encode_change("account", res.seq, ch))
            if tracing and res.changes:  # benchmarks only (shared.trace)
                _stamp_applied(changes, len(res.changes), msg)
            if res.actions:
                actions.extend(res.actions)
        if applied:
            self.last_account_wall = time.time()
        # Reads see the core now (Redis follows): release the requests waiting for these events.
        # A dead-lettered last event counts as reached too (it will never be applied).
        self.seq_gate.advance(max(core.account_seq, stream_seq(msgs[-1])))
        await self.pipeline.put(changes, core.account_seq, msgs[-1])
        if actions:
            await self.requester.perform(actions)
        self._since_checkpoint += applied
        if self._since_checkpoint >= self.settings.checkpoint_every_events:
            self._checkpoint_soon()

    async def _ask_markets(self, reason: str) -> None:
        try:
            await self.nc.publish(MARKETS_REQUEST, encode_markets_request(MarketsRequest(reason=reason)))
        except Exception as exc:  # the reconciler publishes them at its own start anyway
            log.warning("markets request not sent: %r", exc)

    async def _dead_letter(self, subject: str, seq: int, data: bytes, reason: str) -> None:
        self.dlq_count += 1
        log.error("dead letter %s seq=%d: %s", subject, seq, reason[:300])
        headers = {"Pdx-Original-Subject": subject, "Pdx-Original-Seq": str(seq),
                   "Pdx-Error": reason[:500].replace("\r", " ").replace("\n", " ")}
        try:
            await self.nc.publish(dlq_subject("state"), data, headers=headers)
        except Exception as exc:
            log.error("DLQ publish failed: %r", exc)

    def _market_snapshot(self) -> list[Encoded]:
        """The current value of every market key, as changes (an SSE client from another epoch)."""
        core = self.core
        tables: list[tuple[str, dict[str, Any]]] = [
            ("book", core.books), ("bbo", core.books), ("venue_bbo", core.bbo), ("trade", core.trades),
            ("summary", core.summary), ("funding", core.funding)]
        keys = [(kind, m) for kind, table in tables for m in sorted(table)]
        out = []
        for kind, market in keys:
            value = self.market.value(kind, market)
            if value is not None:
                out.append(Encoded("market", kind, market, core.market_seq, encode(value), False, None))
        return out

    async def _seed_hub(self, restored_seq: int) -> None:
        """Let SSE clients resume across a restart: the hub's buffer from the Redis change stream."""
        redis_seq: int | None = None
        try:
            raw = await self.redis.get(self.keys.seq)
            redis_seq = int(raw) if raw is not None else None
            tail = await read_tail(self.redis, self.keys.changes, self.settings.sse_replay_max)
        except Exception as exc:  # Redis down: clients older than the checkpoint get a reset
            log.warning("SSE replay buffer not seeded from %s: %r", self.keys.changes, exc)
            tail, redis_seq = [], None
        kept = self.hub.seed(tail, restored_seq, redis_seq)
        log.info("SSE replay buffer: %d changes from Redis, resumable after account seq %d", kept,
                 self.hub.floor)

    def _after_rewrite(self, seq: int) -> None:
        """Redis was rewritten as of ``seq``: its checkpoint and market data went with the loss."""
        self.market.mark_all()
        self.checkpoint_seq = 0  # whatever checkpoint Redis held may be gone: write one soon
        self._checkpoint_soon()

    # ------------------------------------------------------------------------------- periodic

    async def _periodic_loop(self) -> None:
        s = self.settings
        horizon_every = max(1, round(s.horizon_check_s / s.health_interval_s))
        ticks = 0
        ttl_ms = int(max(5.0, 5 * s.health_interval_s) * 1000)
        while True:
            await asyncio.sleep(s.health_interval_s)
            ticks += 1
            try:
                self.pipeline.probe()  # a wiped Redis is noticed even when no event arrives
                self.pages.records.prune(self.core)  # encoded records of evicted entities go
                await self.writer.write_health(health_body(self), self.replica, ttl_ms)
                if (self.core.account_seq != self.checkpoint_seq
                        and time.monotonic() - self._last_checkpoint_t >= s.checkpoint_interval_s):
                    self._checkpoint_soon()
                elif (ticks % horizon_every == 0
                      and await self.horizon.needs_checkpoint(self.checkpoint_covered)):
                    self._checkpoint_soon()
            except Exception as exc:
                log.error("periodic health/checkpoint failed: %r", exc)

    async def _watch_lease(self) -> None:
        await self.lease.lost.wait()
        self.fatal_reason = (f"lease on durable {self.settings.durable} taken over by another process; "
                             "stopping")
        log.error("state: %s", self.fatal_reason)
        if self.consumer is not None:
            await self.consumer.stop()
        self.fatal.set()

    async def _resync_loop(self) -> None:
        period = max(0.05, min(0.5, self.settings.book_resync_after_s / 4))
        while True:
            await asyncio.sleep(period)
            try:
                await self.resync.check(self.core.books)
            except Exception as exc:
                log.error("book resync check failed: %r", exc)

    async def _safe_checkpoint(self) -> None:
        try:
            await self.checkpoint()
        except Exception as exc:
            log.error("checkpoint failed: %r", exc)

    async def consumer_lag(self) -> tuple[int, int]:
        """(this account's messages in the stream not yet applied, ACCOUNT stream last sequence)."""
        info = await self.js.consumer_info(ACCOUNT_STREAM, self.settings.durable, timeout=1.0)
        stream = await self.js.stream_info(ACCOUNT_STREAM)
        buffered = self.consumer.buffered if self.consumer else 0
        lag = int(info.num_pending) + int(info.num_ack_pending or 0) + buffered
        return lag, int(stream.state.last_seq)
