"""The ACCOUNT stream as the authority of idempotency: the Redis records are rebuilt from it
whenever Redis lost them, before any place is accepted again.

Choice (issue 14 item 1): **rebuild the index from the stream**, guarded by a marker key.

* ``pdx:<a>:cmd:index`` (``Keys.cmd_index``) says the records are complete. The claim script
  refuses every place while it is absent (503 ``IDEMPOTENCY_INDEX_REBUILDING`` with Retry-After),
  so a client id that was ever submitted can never win a claim against an empty Redis.
* The rebuild (one replica at a time, under ``Keys.cmd_index_lock``) reads this account's command
  events from the ACCOUNT stream (file storage, replicated on a cluster) with an ephemeral
  consumer filtered to their subjects, from ``idempotency_ttl_s`` ago (older records would have
  expired anyway), folds them (``core.idempotency.IndexFold``: the same answers, byte for byte,
  that the first callers got) and writes them with ``SET NX`` (a record written meanwhile by a
  request that was in flight is newer and wins), then sets the marker.
* Before reading, it waits until ``settle_s`` have passed since Redis lost its data (Redis's own
  uptime after a restart, else when the loss was noticed): a request that claimed its client id
  just before the loss publishes its CmdSubmitted within the publisher's timeouts, so the rebuild
  cannot miss it.

Why not the alternatives: asking the venue by client id before every place whose record is
absent costs a venue round trip on every NEW order (the record of a new id is always absent), and
the venue's ``GET /orders/by_client_id`` finds only open orders (a filled one would be placed
again); consulting the stream per claim needs a subject per client id (millions of subjects in
the stream's index). The rebuild costs nothing on the hot path (one EXISTS inside the claim
script) and its price is paid only after a loss: see README (measured events per second).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import msgspec
from nats.js.api import ConsumerConfig, DeliverPolicy

from services.commands.core.idempotency import REBUILT_KINDS, IndexFold
from services.commands.follow import nothing_to_deliver
from shared.bus import decode_event, subjects
from shared.errors import DecodeError
from shared.rediskeys import Keys

log = logging.getLogger("commands.index")
LOCK_MS = 300_000
# ARGV: (key, value, ttl) triples; SET NX EX each; returns how many were written.
WRITE_NX = """
local n = 0
for i = 1, #ARGV, 3 do
  if redis.call('SET', ARGV[i], ARGV[i + 1], 'NX', 'EX', ARGV[i + 2]) then n = n + 1 end
end
return n
"""
_enc = msgspec.json.Encoder()


class Marker(msgspec.Struct, frozen=True):
    """The index marker's value: up to which stream sequence the records were rebuilt."""

    seq: int
    events: int
    records: int
    built_at: int
    took_ms: int


class IndexKeeper:
    """Keeps the idempotency index complete (see the module docstring)."""

    def __init__(
        self,
        js: Any,
        redis: Any,
        keys: Keys,
        account: str,
        *,
        ttl_s: int,
        settle_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.js, self.redis, self.keys, self.account = js, redis, keys, account
        self.ttl_s = ttl_s
        self.settle_s = settle_s
        self.clock = clock
        self.ready = False
        self.rebuilding = False
        self.last: Marker | None = None
        self.missing_since = 0.0
        self._task: asyncio.Task[None] | None = None

    def missing(self) -> None:
        """A claim found no marker: rebuild (once, in the background)."""
        self.ready = False
        if not self.missing_since:
            self.missing_since = self.clock()
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._guarded())
            self._task.set_name("index-rebuild")

    async def ensure(self) -> None:
        """Rebuild now if the marker is absent (start-up); return when the index is complete."""
        if await self.redis.exists(self.keys.cmd_index):
            self.ready = True
            return
        self.missing()
        assert self._task is not None
        await asyncio.shield(self._task)

    async def wait(self, timeout_s: float) -> None:
        if self._task is not None:
            await asyncio.wait([self._task], timeout=timeout_s)

    async def _guarded(self) -> None:
        delay = 0.2
        while True:
            try:
                await self._rebuild()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("idempotency index rebuild failed; retrying in %.1f s", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _rebuild(self) -> None:
        k = self.keys
        token = os.urandom(8).hex()
        while not await self.redis.set(k.cmd_index_lock, token, nx=True, px=LOCK_MS):
            if await self.redis.exists(k.cmd_index):  # another replica rebuilt it
                self.ready, self.missing_since = True, 0.0
                return
            await asyncio.sleep(0.2)
        self.rebuilding = True
        try:
            if await self.redis.exists(k.cmd_index):
                self.ready, self.missing_since = True, 0.0
                return
            await self._settle()
            started = time.monotonic()
            fold, end = await self.read()
            written = await self._write(fold)
            marker = Marker(
                seq=end,
                events=fold.events,
                records=written,
                built_at=int(self.clock() * 1000),
                took_ms=int((time.monotonic() - started) * 1000),
            )
            await self.redis.set(k.cmd_index, _enc.encode(marker))
            self.last, self.ready, self.missing_since = marker, True, 0.0
            log.warning(
                "idempotency index rebuilt from the ACCOUNT stream: %d events, %d records up to seq %d "
                "in %d ms",
                marker.events,
                marker.records,
                marker.seq,
                marker.took_ms,
            )
        finally:
            self.rebuilding = False
            if await self.redis.get(k.cmd_index_lock) == token.encode():
                await self.redis.delete(k.cmd_index_lock)

    async def _settle(self) -> None:
        """Wait until ``settle_s`` after Redis lost its data (see the module docstring)."""
        info = await self.redis.info("server")
        since = max(
            self.missing_since or self.clock(), self.clock() - float(info.get("uptime_in_seconds", 0))
        )
        wait = since + self.settle_s - self.clock()
        if wait > 0:
            log.warning(
                "idempotency index missing: waiting %.1f s for requests in flight, then rebuilding", wait
            )
            await asyncio.sleep(wait)

    async def read(self) -> tuple[IndexFold, int]:
        """Fold this account's command events of the last ``ttl_s`` (and the stream's last
        sequence when reading began). An ordered push consumer: about 4x the pull rate here."""
        fold = IndexFold()
        info = await self.js.stream_info(subjects.ACCOUNT_STREAM)
        end = int(info.state.last_seq)
        if not info.state.messages:
            return fold, end
        start = datetime.datetime.fromtimestamp(self.clock() - self.ttl_s, tz=datetime.UTC)
        filters = [subjects.account_subject(self.account, kind) for kind in REBUILT_KINDS]
        config = ConsumerConfig(
            filter_subjects=filters, deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=start
        )
        done = asyncio.Event()
        progress = [0]

        async def on_msg(msg: Any) -> None:
            meta = msg.metadata
            seq = meta.sequence.stream
            try:
                fold.apply(seq, decode_event(msg.data))
            except DecodeError as exc:
                log.warning("undecodable event at seq %d skipped: %s", seq, exc)
            progress[0] += 1
            if seq >= end or meta.num_pending == 0:
                done.set()

        sub = await self.js.subscribe(
            filters[0],
            stream=subjects.ACCOUNT_STREAM,
            ordered_consumer=True,
            cb=on_msg,
            config=config,
            pending_msgs_limit=-1,
            pending_bytes_limit=-1,
        )
        try:
            if nothing_to_deliver(await sub.consumer_info()) and not progress[0]:
                return fold, end
            seen = -1
            while not done.is_set():  # wait while events keep arriving
                if progress[0] == seen:
                    raise TimeoutError(f"the ACCOUNT stream stopped delivering at {seen} events")
                seen = progress[0]
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), 5.0)
        finally:
            await sub.unsubscribe()
        return fold, end

    async def _write(self, fold: IndexFold) -> int:
        """Write the folded records (``SET NX``, the TTL left of each) and exchange-id owners, a
        script call per 1000 (a pipeline costs redis-py ~100 us a command here)."""
        now_ms = int(self.clock() * 1000)
        script = self.redis.register_script(WRITE_NX)
        records: list[Any] = []
        for cid, rec in fold.records.items():
            ttl = max(1, self.ttl_s - max(0, now_ms - rec.at) // 1000)
            records += [self.keys.cmd_client_id(cid), _enc.encode(rec), ttl]
        owners: list[Any] = []
        for oid, (strategy, cid) in fold.owners.items():
            owners += [self.keys.cmd_order_id(oid), f"{strategy} {cid}", self.ttl_s]
        written = 0
        for k in range(0, len(records), 3000):
            written += int(await script(args=records[k : k + 3000]))
        for k in range(0, len(owners), 3000):
            await script(args=owners[k : k + 3000])
        return written
