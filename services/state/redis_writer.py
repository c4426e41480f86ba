"""Writes state changes to Redis: one MULTI/EXEC pipeline per applied batch.

Account changes are written per batch of events (all of a batch's changes, the change-stream
entries and ``pdx:<account>:seq`` in one transaction, so a reader never sees half a batch).
Market data is coalesced per (kind, market), latest wins, and flushed periodically by the
service: book rates can exceed what Redis round trips allow, and only the latest book matters.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from services.state.encode import Encoded, body
from services.state.keys import Keys

_ACCOUNT_SINGLETONS = {"account": "account", "feed": "feed", "reconciliation": "reconciliation"}


class RedisWriter:
    """Owns the Redis write path for one account."""

    def __init__(self, redis: Any, keys: Keys, *, changes_maxlen: int = 100_000,
                 md_changes_maxlen: int = 10_000, recent_fills_max: int = 1000) -> None:
        self.redis = redis
        self.keys = keys
        self.changes_maxlen = changes_maxlen
        self.md_changes_maxlen = md_changes_maxlen
        self.recent_fills_max = recent_fills_max
        self.batches = 0
        self.errors = 0
        self.last_error = ""

    async def write_account(self, changes: Iterable[Encoded], applied_seq: int) -> None:
        """Write one batch of account changes, their notifications, and the applied sequence."""
        k = self.keys
        pipe = self.redis.pipeline(transaction=True)
        fills = False
        for c in changes:
            kind, key = c.kind, c.key
            if kind == "order":
                name = k.order(key)
                if c.deleted:
                    pipe.delete(name)
                    pipe.hdel(k.orders, key)
                else:
                    pipe.set(name, c.body())
                    pipe.hset(k.orders, key, c.record.status)
            elif kind == "fill":
                pipe.set(k.fill(key), c.body())
                pipe.zadd(k.fills, {key: c.record.fill.created_at})
                fills = True
            elif kind == "position":
                self._entity(pipe, c, k.position(key), k.positions)
            elif kind == "balance":
                self._entity(pipe, c, k.balance(key), k.balances)
            elif kind in _ACCOUNT_SINGLETONS:
                pipe.set(getattr(k, _ACCOUNT_SINGLETONS[kind]), c.body())
            else:
                pipe.set(f"{k.base}:{kind}:{key}", c.body())
            pipe.xadd(k.changes, _fields(c), maxlen=self.changes_maxlen, approximate=True)
        if fills:
            pipe.zremrangebyrank(k.fills, 0, -self.recent_fills_max - 1)
        pipe.set(k.seq, applied_seq)
        await self._run(pipe)

    @staticmethod
    def _entity(pipe: Any, c: Encoded, name: str, index: str) -> None:
        if c.deleted:
            pipe.delete(name)
            pipe.srem(index, c.key)
        else:
            pipe.set(name, c.body())
            pipe.sadd(index, c.key)

    async def write_market(self, values: list[tuple[str, str, int, bytes]], notify: bool = True) -> None:
        """Write the latest market values: (kind, market, market_seq, value_json) each."""
        if not values:
            return
        pipe = self.redis.pipeline(transaction=True)
        for kind, market, seq, value in values:
            pipe.set(Keys.md(kind, market), body(seq, value))
            if notify:
                pipe.xadd(self.keys.md_changes, {"kind": kind, "key": market, "seq": seq, "value": value},
                          maxlen=self.md_changes_maxlen, approximate=True)
        await self._run(pipe)

    async def write_health(self, health_body: bytes) -> None:
        """Replace ``pdx:<account>:health``."""
        await self.redis.set(self.keys.health, health_body)

    async def _run(self, pipe: Any) -> None:
        try:
            await pipe.execute()
            self.batches += 1
        except Exception as exc:
            self.errors += 1
            self.last_error = repr(exc)
            raise
        self.last_error = ""


def _fields(c: Encoded) -> dict[str, Any]:
    return {"kind": c.kind, "key": c.key, "seq": c.seq, "value": c.value}
