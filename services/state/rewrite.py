"""Full rewrite of an account's Redis keys after Redis lost data (wiped, restarted empty or old).

The account writer notices the loss (``APPLY_BATCH`` answers ``absent``: no ``pdx:<account>:seq``
although we wrote one, or ``lost``: it is below what we saw) and calls :meth:`FullRewrite.run`.
Writing only what changes from then on would leave every quiet entity missing (issue 14: 1 314
order keys for 7 966 orders), so every current entity is written again:

1. **claim** ``pdx:<account>:rewrite`` (this writer's token, TTL ``claim_ttl_s``, refreshed by
   every step). While it exists every account write of every replica waits, so the rewrite is
   alone. Another replica's claim: wait for it. A ``seq`` back at or above what we had seen (a
   replica finished a rewrite meanwhile): nothing to do.
2. **capture** every current entity of the core at its sequence ``S`` in one synchronous step
   (records are frozen: a list of references is a consistent view while the fold goes on).
3. **indexes** (orders hash, positions/balances/markets sets, recent-fills zset) are deleted and
   rebuilt, entities are written in chunks of ``chunk`` (bounded Redis calls, the event loop
   runs between them; each chunk checks the claim is still ours).
4. **stale keys**: per-entity keys Redis holds that the state no longer has (a Redis restored
   from an old file may still hold entities evicted since) are found with SCAN and deleted.
5. **finish**: ``seq`` = ``S``, one ``resync`` entry on the change stream (kind ``resync``, key
   ``redis``, value ``{"reason", "entities", "redis_seq_before"}``: a strategy that reads the
   change stream must re-read the keys), and the claim is released, all in one call.

Changes queued behind the rewrite that are at or below ``S`` are then skipped by the sequence
guard (the rewrite wrote their result); later ones are written as usual.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

import msgspec

from services.state.core import StateCore
from services.state.encode import body, encode
from services.state.redis_writer import OPS
from shared.rediskeys import Keys

log = logging.getLogger("state.rewrite")

CLAIMED, DONE, WAIT = 0, 1, 3

# KEYS: claim, seq. ARGV: token, ttl_ms, floor.
CLAIM = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return {3, 0} end
local cur = redis.call('GET', KEYS[2])
if cur and tonumber(cur) >= tonumber(ARGV[3]) then
  if holder then redis.call('DEL', KEYS[1]) end
  return {1, tonumber(cur)}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if cur then return {0, tonumber(cur)} end
return {0, -1}
"""
# KEYS: claim. ARGV: token, ttl_ms, then ops (run with cur = -1: nothing skipped). 0: claim lost.
STEP = OPS + """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
run(ARGV, 3, '', 0, -1)
return 1
"""
# KEYS: claim, seq, changes stream. ARGV: token, seq, maxlen, value of the resync entry.
FINISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'kind', 'resync', 'key', 'redis',
           'seq', ARGV[2], 'value', ARGV[4])
redis.call('DEL', KEYS[1])
return 1
"""


class ClaimLost(Exception):
    """Our rewrite claim expired and another writer took it: our rewrite is abandoned."""


class Resync(msgspec.Struct, frozen=True, kw_only=True):
    """The value of the change stream's ``resync`` entry."""

    reason: str
    entities: int
    redis_seq_before: int


class FullRewrite:
    """Rewrites every current entity of one account (see the module docstring)."""

    def __init__(self, redis: Any, keys: Keys, *, changes_maxlen: int, recent_fills_max: int,
                 chunk: int = 500, claim_ttl_s: float = 10.0) -> None:
        self.redis = redis
        self.keys = keys
        self.changes_maxlen = changes_maxlen
        self.recent_fills_max = recent_fills_max
        self.chunk = chunk
        self.ttl_ms = int(claim_ttl_s * 1000)
        self.token = uuid.uuid4().hex
        self.rewrites = 0
        self.entities = 0
        self.last_s = 0.0
        self._claim = redis.register_script(CLAIM)
        self._step = redis.register_script(STEP)
        self._finish = redis.register_script(FINISH)

    async def run(self, core: StateCore, floor: int, reason: str) -> int:
        """Make Redis reflect the core again; returns the sequence Redis reflects afterwards."""
        k = self.keys
        while True:
            code, cur = await self._claim(keys=[k.rewrite, k.seq], args=[self.token, self.ttl_ms, floor])
            if code == DONE:
                log.warning("redis: another replica rewrote the account meanwhile (seq %d)", cur)
                return int(cur)
            if code == WAIT:
                await asyncio.sleep(0.2)
                continue
            try:
                return await self._rewrite(core, int(cur), reason)
            except ClaimLost:
                log.warning("redis rewrite: claim lost to another writer; starting over")

    async def _rewrite(self, core: StateCore, cur: int, reason: str) -> int:
        t0 = time.monotonic()
        k = self.keys
        seq = core.account_seq
        current = core.current_entities()  # one synchronous capture at ``seq``
        wanted: set[str] = set()
        ops: list[list[Any]] = []
        fills: list[tuple[int, str]] = []
        for kind, key, value in current:
            name, index = self._place(kind, key)
            wanted.add(name)
            op: list[Any] = ["S", name, body(seq, encode(value))]
            if kind == "order":
                op += ("H", k.orders, key, value.status)
            elif kind == "fill":
                fills.append((value.fill.created_at, key))
            elif index:
                op += ("A", index, key)
            ops.append(op)
        fills.sort()
        recent = [("Z", k.fills, ts, fid) for ts, fid in fills[-self.recent_fills_max:]] if \
            self.recent_fills_max else []
        indexes = (k.orders, k.positions, k.balances, k.market_specs, k.fills)
        await self._do([[x for name in indexes for x in ("D", name)]])
        await self._do(ops)
        await self._do([list(z) for z in recent])
        stale = await self._stale_keys(wanted)
        await self._do([["D", name] for name in stale])
        entry = msgspec.json.encode(Resync(reason=reason, entities=len(current), redis_seq_before=cur))
        if not await self._finish(keys=[k.rewrite, k.seq, k.changes],
                                  args=[self.token, seq, self.changes_maxlen, entry]):
            raise ClaimLost
        self.rewrites += 1
        self.entities = len(current)
        self.last_s = time.monotonic() - t0
        log.warning("redis rewritten (%s): %d entities as of seq %d, %d stale keys deleted, %.2f s "
                    "(Redis held seq %s)", reason, len(current), seq, len(stale), self.last_s,
                    cur if cur >= 0 else "none")
        return seq

    def _place(self, kind: str, key: str) -> tuple[str, str]:
        """(key name, index set or "") of one entity."""
        k = self.keys
        if kind == "order":
            return k.order(key), k.orders
        if kind == "fill":
            return k.fill(key), k.fills
        if kind == "position":
            return k.position(key), k.positions
        if kind == "balance":
            return k.balance(key), k.balances
        if kind == "market_spec":
            return k.market_spec(key), k.market_specs
        single = {"account": k.account, "feed": k.feed, "reconciliation": k.reconciliation}.get(kind)
        return single or f"{k.base}:{kind}:{key}", ""

    async def _do(self, ops: list[list[Any]]) -> None:
        """Run ``ops`` in steps of about ``chunk`` entities, each checking the claim."""
        for i in range(0, len(ops), self.chunk):
            args: list[Any] = [self.token, self.ttl_ms]
            for op in ops[i:i + self.chunk]:
                args += op
            if not await self._step(keys=[self.keys.rewrite], args=args):
                raise ClaimLost

    async def _stale_keys(self, wanted: set[str]) -> list[str]:
        out: list[str] = []
        for pattern in self.keys.entity_patterns():
            async for raw in self.redis.scan_iter(match=pattern, count=1000):
                name = raw.decode() if isinstance(raw, bytes) else raw
                if name not in wanted:
                    out.append(name)
        return out
