"""The state service's async shell: stream in, fold with the pure core, Redis/SSE/requests out.

Flow per ACCOUNT batch: decode each message (malformed ones go to the DLQ), ``core.apply``,
write every change in one Redis MULTI/EXEC (retrying until Redis takes it), ack the batch
(AckPolicy.ALL), push the changes to SSE clients, send the ReconcileRequests the core asked for,
and checkpoint every ``checkpoint_every_events`` events. Market data arrives on core NATS
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

from services.state.actions import ReconcileRequester
from services.state.checkpoint import load_checkpoint, save_checkpoint
from services.state.consumer import PullConsumer, bind_durable
from services.state.core import Action, StateConfig, StateCore
from services.state.core.codec import DumpCache
from services.state.encode import Encoded, encode, encode_change
from services.state.gcwatch import GcWatch
from services.state.hub import ChangeHub, read_tail
from services.state.pipeline import WritePipeline
from services.state.redis_writer import RedisWriter
from services.state.resync import BookResyncer
from services.state.seqgate import SeqGate
from services.state.settings import Settings
from services.state.views import health_body
from shared.bus import decode_event, ensure_streams
from shared.bus.events import BboEvent, BookEvent, BookGap, FundingEvent, SummaryEvent, TradeEvent
from shared.bus.publish import market_of
from shared.bus.requests import ReconcileRequest
from shared.bus.subjects import ACCOUNT_STREAM, MARKET_WILDCARD, account_filter, dlq_subject
from shared.rediskeys import Keys

log = logging.getLogger("state")

WRITTEN_WAIT_S = 10.0
_MD_KIND = {BookEvent: "book", BookGap: "book", BboEvent: "venue_bbo", TradeEvent: "trade",
            SummaryEvent: "summary", FundingEvent: "funding"}


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
                                  fill_retention_ms=settings.fill_retention_ms)
        self.core = StateCore(self.config)
        self.writer = RedisWriter(redis, self.keys, changes_maxlen=settings.changes_maxlen,
                                  md_changes_maxlen=settings.md_changes_maxlen,
                                  recent_fills_max=settings.recent_fills_max)
        self.hub = ChangeHub(settings.sse_queue_max, settings.sse_replay_max)
        self.hub.market_snapshot = self._market_snapshot
        self.pipeline = WritePipeline(self.writer, self.hub)
        #: HTTP reads with ``min_seq`` wait on it (read-your-writes); advanced after each batch.
        self.seq_gate = SeqGate()
        self.requester = ReconcileRequester(nc, settings.reconcile_coalesce_s)
        self.resync = BookResyncer(nc, settings.paradex_markets, after_s=settings.book_resync_after_s,
                                   min_interval_s=settings.book_resync_min_interval_s)
        self.consumer: PullConsumer | None = None
        self.dlq_count = 0
        self.decode_errors = 0
        self.apply_errors = 0
        self.market_events = 0
        self.last_account_wall = 0.0
        self.last_market_wall = 0.0
        self.restored_seq: int | None = None
        self.checkpoint_seq = 0
        self.checkpoints = 0
        self._since_checkpoint = 0
        self._last_checkpoint_t = time.monotonic()
        self._dump_cache = DumpCache()
        self._checkpoint_lock = asyncio.Lock()
        self._checkpoint_task: asyncio.Task[None] | None = None
        self.gc = GcWatch()
        self._md_dirty: dict[tuple[str, str], None] = {}
        self._market_sub: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self.started = False

    # ------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Load the checkpoint, bind the durable, subscribe, start the background tasks."""
        s = self.settings
        self.gc.install()
        await ensure_streams(self.js)
        restored = await load_checkpoint(self.redis, self.keys.checkpoint, self.config)
        if restored is not None:
            self.core = restored
            self.restored_seq = self.checkpoint_seq = restored.account_seq
        after = self.restored_seq or 0
        how = await bind_durable(self.js, ACCOUNT_STREAM, s.durable, account_filter(s.account_token),
                                 after, max_ack_pending=max(20_000, 4 * s.fetch_batch))
        log.info("state: %s durable %s from stream seq %d (%s)", how, s.durable, after + 1,
                 "checkpoint" if restored is not None else "no checkpoint: full replay")
        if restored is None and s.startup_reconcile:
            await self.requester.send(ReconcileRequest(reason="state_startup"))
        self._market_sub = await self.nc.subscribe(MARKET_WILDCARD, cb=self._on_market)
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
                                     batch=s.fetch_batch, expires_s=s.fetch_expires_s)
        await self.consumer.start()
        self._tasks = [asyncio.create_task(self._flush_market_loop(), name="state-md-flush"),
                       asyncio.create_task(self._periodic_loop(), name="state-periodic"),
                       asyncio.create_task(self._resync_loop(), name="state-book-resync")]
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
        if self._checkpoint_task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._checkpoint_task, WRITTEN_WAIT_S + 5)
        with contextlib.suppress(Exception):
            await self._flush_market()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.checkpoint(), WRITTEN_WAIT_S + 5)
        self.hub.close()
        self.gc.uninstall()
        self.started = False

    async def checkpoint(self) -> int:
        """Save the core as of now (after any checkpoint in progress); returns the sequence saved.

        The dump is built in small steps with the loop running between them (events keep being
        applied; the checkpoint still reflects the state at its start).
        """
        async with self._checkpoint_lock:
            self._since_checkpoint = 0
            self._last_checkpoint_t = time.monotonic()
            seq = await save_checkpoint(self.redis, self.keys.checkpoint, self.core, self._dump_cache,
                                        self._wait_written)
            self.checkpoint_seq = seq
            self.checkpoints += 1
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
        for msg in msgs:
            seq = msg.metadata.sequence.stream
            try:
                event = decode_event(msg.data)
            except Exception as exc:
                self.decode_errors += 1
                await self._dead_letter(msg.subject, seq, msg.data, f"decode: {exc}")
                continue
            try:
                res = core.apply(seq, event)
            except Exception as exc:  # a core bug must not stop the stream; the event is kept
                self.apply_errors += 1
                log.exception("apply failed at stream seq %d", seq)
                await self._dead_letter(msg.subject, seq, msg.data, f"apply: {exc!r}")
                continue
            applied += 1
            for ch in res.changes:
                changes.append(encode_change("account", res.seq, ch))
            if res.actions:
                actions.extend(res.actions)
        if applied:
            self.last_account_wall = time.time()
        # Reads see the core now (Redis follows): release the requests waiting for these events.
        # A dead-lettered last event counts as reached too (it will never be applied).
        self.seq_gate.advance(max(core.account_seq, msgs[-1].metadata.sequence.stream))
        await self.pipeline.put(changes, core.account_seq, msgs[-1])
        if actions:
            await self.requester.perform(actions)
        self._since_checkpoint += applied
        if self._since_checkpoint >= self.settings.checkpoint_every_events:
            self._checkpoint_soon()

    async def _dead_letter(self, subject: str, seq: int, data: bytes, reason: str) -> None:
        self.dlq_count += 1
        log.error("dead letter %s seq=%d: %s", subject, seq, reason[:300])
        headers = {"Pdx-Original-Subject": subject, "Pdx-Original-Seq": str(seq),
                   "Pdx-Error": reason[:500].replace("\r", " ").replace("\n", " ")}
        try:
            await self.nc.publish(dlq_subject("state"), data, headers=headers)
        except Exception as exc:
            log.error("DLQ publish failed: %r", exc)

    # --------------------------------------------------------------------------------- market

    async def _on_market(self, msg: Any) -> None:
        try:
            event = decode_event(msg.data)
            kind = _MD_KIND[type(event)]
            market = market_of(event)
        except Exception as exc:
            self.decode_errors += 1
            await self._dead_letter(msg.subject, 0, msg.data, f"decode: {exc}")
            return
        self.market_events += 1
        try:
            res = self.core.apply(self.core.market_seq + 1, event)
        except Exception as exc:
            self.apply_errors += 1
            await self._dead_letter(msg.subject, 0, msg.data, f"apply: {exc!r}")
            return
        self.last_market_wall = time.time()
        if res.changes:
            self._md_dirty[(kind, market)] = None
            if kind == "book":
                self._md_dirty[("bbo", market)] = None

    def market_value(self, kind: str, market: str) -> Any:
        """The current value behind ``pdx:md:<kind>:<market>`` (same as HTTP serves)."""
        core = self.core
        if kind == "book":
            return core.get_book(market, self.settings.book_depth).value
        if kind == "bbo":
            return core.get_bbo(market).value
        if kind == "venue_bbo":
            return core.bbo.get(market)
        if kind == "trade":
            trades = core.trades.get(market)
            return trades[-1] if trades else None
        if kind == "summary":
            return core.summary.get(market)
        return core.funding.get(market)

    def _market_snapshot(self) -> list[Encoded]:
        """The current value of every market key, as changes (an SSE client from another epoch)."""
        core, seq = self.core, self.core.market_seq
        keys = [("book", m) for m in sorted(core.books)] + [("bbo", m) for m in sorted(core.books)]
        keys += [(kind, m) for kind, table in (("venue_bbo", core.bbo), ("trade", core.trades),
                                               ("summary", core.summary), ("funding", core.funding))
                 for m in sorted(table)]
        out = []
        for kind, market in keys:
            value = self.market_value(kind, market)
            if value is not None:
                out.append(Encoded("market", kind, market, seq, encode(value), False, None))
        return out

    async def _seed_hub(self, restored_seq: int) -> None:
        """Let SSE clients resume across a restart: the hub's buffer from the Redis change stream."""
        try:
            tail = await read_tail(self.redis, self.keys.changes, self.settings.sse_replay_max)
        except Exception as exc:  # Redis down: clients older than the checkpoint get a reset
            log.warning("SSE replay buffer not seeded from %s: %r", self.keys.changes, exc)
            tail = []
        kept = self.hub.seed(tail, restored_seq)
        log.info("SSE replay buffer: %d changes from Redis, resumable after account seq %d", kept,
                 self.hub.floor)

    async def _flush_market(self) -> None:
        if not self._md_dirty:
            return
        dirty, self._md_dirty = self._md_dirty, {}
        seq = self.core.market_seq
        values = [(kind, market, seq, encode(self.market_value(kind, market))) for kind, market in dirty]
        await self.writer.write_market(values)
        self.hub.publish(Encoded("market", kind, market, seq, value, False, None)
                         for kind, market, seq, value in values)

    async def _flush_market_loop(self) -> None:
        period = self.settings.md_flush_interval_s
        while True:
            await asyncio.sleep(period)
            try:
                await self._flush_market()
            except Exception as exc:
                log.error("market flush failed: %r", exc)

    # ------------------------------------------------------------------------------- periodic

    async def _periodic_loop(self) -> None:
        s = self.settings
        while True:
            await asyncio.sleep(s.health_interval_s)
            try:
                await self.writer.write_health(health_body(self))
                if (self.core.account_seq != self.checkpoint_seq
                        and time.monotonic() - self._last_checkpoint_t >= s.checkpoint_interval_s):
                    self._checkpoint_soon()
            except Exception as exc:
                log.error("periodic health/checkpoint failed: %r", exc)

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
