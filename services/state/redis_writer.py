"""Writes state changes to Redis: one atomic, sequence-guarded Lua call per applied batch.

Account changes are written per batch of events: all of a batch's changes, the change-stream
entries and ``pdx:<account>:seq`` in ONE atomic Lua script call (:data:`APPLY_BATCH`), so a
reader never sees half a batch. The call is guarded by ``pdx:<account>:seq``: changes Redis
already reflects are skipped (replicas), and a Redis that lost data is reported, not written to.
A Lua script is as atomic as MULTI/EXEC but costs one command
and one reply per batch instead of three per change (redis-py spends ~20 us on each reply of a
transaction; at 5000 events/s that alone saturated the loop). The batch's ops travel as ONE
msgpack-encoded argument (``msgspec.msgpack``, unpacked by Redis's built-in ``cmsgpack``): redis-py
packs every command argument in Python (~1 us each, ~14 per change), which was 40 % of the
state's CPU per event at 5000 events/s; one bytes argument costs it nothing.
Market data is coalesced per (kind, market), latest wins, and flushed periodically by the
service: book rates can exceed what Redis round trips allow, and only the latest book matters.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import msgspec

from services.state.encode import Encoded, body
from shared.rediskeys import Keys

_pack = msgspec.msgpack.Encoder().encode

# The op interpreter shared by the account write and the full rewrite (services.state.rewrite).
# Opcodes: S key value (SET) | D key (DEL) | H hash field value | h hash field (HDEL) |
# A set member (SADD) | R set member (SREM) | Z zset score member | z zset member (ZREM) |
# T zset stop (ZREMRANGEBYRANK 0 stop) | X kind key seq value (XADD to the changes stream, MAXLEN ~) |
# Q seq: the ops up to the next Q belong to the change(s) applied at stream sequence ``seq``; they
# are skipped when ``seq`` is at or below ``cur`` (what Redis already reflects).
OPS = """
local LEN = {S=3, D=2, H=4, h=3, A=3, R=3, Z=4, z=3, T=3, X=5, Q=2}
local function run(a, i, stream, maxlen, cur)
  local n = #a
  local skip = false
  while i <= n do
    local op = a[i]
    if op == 'Q' then skip = tonumber(a[i+1]) <= cur; i = i + 2
    elseif skip then
      local len = LEN[op]
      if not len then error('bad opcode ' .. tostring(op)) end
      i = i + len
    elseif op == 'S' then redis.call('SET', a[i+1], a[i+2]); i = i + 3
    elseif op == 'X' then
      redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'kind', a[i+1], 'key', a[i+2],
                 'seq', a[i+3], 'value', a[i+4])
      i = i + 5
    elseif op == 'H' then redis.call('HSET', a[i+1], a[i+2], a[i+3]); i = i + 4
    elseif op == 'D' then redis.call('DEL', a[i+1]); i = i + 2
    elseif op == 'h' then redis.call('HDEL', a[i+1], a[i+2]); i = i + 3
    elseif op == 'A' then redis.call('SADD', a[i+1], a[i+2]); i = i + 3
    elseif op == 'R' then redis.call('SREM', a[i+1], a[i+2]); i = i + 3
    elseif op == 'Z' then redis.call('ZADD', a[i+1], a[i+2], a[i+3]); i = i + 4
    elseif op == 'z' then redis.call('ZREM', a[i+1], a[i+2]); i = i + 3
    elseif op == 'T' then redis.call('ZREMRANGEBYRANK', a[i+1], 0, a[i+2]); i = i + 3
    else error('bad opcode ' .. tostring(op)) end
  end
end
"""

# Outcomes of APPLY_BATCH, returned as {code, cur} (cur: the sequence Redis reflected before).
WRITTEN, ALREADY, ABSENT, WAIT, LOST = 0, 1, 2, 3, 4
OUTCOMES = {WRITTEN: "written", ALREADY: "already", ABSENT: "absent", WAIT: "wait", LOST: "lost"}

# KEYS: seq, rewrite claim. ARGV[1..5]: changes stream, maxlen, new seq, floor, the ops as one
# msgpack array of strings (every number written as its decimal string, as redis-py would; bytes
# as UTF-8 text: Redis's cmsgpack does not read msgpack's bin type).
# ``floor``: the highest sequence this writer has seen Redis reflect (0: none yet). The sequence
# guard: changes at or below the stored ``seq`` are skipped, so any number of replicas writing
# the same fold produce each change (value and change-stream entry) once, in order, and ``seq``
# never goes back. A stored ``seq`` below ``floor``, or none at all once we wrote one, means
# Redis lost data (wiped, restarted empty or from an old file): nothing is written, the caller
# rewrites everything (services.state.rewrite). While a rewrite is in progress nobody writes.
APPLY_BATCH = OPS + """
if redis.call('EXISTS', KEYS[2]) == 1 then return {3, 0} end
local floor = tonumber(ARGV[4])
local cur = redis.call('GET', KEYS[1])
if not cur then
  if floor > 0 then return {2, 0} end
  cur = 0
else
  cur = tonumber(cur)
  if cur < floor then return {4, cur} end
end
local new = tonumber(ARGV[3])
if new <= cur then return {1, cur} end
run(cmsgpack.unpack(ARGV[5]), 1, ARGV[1], ARGV[2], cur)
redis.call('SET', KEYS[1], ARGV[3])
return {0, cur}
"""

# KEYS[1] the market-data writer lease. ARGV: token, ttl_ms, md changes stream, maxlen, notify (0/1),
# then (key, body, kind, market, seq, value) per value. Returns 0 (another replica writes market
# data), 1 (written), 2 (written, and the lease was just taken: every market should be rewritten).
WRITE_MARKET = """
local a = ARGV
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= a[1] then return 0 end
redis.call('SET', KEYS[1], a[1], 'PX', a[2])
local i = 6
while i <= #a do
  redis.call('SET', a[i], a[i+1])
  if a[5] == '1' then
    redis.call('XADD', a[3], 'MAXLEN', '~', a[4], '*', 'kind', a[i+2], 'key', a[i+3], 'seq', a[i+4],
               'value', a[i+5])
  end
  i = i + 6
end
if holder then return 1 end
return 2
"""

_ACCOUNT_SINGLETONS = {"account": "account", "feed": "feed", "reconciliation": "reconciliation"}


class RedisWriter:
    """Owns the Redis write path for one account."""

    def __init__(self, redis: Any, keys: Keys, *, changes_maxlen: int = 100_000,
                 md_changes_maxlen: int = 10_000, recent_fills_max: int = 1000, md_token: str = "",
                 md_lease_ms: int = 5000) -> None:
        self.redis = redis
        self.keys = keys
        self.changes_maxlen = changes_maxlen
        self.md_changes_maxlen = md_changes_maxlen
        self.recent_fills_max = recent_fills_max
        self.batches = 0
        self.errors = 0
        self.last_error = ""
        self.outcomes = dict.fromkeys(OUTCOMES, 0)
        self.md_token = md_token or uuid.uuid4().hex
        self.md_lease_ms = md_lease_ms
        self.md_writer = False
        self._script = redis.register_script(APPLY_BATCH)
        self._md_script = redis.register_script(WRITE_MARKET)

    async def write_account(self, changes: Iterable[Encoded], applied_seq: int,
                            floor: int = 0) -> tuple[int, int]:
        """Write one batch of account changes, their notifications and the applied sequence,
        sequence-guarded (see :data:`APPLY_BATCH`); returns ``(outcome, seq Redis held before)``."""
        k = self.keys
        ops: list[Any] = []
        add = ops.extend
        fills = False
        last_seq = -1
        seq_s = ""
        for c in changes:
            kind, key = c.kind, c.key
            if c.seq != last_seq:
                last_seq = c.seq
                seq_s = str(last_seq)
                add(("Q", seq_s))
            if kind == "order":
                name = k.order(key)
                if c.deleted:
                    add(("D", name, "h", k.orders, key))
                else:
                    add(("S", name, c.body().decode(), "H", k.orders, key, c.record.status))
            elif kind == "fill":
                if c.deleted:  # evicted by retention
                    add(("D", k.fill(key), "z", k.fills, key))
                else:
                    add(("S", k.fill(key), c.body().decode(), "Z", k.fills,
                         str(c.record.fill.created_at), key))
                    fills = True
            elif kind == "position":
                _entity(add, c, k.position(key), k.positions)
            elif kind == "balance":
                _entity(add, c, k.balance(key), k.balances)
            elif kind == "market_spec":
                _entity(add, c, k.market_spec(key), k.market_specs)
            elif kind in _ACCOUNT_SINGLETONS:
                add(("S", getattr(k, _ACCOUNT_SINGLETONS[kind]), c.body().decode()))
            elif c.deleted:  # e.g. an evicted algo order
                add(("D", f"{k.base}:{kind}:{key}"))
            else:
                add(("S", f"{k.base}:{kind}:{key}", c.body().decode()))
            add(("X", kind, key, seq_s, c.value.decode()))
        if fills:
            add(("Q", str(applied_seq), "T", k.fills, str(-self.recent_fills_max - 1)))
        args = [k.changes, self.changes_maxlen, applied_seq, floor, _pack(ops)]
        try:
            code, cur = await self._script(keys=[k.seq, k.rewrite], args=args)
            self.batches += 1
        except Exception as exc:
            self.errors += 1
            self.last_error = repr(exc)
            raise
        self.last_error = ""
        self.outcomes[int(code)] += 1
        return int(code), int(cur)

    async def write_market(self, values: list[tuple[str, str, int, bytes]], notify: bool = True) -> int:
        """Write the latest market values: (kind, market, market_seq, value_json) each, if this
        replica holds the market-data writer lease (one writer: replicas number market data
        locally, so two would each notify every change). 0: not the writer; 1: written; 2: written
        and just became the writer (the caller should rewrite every market)."""
        args: list[Any] = [self.md_token, self.md_lease_ms, self.keys.md_changes, self.md_changes_maxlen,
                           1 if notify else 0]
        for kind, market, seq, value in values:
            args += (Keys.md(kind, market), body(seq, value), kind, market, seq, value)
        try:
            got = int(await self._md_script(keys=[Keys.md_writer], args=args))
            self.batches += 1
        except Exception as exc:
            self.errors += 1
            self.last_error = repr(exc)
            raise
        self.last_error = ""
        self.md_writer = got > 0
        return got

    async def write_health(self, health_body: bytes, replica: str, ttl_ms: int) -> None:
        """Replace ``pdx:<account>:health`` (the latest replica's) and this replica's own (TTL)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self.keys.health, health_body)
        pipe.set(self.keys.health_of(replica), health_body, px=ttl_ms)
        await pipe.execute()


def _entity(add: Any, c: Encoded, name: str, index: str) -> None:
    if c.deleted:
        add(("D", name, "R", index, c.key))
    else:
        add(("S", name, c.body().decode(), "A", index, c.key))
