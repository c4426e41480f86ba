"""The bus side of the feed: bounded lanes between the socket reader and NATS.

The reader calls :meth:`BusSink.put`, which never waits:

* account events (orders, fills, positions, account, balances, tradebusts, feed status) go to an
  ordered lane published one by one to JetStream (ACCOUNT stream, ``Nats-Msg-Id``), retried until
  NATS takes them. The lane holds at most ``account_max`` events; beyond that the event is
  dropped LOUDLY, counted, and :attr:`overflowed` is set so the connection loop forces a reconnect
  and a reconciliation (the venue replays nothing; REST repairs the hole).
* market data goes to a lane of at most ``market_max`` events (the newest is dropped and counted
  when full) and is published in batches: core NATS publishes on the MARKET stream's subjects
  (``core``: the stream stores them, no ack round trip) or JetStream ``publish_async`` batches
  whose acks are awaited per batch (``jetstream``). bench.feed compares both. A message whose
  subject cannot be built (validation should have refused its record) is dropped, counted and
  logged; it never stops the lane.
* dead letters (refused records, :mod:`shared.bus.deadletter`) go to a lane of at most
  ``dead_max`` entries, published over core NATS on ``subjects.FEED_DLQ`` (the DLQ stream stores
  them); beyond the bound they are dropped and counted (a flood must not eat the memory).

The three publishers are supervised tasks (:mod:`services.feed.supervise`); the time of the
last publish per event kind feeds ``/healthz``.

Tracing (``trace=True``, benchmarks only, :mod:`shared.trace`): the reader goes through
:meth:`BusSink.traced`, which notes each frame's ``sim_sent_ns`` for the account events it makes;
each account message then carries the ``Pdx-Trace`` header (send stamp, receive, publish) and its
JetStream ack time is published on ``subjects.FEED_TRACE`` in batches. Off, none of it runs.

Deviation from DESIGN.md ("every message has a Nats-Msg-Id"): market data published over core
NATS carries no ``Nats-Msg-Id``. Those publishes are fire-and-forget and never retried, so a
dedup id protects nothing there, and building the header cost ~3 us a message (about a third of
the feed's per-frame budget). JetStream-mode market data and every account event keep their ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import msgspec

from services.feed.core.wire import Prepared
from services.feed.metrics import FeedMetrics
from services.feed.supervise import Supervisor
from shared.bus import ACCOUNT_EVENTS, EventPublisher, msg_id, subject_for, subjects
from shared.bus.deadletter import DeadLetter, encode_dead_letter
from shared.bus.events import BookEvent, Event, encode_event, kind_of
from shared.bus.publish import MSG_ID_HEADER, market_of
from shared.errors import BusError
from shared.logthrottle import LogThrottle
from shared.trace import TRACE_HEADER, feed_header, sim_stamp

log = logging.getLogger("feed.sink")
Receive = Callable[[str | bytes, int], list[Event | Prepared]]
_ACCOUNT_TYPES = frozenset(ACCOUNT_EVENTS)  # a set lookup beats isinstance over 18 classes


class BusSink:
    """Two publishing lanes over one NATS connection ``nc`` for ``account``'s events."""

    def __init__(self, nc: Any, account: str, metrics: FeedMetrics, *, market_mode: str = "core",
                 account_max: int = 100_000, market_max: int = 20_000, dead_max: int = 10_000,
                 publish_timeout_s: float = 5.0, retry_s: float = 0.2, trace: bool = False,
                 account_inflight: int = 1) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.account = account
        self.metrics = metrics
        self.market_mode = market_mode
        self.account_max = account_max
        self.market_max = market_max
        self.dead_max = dead_max
        self.retry_s = retry_s
        self.publish_timeout_s = publish_timeout_s
        self.account_inflight = max(1, account_inflight)
        self.publisher = EventPublisher(self.js, account, timeout_s=publish_timeout_s, attempts=1)
        self.account_lane: deque[Event] = deque()
        self.market_lane: deque[Event | Prepared] = deque()
        self.dead_lane: deque[DeadLetter] = deque()
        self._account_ready = asyncio.Event()
        self._market_ready = asyncio.Event()
        self._dead_ready = asyncio.Event()
        self.overflowed = False  # set on an account-lane overflow; the connection loop clears it
        self.account_lost = 0
        self.market_dropped = 0
        self.published_account = 0
        self.published_market = 0
        self.dead_published = 0
        self.dead_dropped = 0
        self.last_account_error = ""
        #: monotonic time of the last publish per event class (``/healthz`` reports it by kind)
        self.last_published: dict[type, float] = {}
        self.last_market_publish: float | None = None
        self._supervisor: Supervisor | None = None
        self._busy = 0  # lanes with a batch being published
        self._bad_subjects = LogThrottle(log)
        self.trace = trace
        self._sim_ns: dict[int, int] = {}  # tracing: id(queued account event) -> its frame's stamp
        self._acks: list[tuple[int, int, int]] = []  # tracing: (stream seq, publish, ack) to report
        # the batched core publish writes nats-py's PUB commands itself (a nats-py Client only)
        self._raw = all(hasattr(nc, name) for name in ("_send_command", "_flush_pending", "_flush_queue",
                                                        "_max_payload", "stats"))
        # the account window hands its messages to the socket itself (a nats-py Client only)
        self._direct = all(hasattr(nc, name) for name in ("_pending", "_pending_data_size", "_transport"))
        self._subject_bytes: dict[str, bytes] = {}  # subject -> b"PUB <subject>  "
        self._size_texts: dict[int, bytes] = {}  # payload size -> b"<size>\r\n"

    # --- reader side (never waits) -----------------------------------------------------------

    def put(self, event: Event | Prepared) -> None:
        """Queue ``event`` (or a prepared market-data message) on its lane."""
        if type(event) in _ACCOUNT_TYPES:
            self.put_account(event)  # type: ignore[arg-type]
            return
        lane = self.market_lane
        if not lane and self.market_max > 0:  # a lane with messages has woken its publisher already
            lane.append(event)
            self._market_ready.set()
            return
        if len(lane) >= self.market_max:
            self.market_dropped += 1
            self.metrics.dropped.labels("market", "queue_full").inc()
            return
        lane.append(event)

    def traced(self, receive: Receive) -> Receive:
        """``receive`` (the protocol's frame reader) noting each frame's send stamp (tracing)."""
        stamps = self._sim_ns

        def receive_traced(frame: str | bytes, recv_ns: int) -> list[Event | Prepared]:
            events = receive(frame, recv_ns)
            sim = sim_stamp(frame)
            if sim:
                for event in events:
                    if type(event) in _ACCOUNT_TYPES:  # every event returned is put next
                        stamps[id(event)] = sim
            return events
        return receive_traced

    def put_account(self, event: Event) -> None:
        """Queue an account event; on overflow log loudly, count and flag a forced reconnect."""
        if len(self.account_lane) >= self.account_max:
            if self.trace:
                self._sim_ns.pop(id(event), None)
            self.account_lost += 1
            self.overflowed = True
            self.metrics.dropped.labels("account", "buffer_full").inc()
            log.critical("ACCOUNT EVENT LOST: buffer full (%d events, NATS %s); %s dropped; forcing a "
                         "reconnect and a reconciliation", len(self.account_lane),
                         "up" if self.nc.is_connected else "DOWN", type(event).__name__)
            return
        self.account_lane.append(event)
        self._account_ready.set()

    def put_dead_letters(self, letters: list[DeadLetter]) -> None:
        """Queue dead letters for ``subjects.FEED_DLQ``; beyond ``dead_max`` they are counted only."""
        room = self.dead_max - len(self.dead_lane)
        if room < len(letters):
            lost = len(letters) - max(room, 0)
            self.dead_dropped += lost
            self.metrics.dead_letters.labels("dropped").inc(lost)
            letters = letters[:max(room, 0)]
        if letters:
            self.dead_lane.extend(letters)
            self._dead_ready.set()

    @property
    def depth(self) -> int:
        """Events waiting in the account and market lanes."""
        return len(self.account_lane) + len(self.market_lane)

    def published_ages_ms(self, now: float) -> dict[str, int]:
        """Milliseconds since the last publish, per event kind (``book``, ``order``...)."""
        return {kind_of(cls): int((now - t) * 1000) for cls, t in sorted(
            self.last_published.items(), key=lambda kv: kind_of(kv[0]))}

    @property
    def healthy(self) -> bool:
        """NATS connected and the account lane not backed up by failures."""
        return bool(self.nc.is_connected) and not self.last_account_error

    # --- publisher side ------------------------------------------------------------------------

    def start(self, supervisor: Supervisor | None = None) -> None:
        """Start the three publisher tasks under ``supervisor`` (a private one by default)."""
        sup = self._supervisor = supervisor or Supervisor()
        sup.spawn("account-publisher", self._run_account)
        sup.spawn("market-publisher", self._run_market)
        sup.spawn("dlq-publisher", self._run_dead_letters)

    async def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until every lane is empty (or ``timeout_s``); True when they are."""
        for _ in range(max(1, int(timeout_s / 0.01))):
            if not self.depth and not self.dead_lane and not self._busy:
                return True
            await asyncio.sleep(0.01)
        return not self.depth and not self._busy

    async def stop(self) -> None:
        """Cancel the publisher tasks (call :meth:`flush` first to publish what is queued)."""
        if self._supervisor is not None:
            await self._supervisor.stop("account-publisher", "market-publisher", "dlq-publisher")
            self._supervisor = None

    async def _run_account(self) -> None:
        lane, ready, m = self.account_lane, self._account_ready, self.metrics
        latency = m.publish_latency.labels("account")
        published = m.published.labels("account")
        depth = m.queue_depth.labels("account")
        while True:
            if not lane:
                ready.clear()
                await ready.wait()
            error: BusError | None = None
            if self.account_inflight > 1:
                stored, error = await self._publish_window(
                    [lane[i] for i in range(min(len(lane), self.account_inflight))])
            else:
                stored = 1
                try:
                    if self.trace:
                        await self._publish_traced(lane[0], len(lane) == 1)
                    else:
                        await self.publisher.publish(lane[0])
                except BusError as exc:
                    stored, error = 0, exc
            if stored and self.last_account_error:
                log.warning("account publishing recovered, %d queued", len(lane) - stored)
                self.last_account_error = ""
            for _ in range(stored):
                event = lane.popleft()
                if self.trace:
                    self._sim_ns.pop(id(event), None)
                self.published_account += 1
                self.last_published[type(event)] = time.monotonic()
                published.inc()
                if event.recv_ns:
                    latency.observe(max(0.0, (time.time_ns() - event.recv_ns) / 1e9))
            depth.set(len(lane))
            if error is not None:
                if not self.last_account_error:
                    log.error("account publish failing, %d queued, retrying: %s", len(lane), error)
                self.last_account_error = str(error)
                await asyncio.sleep(self.retry_s)

    async def _publish_window(self, window: list[Event]) -> tuple[int, BusError | None]:
        """Publish ``window`` (the head of the lane) pipelined on the one connection; how many of
        it, from the first, JetStream acknowledged (and the error that stopped the rest).

        One connection delivers the messages in order and the stream stores them in that order,
        so after a failure what is stored is normally the acked prefix plus some of what follows
        it; the retry resends from the first unacked event (the same bytes, so the same
        ``Nats-Msg-Id``), the duplicate window drops the copies and the order holds. A refusal of
        one message whose successors were stored (a clustered stream changing leader) would
        reorder, which the state's merge tolerates (see ``account_inflight`` in the feed settings)."""
        futures: list[asyncio.Future[Any]] = []
        stamps: list[list[int]] = []
        error: BusError | None = None
        subject = ""
        try:
            for event in window:
                subject, payload, headers = self.publisher.prepare(event)
                if self.trace:
                    pub_ns = time.time_ns()
                    headers[TRACE_HEADER] = feed_header(self._sim_ns.get(id(event), 0), event.recv_ns, pub_ns)
                    stamp = [pub_ns, 0]
                    stamps.append(stamp)
                fut = await self.js.publish_async(subject, payload, headers=headers)
                if self.trace:
                    fut.add_done_callback(lambda _f, st=stamp: st.__setitem__(1, time.time_ns()))
                futures.append(fut)
        except Exception as exc:  # NATS refused the publish itself: what went out may still be acked
            error = BusError(subject, f"publish failed: {exc!r}")
        if futures:
            self._write_now()
            _, pending = await asyncio.wait(futures, timeout=self.publish_timeout_s)
            for fut in pending:
                fut.cancel()
        stored = 0
        for i, fut in enumerate(futures):
            if fut.cancelled() or fut.exception() is not None:
                why = "timeout" if fut.cancelled() else repr(fut.exception())
                error = error or BusError(subject, f"no ack: {why}")
                break
            stored += 1
            if self.trace:
                self._acks.append((int(fut.result().seq), stamps[i][0], stamps[i][1]))
        if self.trace and self._acks and (stored == len(self.account_lane) or len(self._acks) >= 100):
            acks, self._acks = self._acks, []
            with contextlib.suppress(Exception):  # tracing is best effort: never holds the lane
                await self.nc.publish(subjects.FEED_TRACE, msgspec.json.encode(acks))
        return stored, error

    def _write_now(self) -> None:
        """Hand what the connection has pending (the window just published) to its socket now.

        nats-py writes a publish on its flusher task's next turn, and that turn waits behind every
        ready task (the reader's next frames, the market lane's batch): publish -> socket write
        measured p50 0.073 ms in bench.e2e at 1 000 events/s. Written here, the flusher finds
        nothing pending; the order of the bytes is kept (the flusher writes what it took before
        it waits for the socket to drain). Not while the client is disconnected or reconnecting:
        its pending buffer is then resent on the new connection by nats-py."""
        nc = self.nc
        if not self._direct or not nc._pending_data_size or not nc.is_connected or nc._transport is None:
            return
        try:
            nc._transport.writelines(nc._pending[:])
        except Exception as exc:  # the socket is failing: nats-py's own read/flush sees it too
            log.debug("direct write failed, the flusher will retry: %r", exc)
            return
        nc._pending = []
        nc._pending_data_size = 0

    async def _publish_traced(self, event: Event, last: bool) -> None:
        """Publish ``event`` with its trace header; report the ack (in batches, or when ``last``)."""
        subject, payload, headers = self.publisher.prepare(event)
        pub_ns = time.time_ns()
        headers[TRACE_HEADER] = feed_header(self._sim_ns.get(id(event), 0), event.recv_ns, pub_ns)
        seq = await self.publisher.publish_raw(subject, payload, headers)
        self._acks.append((seq, pub_ns, time.time_ns()))
        if last or len(self._acks) >= 100:
            acks, self._acks = self._acks, []
            try:
                await self.nc.publish(subjects.FEED_TRACE, msgspec.json.encode(acks))
            except Exception as exc:  # tracing is best effort: never holds the lane
                log.debug("trace acks not published: %r", exc)

    async def _run_market(self) -> None:
        lane, ready, m = self.market_lane, self._market_ready, self.metrics
        latency = m.publish_latency.labels("market")
        published = m.published.labels("market")
        depth = m.queue_depth.labels("market")
        dropped = m.dropped.labels("market", "nats")
        core = self.market_mode == "core"
        subject_cache: dict[tuple[type, str], str] = {}  # subject_for validates tokens: ~2 us a call
        last = self.last_published
        while True:
            if not lane:
                ready.clear()
                await ready.wait()
            depth.set(len(lane))
            batch = [lane.popleft() for _ in range(min(len(lane), 1000))]
            self._busy += 1
            try:
                ok, futures = await self._publish_batch(batch, core, subject_cache)
                if futures:
                    results = await asyncio.gather(*futures, return_exceptions=True)
                    failed = sum(1 for r in results if isinstance(r, BaseException))
                    ok -= failed
                    self.market_dropped += failed
                    dropped.inc(failed)
            except Exception:  # a bug: the batch is lost (counted); the supervisor restarts the lane
                self.market_dropped += len(batch)
                m.dropped.labels("market", "publisher_failed").inc(len(batch))
                raise
            finally:
                self._busy -= 1
            now = time.monotonic()
            if ok:
                self.last_market_publish = now
                for cls in set(map(type, batch)):  # (a set in C: not a Python step per event)
                    last[BookEvent if cls is Prepared else cls] = now
            self.published_market += ok
            published.inc(ok)
            latency.observe(max(0.0, (time.time_ns() - batch[-1].recv_ns) / 1e9))
            await asyncio.sleep(0)  # let the reader run between batches

    async def _publish_batch(self, batch: list[Event | Prepared], core: bool,
                             subject_cache: dict[tuple[type, str], str]) -> tuple[int, list[Any]]:
        """Publish one batch; ``(published, JetStream ack futures)``. A message without a valid
        subject or refused by NATS is dropped and counted, never fatal to the lane."""
        if core and self._raw and self.nc.is_connected:
            return await self._publish_core_batch(batch, subject_cache), []
        nc, js, account = self.nc, self.js, self.account
        dropped = self.metrics.dropped.labels("market", "nats")
        futures = []
        ok = 0
        for event in batch:
            try:
                if isinstance(event, Prepared):
                    subject, payload = event.subject, event.payload
                else:
                    payload = encode_event(event)
                    key = (type(event), market_of(event))
                    subject = subject_cache.get(key) or subject_cache.setdefault(
                        key, subject_for(event, account))
            except ValueError as exc:  # not a subject token: validation should have refused it
                self.market_dropped += 1
                self.metrics.dropped.labels("market", "bad_subject").inc()
                self._bad_subjects.log(time.monotonic(), logging.ERROR, "bad_subject",
                                       "market event dropped, no valid subject: %s", exc)
                continue
            try:
                if core:  # never retried: a dedup id would protect nothing (module docstring)
                    await nc.publish(subject, payload)
                else:
                    headers = {MSG_ID_HEADER: msg_id(subject, payload)}
                    futures.append(await js.publish_async(subject, payload, headers=headers))
                ok += 1
            except Exception as exc:  # NATS down or its pending buffer full: market data may go
                self.market_dropped += 1
                dropped.inc()
                log.debug("market publish failed: %r", exc)
        if len(subject_cache) > 4096:
            subject_cache.clear()
        return ok, futures

    def _subject_payload(self, event: Event | Prepared, subject_cache: dict[tuple[type, str], str]
                         ) -> tuple[str, bytes] | None:
        """Subject and payload of a market message; None (dropped, counted, logged) without a
        valid subject."""
        if isinstance(event, Prepared):
            return event.subject, event.payload
        try:
            payload = encode_event(event)
            key = (type(event), market_of(event))
            subject = subject_cache.get(key) or subject_cache.setdefault(
                key, subject_for(event, self.account))
        except ValueError as exc:  # not a subject token: validation should have refused it
            self.market_dropped += 1
            self.metrics.dropped.labels("market", "bad_subject").inc()
            self._bad_subjects.log(time.monotonic(), logging.ERROR, "bad_subject",
                                   "market event dropped, no valid subject: %s", exc)
            return None
        return subject, payload

    async def _publish_core_batch(self, batch: list[Event | Prepared],
                                  subject_cache: dict[tuple[type, str], str]) -> int:
        """Core NATS publishes of a whole batch as one write: the very ``PUB`` commands
        ``nc.publish`` writes one by one (nats-py 2.16: ``PUB <subject>  <size>``, payload), joined
        and handed to the client's pending buffer once, with its counters kept. A message
        ``nc.publish`` would refuse (above the server's max payload) goes through it alone, so it
        is refused and counted the same way. ~5 us a message less than one awaited publish each.
        Each message is four parts (``PUB <subject>  ``, ``<size>\r\n``, payload, ``\r\n``), the
        first two cached: no formatting per message."""
        nc = self.nc
        max_payload = nc._max_payload
        names = self._subject_bytes
        sizes = self._size_texts
        parts: list[bytes] = []
        size = 0
        ok = 0
        batched = 0  # messages in parts (four parts each)
        for event in batch:
            if type(event) is Prepared:  # (the book fast paths': no call, no % per message)
                subject, payload, _ = event
            else:
                sp = self._subject_payload(event, subject_cache)
                if sp is None:
                    continue
                subject, payload = sp
            n = len(payload)
            if n > max_payload:
                ok += await self._publish_one(subject, payload)
                continue
            name = names.get(subject)
            if name is None:
                if len(names) > 4096:
                    names.clear()
                name = names[subject] = b"PUB %b  " % subject.encode()
            text = sizes.get(n)
            if text is None:
                if len(sizes) > 4096:
                    sizes.clear()
                text = sizes[n] = b"%d\r\n" % n
            parts += (name, text, payload, b"\r\n")
            size += n
            batched += 1
        if parts:
            try:
                await nc._send_command(b"".join(parts))
                nc.stats["out_msgs"] += batched
                nc.stats["out_bytes"] += size
                if nc._flush_queue is not None and nc._flush_queue.empty():
                    await nc._flush_pending()
                ok += batched
            except Exception as exc:  # the buffer refused the write: the batch's messages are lost
                self.market_dropped += batched
                self.metrics.dropped.labels("market", "nats").inc(batched)
                log.debug("market batch publish failed: %r", exc)
        return ok

    async def _publish_one(self, subject: str, payload: bytes) -> int:
        """One core publish through ``nc.publish``: 1, or 0 when refused (dropped, counted)."""
        try:
            await self.nc.publish(subject, payload)
        except Exception as exc:  # NATS down, or the payload above its max: market data may go
            self.market_dropped += 1
            self.metrics.dropped.labels("market", "nats").inc()
            log.debug("market publish failed: %r", exc)
            return 0
        return 1

    async def _run_dead_letters(self) -> None:
        lane, ready, nc = self.dead_lane, self._dead_ready, self.nc
        published = self.metrics.dead_letters.labels("published")
        failed = self.metrics.dead_letters.labels("failed")
        while True:
            if not lane:
                ready.clear()
                await ready.wait()
            letter = lane.popleft()
            try:
                await nc.publish(subjects.FEED_DLQ, encode_dead_letter(letter))
            except Exception as exc:  # NATS down: the count and the log line remain
                failed.inc()
                log.debug("dead letter not published: %r", exc)
                continue
            self.dead_published += 1
            published.inc()
            if not self.dead_published % 100:
                await asyncio.sleep(0)  # a long lane must not starve the reader
