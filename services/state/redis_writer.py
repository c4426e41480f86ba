"""Writes state changes to Redis: one MULTI/EXEC pipeline per applied batch.

Account changes are written per batch of events: all of a batch's changes, the change-stream
entries and ``pdx:<account>:seq`` in ONE atomic Lua script call (:data:`APPLY_BATCH`), so a
reader never sees half a batch. A Lua script is as atomic as MULTI/EXEC but costs one command
and one reply per batch instead of three per change (redis-py spends ~20 us on each reply of a
transaction; at 5000 events/s that alone saturated the loop).
Market data is coalesced per (kind, market), latest wins, and flushed periodically by the
service: book rates can exceed what Redis round trips allow, and only the latest book matters.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from services.state.encode import Encoded, body
from shared.rediskeys import Keys

# Opcodes: S key value (SET) | D key (DEL) | H hash field value | h hash field (HDEL) |
# A set member (SADD) | R set member (SREM) | Z zset score member | z zset member (ZREM) |
# T zset stop (ZREMRANGEBYRANK 0 stop) |
# X kind key seq value (XADD to the changes stream, MAXLEN ~). ARGV[1..4]: stream, maxlen, seq key, seq.
APPLY_BATCH = """
local a = ARGV
local n = #a
local stream, maxlen = a[1], a[2]
local i = 5
while i <= n do
  local op = a[i]
  if op == 'S' then redis.call('SET', a[i+1], a[i+2]); i = i + 3
  elseif op == 'X' then
    redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'kind', a[i+1], 'key', a[i+2], 'seq', a[i+3],
               'value', a[i+4])
    i = i + 5
  elseif op == 'H' then redis.call('HSET', a[i+1], a[i+2], a[i+3]); i = i + 4
  elseif op == 'D' then redis.call('DEL', a[i+1]); i = i + 2
  elseif op == 'h' then redis.call('HDEL', a[i+1], a[i+2]); i = i + 3
  elseif op == 'A' then redis.call('SADD', a[i+1], a[i+2]); i = i + 3
  elseif op == 'R' then redis.call('SREM', a[i+1], a[i+2]); i = i + 3
  elseif op == 'Z' then redis.call('ZADD', a[i+1], a[i+2], a[i+3]); i = i + 4
  elseif op == 'z' then redis.call('ZREM', a[i+1], a[i+2]); i = i + 3
  elseif op == 'T' then redis.call('ZREMRANGEBYRANK', a[i+1], 0, a[i+2]); i = i + 3
  else return redis.error_reply('bad opcode ' .. tostring(op)) end
end
redis.call('SET', a[3], a[4])
return n
"""

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
        self._script = redis.register_script(APPLY_BATCH)

    async def write_account(self, changes: Iterable[Encoded], applied_seq: int) -> None:
        """Write one batch of account changes, their notifications, and the applied sequence."""
        k = self.keys
        args: list[Any] = [k.changes, self.changes_maxlen, k.seq, applied_seq]
        add = args.extend
        fills = False
        for c in changes:
            kind, key = c.kind, c.key
            if kind == "order":
                name = k.order(key)
                if c.deleted:
                    add(("D", name, "h", k.orders, key))
                else:
                    add(("S", name, c.body(), "H", k.orders, key, c.record.status))
            elif kind == "fill":
                if c.deleted:  # evicted by retention
                    add(("D", k.fill(key), "z", k.fills, key))
                else:
                    add(("S", k.fill(key), c.body(), "Z", k.fills, c.record.fill.created_at, key))
                    fills = True
            elif kind == "position":
                _entity(add, c, k.position(key), k.positions)
            elif kind == "balance":
                _entity(add, c, k.balance(key), k.balances)
            elif kind in _ACCOUNT_SINGLETONS:
                add(("S", getattr(k, _ACCOUNT_SINGLETONS[kind]), c.body()))
            else:
                add(("S", f"{k.base}:{kind}:{key}", c.body()))
            add(("X", kind, key, c.seq, c.value))
        if fills:
            add(("T", k.fills, -self.recent_fills_max - 1))
        try:
            await self._script(args=args)
            self.batches += 1
        except Exception as exc:
            self.errors += 1
            self.last_error = repr(exc)
            raise
        self.last_error = ""

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


def _entity(add: Any, c: Encoded, name: str, index: str) -> None:
    if c.deleted:
        add(("D", name, "R", index, c.key))
    else:
        add(("S", name, c.body(), "A", index, c.key))
