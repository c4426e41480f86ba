"""The connection loop: connect, authenticate, subscribe, read, reconnect (the thin async shell).

Pattern of websockets' own ``async for ws in connect(...)``: one session per connection, a capped
and jittered backoff between sessions (``shared.paradex.retry``; the failure count is forgotten
once a connection stayed up ``stable_after_s``). Each session:

1. takes a JWT from the JWT source (renewed when due), opens the socket, bumps the epoch
   (status ``authenticating``) and sends ``auth``;
2. the protocol core answers the auth reply with every subscription (status ``connected``), and
   the loop asks the reconciler for a snapshot (core NATS, no reply awaited);
3. reads frames: each goes through the protocol core and its events to the bus sink, which never
   waits; requests the core queues (book resubscriptions) are sent at once;
4. ends on close, silence (no frame for ``silence_timeout_s`` while connected), no auth reply
   within ``reply_timeout_s``, a book left without a snapshot for ``reply_timeout_s`` (after a
   subscription or a resubscription), a refused JWT
   (40110/40111: the token is invalidated, the next session fetches a new one), an account-lane
   overflow in the sink (forced reconnect + reconciliation), a frame above ``max_size`` or stop.

Bounds: websockets' ``max_size`` (largest frame, bytes) and ``max_queue`` (frames buffered before
the socket stops being read) are set, so a hostile peer cannot make us hold unbounded memory.
Between sessions :func:`services.feed.failures.classify` decides: a fatal failure (key, account
or connection parameters refused) waits ``fatal_retry_s`` and is reported in :attr:`failure`
with what to fix; anything else takes the capped, jittered backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection, connect

from services.feed.core.protocol import FeedProtocol
from services.feed.core.status import StatusTracker
from services.feed.failures import Failure, classify
from services.feed.metrics import FeedMetrics
from services.feed.sink import BusSink
from shared.bus import subjects
from shared.bus.events import FeedState
from shared.bus.requests import ReconcileRequest, encode_request
from shared.paradex.retry import Backoff

log = logging.getLogger("feed.connection")


class JwtSource(Protocol):
    """What the feed needs of :class:`shared.paradex.auth.JwtManager`."""

    async def token(self) -> str: ...

    def invalidate(self, token: str) -> None: ...


class SessionEnd(Exception):
    """Why a session ended on our initiative (auth refused, silence, overflow)."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.reason)
        self.failure = failure


def ws_url(base: str, sbe_version: int) -> str:
    """``base`` with the SBE query (``?sbeSchemaId=1&sbeSchemaVersion=N``) when ``sbe_version``."""
    if not sbe_version:
        return base
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}sbeSchemaId=1&sbeSchemaVersion={sbe_version}"


class FeedConnection:
    """Runs sessions until :meth:`stop`; see the module docstring."""

    def __init__(self, url: str, protocol: FeedProtocol, sink: BusSink, jwt: JwtSource, nc: Any,
                 metrics: FeedMetrics, backoff: Backoff, *, silence_timeout_s: float = 20.0,
                 connect_timeout_s: float = 10.0, reply_timeout_s: float = 10.0,
                 max_size: int = 1 << 20, max_queue: int = 64, fatal_retry_s: float = 30.0) -> None:
        self.url = url
        self.proto = protocol
        self.sink = sink
        self.jwt = jwt
        self.nc = nc
        self.metrics = metrics
        self.backoff = backoff
        self.silence_timeout_s = silence_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.reply_timeout_s = reply_timeout_s
        self.max_size = max_size
        self.max_queue = max_queue
        self.fatal_retry_s = fatal_retry_s
        self.status = StatusTracker()
        #: the last session's failure while it is unresolved (cleared once authenticated)
        self.failure: Failure | None = None
        self.retry_at: float | None = None  # monotonic time of the next attempt while waiting
        self.reconcile_requests = 0
        self.reconcile_pending = False
        self._stop = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._token = ""
        self._end: Failure | None = None
        self._auth_refusals = 0  # consecutive sessions whose fresh JWT the venue refused

    # --- status --------------------------------------------------------------------------------

    def _set(self, state: FeedState, reason: str = "") -> None:
        event = self.status.set(state, time.monotonic(), time.time_ns(), reason)
        if event is not None:
            log.info("feed %s (epoch %d)%s", state, event.epoch, f": {reason}" if reason else "")
            self.sink.put_account(event)
            self.metrics.connected.set(1 if state == "connected" else 0)

    async def request_reconcile(self, reason: str = "feed_reconnect") -> bool:
        """Ask the reconciler for a snapshot (fire and forget); retried by :meth:`tick` on failure."""
        try:
            await self.nc.publish(subjects.RECONCILE_REQUEST, encode_request(ReconcileRequest(reason=reason)))
        except Exception as exc:  # NATS down: keep the request pending, tick() retries
            log.warning("reconcile request not sent (%r); will retry", exc)
            self.reconcile_pending = True
            return False
        self.reconcile_pending = False
        self.reconcile_requests += 1
        return True

    # --- loop ----------------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect and reconnect until :meth:`stop`."""
        while not self._stop.is_set():
            try:
                await self._session()
                failure = Failure("transient", "closed")
            except asyncio.CancelledError:
                raise
            except SessionEnd as exc:
                failure = exc.failure
            except Exception as exc:  # any failure of one session: classify, back off, reconnect
                failure = classify(exc, max_size=self.max_size)
            finally:
                self._ws = None
            if self._stop.is_set():
                break
            await self._after(failure)
        self._set("disconnected", "stopped")

    async def _after(self, failure: Failure) -> None:
        """Report ``failure`` and wait before the next session (slowly when it is fatal)."""
        self.failure = failure
        self.metrics.session_ends.labels(
            "auth_refused" if failure.auth and not failure.fatal else failure.kind).inc()
        if failure.fatal:
            reason = f"fatal: {failure.reason}"
            delay = self.fatal_retry_s * (0.9 + 0.2 * random.random())  # jittered: replicas spread out
            log.error("feed cannot connect: %s. What to fix: %s. Retrying in %.0f s", failure.reason,
                      failure.hint, delay)
        else:
            reason = failure.reason
            delay = self.backoff.next_delay(time.monotonic())
            if failure.kind == "oversized":
                log.error("feed session ended: %s; reconnecting in %.3f s", failure.reason, delay)
            else:
                log.warning("feed session ended (%s); reconnecting in %.3f s", failure.reason, delay)
        self._set("auth_failed" if failure.auth else "disconnected", reason)
        self.retry_at = time.monotonic() + delay
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), delay)
        self.retry_at = None

    async def resubscribe_books(self, markets: list[str]) -> bool:
        """Resubscribe the books of ``markets`` now (the gap path: each restarts with a snapshot);
        False, sending nothing, when no authenticated connection is up."""
        ws = self._ws
        if ws is None or not self.status.connected:
            return False
        for market in markets:
            self.proto.resubscribe_book(market)
        out = list(self.proto.outbox)
        self.proto.outbox.clear()
        for request in out:
            await ws.send(request.decode())
        return True

    async def stop(self) -> None:
        """End the loop (closes the socket)."""
        self._stop.set()
        ws = self._ws
        if ws is not None:
            await ws.close()

    async def _session(self) -> None:
        self._token = token = await self.jwt.token()
        async with connect(self.url, open_timeout=self.connect_timeout_s, max_size=self.max_size,
                           compression=None, max_queue=self.max_queue, ping_interval=20, ping_timeout=20,
                           close_timeout=1.0) as ws:
            self._ws = ws
            if self._stop.is_set():
                return
            event = self.status.new_connection(time.monotonic(), time.time_ns())
            self.sink.put_account(event)
            self.metrics.epoch.set(event.epoch)
            if event.epoch > 1:
                self.metrics.reconnects.inc()
            log.info("feed connected to %s (epoch %d), authenticating", self.url, event.epoch)
            await ws.send(self.proto.connect(event.epoch, token).decode())
            watchdog = asyncio.create_task(self._watch(ws))
            self._end = None
            try:
                await self._read(ws)
            finally:
                watchdog.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watchdog
            if self._end is not None:
                raise SessionEnd(self._end)
            closed = f"closed by peer ({ws.close_code} {ws.close_reason})".strip()
            raise SessionEnd(Failure("transient", closed))

    def _end_session(self, reason: str) -> None:
        self._end = Failure("transient", reason)

    async def _read(self, ws: ClientConnection) -> None:
        proto, sink, status = self.proto, self.sink, self.status
        put = sink.put
        # tracing (benchmarks only): the frame's send stamp goes with its account events
        receive = sink.traced(proto.receive_wire) if sink.trace else proto.receive_wire
        dead = proto.rejects.pending  # the same list for the protocol's lifetime (cleared, never rebound)
        monotonic, time_ns = time.monotonic, time.time_ns
        async for frame in ws:
            status.last_frame = monotonic()
            for event in receive(frame, time_ns()):
                put(event)
            if dead:
                sink.put_dead_letters(dead)
                dead.clear()
            if proto.outbox:
                out = list(proto.outbox)
                proto.outbox.clear()
                for request in out:
                    await ws.send(request.decode())
            if proto.signals:
                await self._signals(ws)

    async def _signals(self, ws: ClientConnection) -> None:
        signals = list(self.proto.signals)
        self.proto.signals.clear()
        for name, detail in signals:
            if name == "authenticated":
                self._auth_refusals = 0
                self.failure = None
                self._set("connected")
                self.backoff.mark_up(time.monotonic())
                await self.request_reconcile("feed_reconnect" if self.status.epoch > 1 else "feed_start")
            elif name == "reconnect":
                self._end_session(detail)
                await ws.close()
            elif name == "auth_failed":
                # the first refusal may be an expired token: the next session fetches a new one;
                # a fresh token refused again will not get better by retrying fast
                self.jwt.invalidate(self._token)
                self._auth_refusals += 1
                fatal = self._auth_refusals >= 2
                self._end = Failure("fatal" if fatal else "transient", f"auth refused: {detail}",
                                    "the venue refuses fresh JWTs of this account: check PARADEX_ACCOUNT "
                                    "and PARADEX_L2_PRIVATE_KEY" if fatal else "", auth=True)
                await ws.close()

    async def _watch(self, ws: ClientConnection) -> None:
        period = max(0.01, min(0.25, self.silence_timeout_s / 4, self.reply_timeout_s / 4))
        opened = time.monotonic()
        invalid_since: dict[str, float] = {}
        while True:
            await asyncio.sleep(period)
            stuck = self._stuck_book(invalid_since, time.monotonic())
            if stuck:
                self._end_session(f"book {stuck} got no snapshot within {self.reply_timeout_s} s")
                await ws.close()
                return
            if self.status.state == "authenticating" and time.monotonic() - opened >= self.reply_timeout_s:
                self._end_session(f"no auth reply within {self.reply_timeout_s} s")
                await ws.close()
                return
            if self.sink.overflowed:
                self.sink.overflowed = False
                self._end_session("account buffer overflow: forced reconnect")
                await ws.close()
                return
            if self.status.silent(time.monotonic(), self.silence_timeout_s):
                self._end_session(f"silent for {self.silence_timeout_s} s")
                self.metrics.silences.inc()
                await ws.close()
                return

    def _stuck_book(self, invalid_since: dict[str, float], now: float) -> str:
        """A market whose book stayed invalid (no snapshot) for ``reply_timeout_s`` while
        connected, else ``""``."""
        if not self.status.connected:
            invalid_since.clear()
            return ""
        books = self.proto.books.books
        for market in self.proto.markets:
            book = books.get(market)
            if book is not None and book.valid:
                invalid_since.pop(market, None)
            elif now - invalid_since.setdefault(market, now) >= self.reply_timeout_s:
                return market
        return ""
