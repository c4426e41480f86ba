"""Follows the state service's Redis change stream into the exposure book (``core.exposure``).

* Snapshot (at start, after any Redis error, and every ``resync_s`` as a safety net): the last id
  of ``pdx:<a>:changes`` FIRST, then the live orders (``HGETALL pdx:<a>:orders`` + a GET per live
  key) and positions in two pipelined round trips. Entries after that id are applied again when
  the stream is followed; the book ignores an entry older (by ``seq``) than the record it holds.
* Follow: ``XREAD BLOCK`` from the last id seen (at most ``block_s`` per call), each entry handed
  to the book; one MGET of the owners of client ids the book has not seen (this service's
  idempotency records) per batch. Nothing is re-read per order.
* Reference prices (mid of the state's ``pdx:md:bbo:<market>``, else the venue's bbo): one MGET
  every ``block_s``.

``healthy`` is False (and ``/healthz`` says so) while Redis is unreachable; the loop retries with
a capped backoff and re-snapshots when Redis answers again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any

import msgspec

from services.commands.core.exposure import ExposureBook, decode_order, decode_position
from services.commands.store import CommandStore
from shared.rediskeys import Keys, decode_record

log = logging.getLogger("commands.exposure")
TERMINAL = frozenset({"CLOSED", "REJECTED"})
INFLIGHT_MAX_AGE_S = 30.0


class _Top(msgspec.Struct):
    bid: Decimal | None = None
    ask: Decimal | None = None


_top = msgspec.json.Decoder(_Top)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class ExposureFollower:
    """Keeps an :class:`ExposureBook` current from Redis (see the module docstring)."""

    def __init__(
        self,
        redis: Any,
        keys: Keys,
        book: ExposureBook,
        store: CommandStore,
        markets: list[str],
        venue_prices: Mapping[str, Decimal],
        *,
        block_s: float = 0.25,
        resync_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis, self.keys, self.book, self.store = redis, keys, book, store
        self.markets = markets
        self.venue_prices = venue_prices
        self.block_s = block_s
        self.resync_s = resync_s
        self.clock = clock
        self.last_id = "0-0"
        self.healthy = False
        self.updated_at = 0.0
        self.entries = 0
        self.snapshots = 0
        self.snapshot_at = 0.0
        #: called after each batch of entries (the pipeline drops reservations the state shows)
        self.after_apply: Callable[[], Awaitable[None]] | None = None
        #: Set on shutdown: redis-py can swallow a cancellation that lands inside a command.
        self.stopped = False

    async def snapshot(self) -> None:
        """Read the state's live orders and positions (see the module docstring)."""
        k = self.keys
        pipe = self.redis.pipeline(transaction=True)
        pipe.xrevrange(k.changes, count=1)
        pipe.hgetall(k.orders)
        pipe.smembers(k.positions)
        last, statuses, position_markets = await pipe.execute()
        live = sorted(_text(key) for key, status in statuses.items() if _text(status) not in TERMINAL)
        markets = sorted(_text(m) for m in position_markets)
        pipe = self.redis.pipeline(transaction=False)
        for key in live:
            pipe.get(k.order(key))
        for m in markets:
            pipe.get(k.position(m))
        raw = await pipe.execute()
        orders = []
        for key, value in zip(live, raw[: len(live)], strict=True):
            seq, record = _split(value)
            rec = decode_order(record)
            if rec is not None:
                orders.append((key, seq, rec))
        positions: dict[str, Decimal] = {}
        for m, value in zip(markets, raw[len(live) :], strict=True):
            pos = decode_position(_split(value)[1])
            if pos is not None:
                positions[m] = pos.signed()
        self.book.reset(orders, positions, self.book.seq)
        self.last_id = _text(last[0][0]) if last else "0-0"
        await self._owners()
        await self.refresh_prices()
        self.snapshots += 1
        self.snapshot_at = self.clock()
        self.healthy, self.updated_at = True, time.time()

    async def follow_once(self) -> int:
        """One XREAD (blocking up to ``block_s``); the number of entries applied."""
        got = await self.redis.xread(
            {self.keys.changes: self.last_id}, count=1000, block=max(1, int(self.block_s * 1000))
        )
        n = 0
        for _, entries in got or ():
            for entry_id, fields in entries:
                self.last_id = _text(entry_id)
                value = fields.get(b"value")
                self.book.apply(
                    _text(fields.get(b"kind", b"")),
                    _text(fields.get(b"key", b"")),
                    int(fields.get(b"seq", 0) or 0),
                    None if value in (None, b"null") else value,
                )
                n += 1
        if n:
            self.entries += n
            await self._owners()
        if self.after_apply is not None:
            await self.after_apply()
        return n

    async def refresh_prices(self) -> None:
        """Mid prices: the state's maintained book top, else the venue's bbo."""
        for market, price in self.venue_prices.items():
            self.book.set_price(market, price)
        if not self.markets:
            return
        raw = await self.redis.mget([Keys.md("bbo", m) for m in self.markets])
        for market, value in zip(self.markets, raw, strict=True):
            body = _split(value)[1]
            if body is None:
                continue
            try:
                top = _top.decode(body)
            except (msgspec.ValidationError, msgspec.DecodeError):
                continue
            if top.bid is not None and top.ask is not None and top.bid > 0 and top.ask > 0:
                self.book.set_price(market, (top.bid + top.ask) / 2)

    async def _owners(self) -> None:
        missing = self.book.missing_owners()
        if missing:
            self.book.set_owners(await self.store.owners(missing), missing)

    async def run(self) -> None:
        """Snapshot, then follow until :attr:`stopped`; re-snapshot after errors and every
        ``resync_s``."""
        delay = 0.1
        next_snapshot = self.snapshot_at + self.resync_s if self.snapshots else 0.0
        next_prices = 0.0
        while not self.stopped:
            try:
                now = self.clock()
                if now >= next_snapshot:
                    await self.snapshot()
                    next_snapshot = now + self.resync_s
                    next_prices = now + self.block_s
                await self.follow_once()
                now = self.clock()
                if now >= next_prices:
                    await self.refresh_prices()
                    next_prices = now + self.block_s
                self.book.expire_inflight(now, INFLIGHT_MAX_AGE_S)
                self.healthy, self.updated_at, delay = True, time.time(), 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.healthy:
                    log.warning("exposure follow failed (re-snapshot when Redis answers): %r", exc)
                self.healthy = False
                next_snapshot = 0.0
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)


def _split(value: bytes | None) -> tuple[int, bytes | None]:
    """(seq, record JSON) of a stored ``{"seq", "value"}`` body; (0, None) when absent or bad."""
    if value is None:
        return 0, None
    try:
        rec = decode_record(value)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return 0, None
    raw = bytes(rec.value)
    return rec.seq, None if raw == b"null" else raw
