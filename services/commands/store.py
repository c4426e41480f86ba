"""Idempotency, the shared venue budget and the limit reservations, in Redis (keys from
``shared.rediskeys``), one script call per place.

Keys::

    pdx:<a>:cmd:cid:<client_id>  JSON Record (core.idempotency): owner, pending|done, the answer
    pdx:<a>:cmd:oid:<order_id>   "<strategy> <client_id>": owner of an exchange order id
    pdx:<a>:cmd:index            marker: the records are complete (absent after a Redis wipe)
    pdx:<a>:cmd:budget           the venue order-write buckets (per second, per minute)
    pdx:<a>:cmd:rate:<strategy>  a strategy's order-rate bucket
    pdx:<a>:cmd:reservers        process token -> last reservation (ms)
    pdx:<a>:cmd:reserved:<token> client id -> "<at_ms>|<market>|<side>|<size>|<owner>|<token>"
    pdx:<a>:cmd:reserved:<token>:at  sorted set: client id by reservation time (own expiry)

:data:`CLAIM` does, atomically, for every client id of a request: refuse everything when the
index marker is missing (``IndexMissing``: the records must be rebuilt from the ACCOUNT stream
first); ``SET NX`` each claim (a claim carries a random nonce, so one retried after a lost reply
recognises its own record instead of mistaking itself for a duplicate); take the won orders'
venue units (one per 10 orders) from the shared buckets and their count from the strategy's
bucket, on Redis's clock (every replica shares the budget); and reserve each won order, returning
the reservations made before them, so limits hold across replicas (``core.place.within_limits``
counts them; only those of the markets the strategy's limits read are returned, and none are read
when its limits read none: ``core.place.reservation_markets``). Duplicates wait for the claimer's
answer: in the same process on an in-memory future, across processes (or after a restart) by
polling the key.

Every Redis failure is raised as :class:`StoreUnavailable` (the HTTP edge answers 503 with
Retry-After, never 500).
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.commands.core.idempotency import Record, done
from services.commands.core.messages import Answer
from services.commands.core.place import API_BATCH_MAX, VENUE_BATCH_MAX
from services.commands.core.risk import LiveOrder
from shared.errors import HubError
from shared.rediskeys import Keys

T = TypeVar("T")


class StoreUnavailable(HubError):
    """Redis did not answer (down, timed out, refused): the command cannot be made idempotent."""

    retryable = True

    def __init__(self, what: str, exc: BaseException) -> None:
        super().__init__(f"redis unavailable during {what}: {exc!r}")
        self.what = what


class IndexMissing(HubError):
    """The idempotency records are not complete (Redis lost them): they are being rebuilt."""

    retryable = True


_enc = msgspec.json.Encoder()
_PARSED_MAX = 20_000  # reservations kept parsed (a few seconds of every replica's orders)
_dec = msgspec.json.Decoder(Record)


@dataclass(frozen=True)
class Rate:
    """A token bucket: ``per_s`` tokens a second up to ``burst``."""

    per_s: float
    burst: float


@dataclass(frozen=True)
class BudgetSpec:
    """The venue's order-write budget as this service spends it (per second and per minute)."""

    second: Rate
    minute: Rate


class Claim(msgspec.Struct, frozen=True):
    """Outcome of a claim: ``won`` True if this request owns the client id; else the record held."""

    won: bool
    record: Record | None


class ClaimResult(msgspec.Struct, frozen=True):
    """Every claim, the reservations decided before this request's (other requests, replicas),
    and ``wait_s`` > 0 with the ``rule`` when a bucket was empty (nothing was claimed then)."""

    claims: list[Claim]
    reserved: list[LiveOrder]
    wait_s: float = 0.0
    rule: str = ""


# A token bucket in a hash: fields <p>t (tokens) and <p>at (ms). Helpers shared by the scripts.
BUCKETS = """
local function level(key, p, rate, burst, now)
  local v = redis.call('HMGET', key, p .. 't', p .. 'at')
  local tokens, at = tonumber(v[1]), tonumber(v[2])
  if not tokens then return burst end
  if now > at then tokens = math.min(burst, tokens + (now - at) * rate / 1000) end
  return tokens
end
local function wait_ms(tokens, need, rate)
  return math.ceil((need - tokens) * 1000 / rate)
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

# KEYS: marker, budget, strategy rate, reservers, then the client-id keys.
# ARGV: pending record, ttl, nonce, per request, rate_s, burst_s, rate_m, burst_m, strategy rate (0:
# none), strategy burst, reservation max age (ms), one reservation value per client id
# ("market|side|size|owner"), the client-id key prefix, this process's token, the reservation key
# prefix (one hash per process: ``Keys.cmd_reserved(token)``; a single Redis, not a cluster), then
# the markets whose reservations to return ("*": every market; none: no reservation returned, the
# expired ones are still dropped).
# Returns {-1} (no index) | {-2, wait_ms} (venue budget) | {-3, wait_ms} (strategy rate) |
# {0, 0, claim_1 .. claim_n, cid, value, ...}: claim 1 = won, else the record held; then the
# reservations of OTHER processes ("at|market|side|size|owner|token"; this process counts its own
# in flight itself: nothing to read for a single replica), expired ones dropped. They were all made
# before these (the script is atomic).
OWN_CLEANUP = 2 * API_BATCH_MAX
"""A process's own expired reservations dropped per claim (more than one claim adds: its hash never
outgrows what the reservation age holds, whether another replica reads it or not). They are found
by time in ``<reserved key>:at`` (a sorted set: client id by reservation time)."""

CLAIM = (
    BUCKETS
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local now = now_ms()
local n = #KEYS - 4
local out, won = {}, {}
for i = 1, n do
  local key = KEYS[4 + i]
  if redis.call('SET', key, ARGV[1], 'NX', 'EX', ARGV[2]) then
    out[i] = 1; won[#won + 1] = i
  else
    local held = redis.call('GET', key)
    if held and string.find(held, ARGV[3], 1, true) then out[i] = 1; won[#won + 1] = i
    else out[i] = held or 0 end
  end
end
local orders = #won
if orders > 0 then
  local units = math.ceil(orders / tonumber(ARGV[4]))
  local rs, bs, rm, bm = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
  local ts, tm = level(KEYS[2], 's', rs, bs, now), level(KEYS[2], 'm', rm, bm, now)
  local rq, bq = tonumber(ARGV[9]), tonumber(ARGV[10])
  local tq = 0
  if rq > 0 then tq = level(KEYS[3], '', rq, bq, now) end
  local refuse, wait = 0, 0
  if ts < units then refuse, wait = -2, wait_ms(ts, units, rs) end
  if tm < units then refuse, wait = -2, math.max(wait, wait_ms(tm, units, rm)) end
  if refuse == 0 and rq > 0 and tq < orders then refuse, wait = -3, wait_ms(tq, orders, rq) end
  if refuse ~= 0 then
    for _, i in ipairs(won) do redis.call('DEL', KEYS[4 + i]) end
    return {refuse, wait}
  end
  redis.call('HSET', KEYS[2], 'st', ts - units, 'sat', now, 'mt', tm - units, 'mat', now)
  if rq > 0 then redis.call('HSET', KEYS[3], 't', tq - orders, 'at', now) end
end
local prefix, token, base = ARGV[12 + n], ARGV[13 + n], ARGV[14 + n]
local res = {0, 0}
for i = 1, n do res[#res + 1] = out[i] end
local oldest = now - tonumber(ARGV[11])
local every, want, read = false, {}, 15 + n <= #ARGV
for i = 15 + n, #ARGV do
  if ARGV[i] == '*' then every = true else want[ARGV[i]] = true end
end
local others = redis.call('HGETALL', KEYS[4])
for j = 1, #others, 2 do
  local other = others[j]
  if other ~= token then
    local key = base .. other
    if tonumber(others[j + 1]) < oldest then
      redis.call('HDEL', KEYS[4], other); redis.call('DEL', key, key .. ':at')
    elseif read then
      local all = redis.call('HGETALL', key)
      for k = 1, #all, 2 do
        local v = all[k + 1]
        local t, market = string.match(v, '^(%d+)|([^|]*)|')
        local at = tonumber(t)
        if not at or at < oldest then redis.call('HDEL', key, all[k])
        elseif every or want[market] then res[#res + 1] = all[k]; res[#res + 1] = v end
      end
    end
  end
end
if orders > 0 then
  local mine = base .. token
  local ats = mine .. ':at'
  for _, i in ipairs(won) do
    local cid = string.sub(KEYS[4 + i], #prefix + 1)
    redis.call('HSET', mine, cid, now .. '|' .. ARGV[11 + i] .. '|' .. token)
    redis.call('ZADD', ats, now, cid)
  end
  local old = redis.call('ZRANGEBYSCORE', ats, '-inf', '(' .. oldest, 'LIMIT', 0, OWN_CLEANUP)
  if #old > 0 then
    redis.call('HDEL', mine, unpack(old)); redis.call('ZREM', ats, unpack(old))
  end
  redis.call('PEXPIRE', mine, ARGV[11]); redis.call('PEXPIRE', ats, ARGV[11])
  redis.call('HSET', KEYS[4], token, now)
end
return res
""".replace("OWN_CLEANUP", str(OWN_CLEANUP))
)

# KEYS: budget[, strategy rate]. ARGV: units, rate_s, burst_s, rate_m, burst_m[, strategy rate, strategy
# burst, orders]. Returns 0 (taken) or the wait in ms (negative: the strategy's rate is what waits).
TAKE = (
    BUCKETS
    + """
local now = now_ms()
local units = tonumber(ARGV[1])
local rs, bs, rm, bm = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local ts, tm = level(KEYS[1], 's', rs, bs, now), level(KEYS[1], 'm', rm, bm, now)
if ts < units or tm < units then
  return math.max(ts < units and wait_ms(ts, units, rs) or 0, tm < units and wait_ms(tm, units, rm) or 0)
end
local tq, orders = 0, 0
if #KEYS > 1 then
  local rq, bq = tonumber(ARGV[6]), tonumber(ARGV[7])
  orders = tonumber(ARGV[8])
  tq = level(KEYS[2], '', rq, bq, now)
  if tq < orders then return -wait_ms(tq, orders, rq) end
end
redis.call('HSET', KEYS[1], 'st', ts - units, 'sat', now, 'mt', tm - units, 'mat', now)
if #KEYS > 1 then redis.call('HSET', KEYS[2], 't', tq - orders, 'at', now) end
return 0
"""
)

# KEYS: budget, strategy rate, reserved, then client-id keys to delete. ARGV: venue units, orders to
# give back, burst_s, burst_m, strategy burst, then the client ids whose reservations go.
RELEASE = """
for i = 4, #KEYS do redis.call('DEL', KEYS[i]) end
for i = 6, #ARGV do redis.call('HDEL', KEYS[3], ARGV[i]) end
local units, orders = tonumber(ARGV[1]), tonumber(ARGV[2])
if units > 0 and redis.call('EXISTS', KEYS[1]) == 1 then
  local v = redis.call('HMGET', KEYS[1], 'st', 'mt')
  redis.call('HSET', KEYS[1], 'st', math.min(tonumber(ARGV[3]), (tonumber(v[1]) or 0) + units),
             'mt', math.min(tonumber(ARGV[4]), (tonumber(v[2]) or 0) + units))
end
if orders > 0 and redis.call('EXISTS', KEYS[2]) == 1 then
  local t = tonumber(redis.call('HGET', KEYS[2], 't')) or 0
  redis.call('HSET', KEYS[2], 't', math.min(tonumber(ARGV[5]), t + orders))
end
return 1
"""


ABSORB_GRACE_MS = 2000
"""How long a reservation still counts on other replicas after its order appeared in our view."""

# KEYS: this process's reservations. ARGV: reservation age to set back by (ms), then client ids:
# each reservation's time becomes now - ARGV[1] (it expires ABSORB_GRACE_MS from now).
ABSORB = (
    BUCKETS
    + """
local at = now_ms() - tonumber(ARGV[1])
for i = 2, #ARGV do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if v then
    local bar = string.find(v, '|', 1, true)
    redis.call('HSET', KEYS[1], ARGV[i], at .. string.sub(v, bar))
    redis.call('ZADD', KEYS[1] .. ':at', at, ARGV[i])
  end
end
return 1
"""
)


def units(orders: int) -> int:
    """Venue requests (budget units) for ``orders`` orders: one per batch of 10."""
    return math.ceil(orders / VENUE_BATCH_MAX)


class ScriptLane:
    """Runs the place path's script calls on connections of its own, straight through redis-py's
    ``Connection`` (pack, send, read), skipping the client's per-command machinery (pool lock,
    retry wrapper, observability hooks): measured in the service, that machinery cost more CPU
    than packing, sending and parsing the claim together. Anything that goes wrong (no
    connection, a dead one, NOSCRIPT, a script error, a timeout) drops that connection and runs
    the call again through the client, which retries on a fresh connection as configured: every
    script of this store is safe to repeat (a claim carries its nonce). A client that is not a
    ``redis.asyncio.Redis`` (test doubles) always takes the client's path."""

    MAX_IDLE = 32
    """Idle connections kept (more concurrent claims than this open and close connections: a new
    one cost ~1 ms of CPU here, most of it redis-py reading its own version from the package
    metadata; 16 concurrent strategies churned them with 4)."""

    def __init__(self, redis: Any) -> None:
        self._pool = redis.connection_pool if isinstance(redis, Redis) else None
        self._idle: list[Any] = []
        self.fallbacks = 0

    async def run(self, script: Any, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        if self._pool is None:
            return await script(keys=keys, args=args)
        conn = self._idle.pop() if self._idle else None
        try:
            if conn is None:
                conn = self._pool.make_connection()  # type: ignore[no-untyped-call]  # redis-py: untyped
                await conn.connect()
            await conn.send_packed_command(
                conn.pack_command("EVALSHA", script.sha, len(keys), *keys, *args), check_health=False
            )
            out = await conn.read_response()
        except Exception:  # (a cancellation is not caught: that connection is never put back, and
            # redis-py's send and read disconnect it themselves when cancelled)
            self.fallbacks += 1
            if conn is not None:
                await _quietly(conn.disconnect(nowait=True))
            return await script(keys=keys, args=args)
        if len(self._idle) < self.MAX_IDLE:
            self._idle.append(conn)
        else:
            await _quietly(conn.disconnect())
        return out

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await _quietly(conn.disconnect())


async def _quietly(aw: Awaitable[Any]) -> None:
    try:
        await aw
    except Exception:  # closing a connection that is already broken
        pass


class CommandStore:
    """The Redis side of idempotency, ownership, the shared budget and reservations."""

    def __init__(
        self, redis: Any, keys: Keys, ttl_s: int, budget: BudgetSpec | None = None, reservation_s: float = 5.0
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl_s = ttl_s
        self.reservation_ms = int(reservation_s * 1000)
        #: names this process's reservations (it counts its own orders in flight itself)
        self.token = os.urandom(6).hex()
        self.budget = budget or BudgetSpec(Rate(600.0, 200.0), Rate(17_000 / 60, 17_000.0))
        self._claim = redis.register_script(CLAIM)
        self.lane = ScriptLane(redis)
        self._take = redis.register_script(TAKE)
        self._release = redis.register_script(RELEASE)
        self._absorb = redis.register_script(ABSORB)
        self._parsed: dict[tuple[bytes | str, bytes | str], LiveOrder] = {}

    async def close(self) -> None:
        """Close the script lane's own connections (the client's pool is closed by its owner)."""
        await self.lane.close()

    async def _call(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        try:
            return await fn()
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(what, exc) from exc

    def _budget_args(self) -> list[float]:
        b = self.budget
        return [b.second.per_s, b.second.burst, b.minute.per_s, b.minute.burst]

    async def claim(
        self,
        strategy: str,
        orders: Sequence[LiveOrder],
        rate: Rate | None = None,
        markets: Collection[str] | None = None,
    ) -> ClaimResult:
        """Claim each order's client id, take its budget and reserve it (see the module docstring).
        ``reserved`` holds the other processes' reservations in ``markets`` (None: in every market;
        empty: none, when no limit of the strategy reads them). Raises IndexMissing when the
        records must be rebuilt first."""
        if not orders:
            return ClaimResult([], [])
        k = self.keys
        nonce = os.urandom(8).hex()
        pending = _enc.encode(Record(s=strategy, at=int(time.time() * 1000), n=nonce))
        keys = [k.cmd_index, k.cmd_budget, k.cmd_strategy_rate(strategy), k.cmd_reservers]
        keys += [k.cmd_client_id(o.client_id) for o in orders]
        args: list[Any] = [pending, self.ttl_s, nonce, VENUE_BATCH_MAX, *self._budget_args()]
        args += [rate.per_s if rate else 0, rate.burst if rate else 0, self.reservation_ms]
        args += [f"{o.market}|{o.side}|{o.remaining}|{o.owner}" for o in orders]
        args += [k.cmd_client_id(""), self.token, k.cmd_reserved("")]
        args += ["*"] if markets is None else sorted(markets)
        out = await self._call("claim", lambda: self.lane.run(self._claim, keys, args))
        code = int(out[0])
        if code == -1:
            raise IndexMissing("the idempotency records are being rebuilt from the ACCOUNT stream")
        if code in (-2, -3):
            return ClaimResult(
                [], [], max(0.001, int(out[1]) / 1000), "rate_limit" if code == -2 else "max_order_rate"
            )
        n = len(orders)
        claims = [Claim(True, None) if r == 1 else Claim(False, _decode(r or None)) for r in out[2 : 2 + n]]
        rest = out[2 + n :]
        reserved = [o for j in range(0, len(rest), 2) if (o := self._reservation(rest[j], rest[j + 1]))]
        return ClaimResult(claims, reserved)

    def _reservation(self, cid: bytes | str, value: bytes | str) -> LiveOrder | None:
        """A reservation read back (parsed once: the same ones come back on every claim while
        they live; malformed: None)."""
        key = (cid, value)
        hit = self._parsed.get(key)
        if hit is None:
            parts = _text(value).split("|")
            if len(parts) != 6:
                return None
            try:
                hit = LiveOrder(_text(cid), parts[1], parts[2], Decimal(parts[3]), parts[4])
            except ArithmeticError:
                return None
            if len(self._parsed) >= _PARSED_MAX:
                self._parsed.clear()
            self._parsed[key] = hit
        return hit

    async def take(self, n: int = 1) -> float:
        """Take ``n`` units of the shared venue budget (cancels, modifies): 0.0 or the wait."""
        wait_ms = await self._call(
            "budget", lambda: self._take(keys=[self.keys.cmd_budget], args=[n, *self._budget_args()])
        )
        return int(wait_ms) / 1000

    async def take_order(self, strategy: str, rate: Rate) -> tuple[float, str]:
        """One venue unit and one order of ``strategy``'s ``rate`` bucket, atomically (an order
        placed outside the claim: a TWAP algo): ``(0.0, "")`` or the wait and the rule that
        refused (``rate_limit``: the venue budget; ``max_order_rate``: the strategy's)."""
        keys = [self.keys.cmd_budget, self.keys.cmd_strategy_rate(strategy)]
        args = [1, *self._budget_args(), rate.per_s, rate.burst, 1]
        wait_ms = int(await self._call("budget", lambda: self._take(keys=keys, args=args)))
        if wait_ms == 0:
            return 0.0, ""
        return abs(wait_ms) / 1000, "max_order_rate" if wait_ms < 0 else "rate_limit"

    async def release(
        self,
        client_ids: Sequence[str],
        *,
        units: int = 0,
        orders: int = 0,
        strategy: str = "",
        rate: Rate | None = None,
    ) -> None:
        """Drop claims whose request never reached the venue (limits, bus down, not sent) and
        their reservations; give back ``units`` venue units and ``orders`` of ``strategy``'s rate."""
        if not (client_ids or units or orders):
            return
        k = self.keys
        keys = [
            k.cmd_budget,
            k.cmd_strategy_rate(strategy),
            k.cmd_reserved(self.token),
            *(k.cmd_client_id(c) for c in client_ids),
        ]
        b = self.budget
        args: list[Any] = [
            units,
            orders if rate else 0,
            b.second.burst,
            b.minute.burst,
            rate.burst if rate else 0,
        ]
        args += list(client_ids)
        await self._call("release", lambda: self._release(keys=keys, args=args))

    async def unreserve(self, client_ids: Sequence[str]) -> None:
        """Reservations of orders that will never exist (refused, not sent) stop counting now."""
        if client_ids:
            mine = self.keys.cmd_reserved(self.token)
            await self._call("unreserve", lambda: self.redis.hdel(mine, *client_ids))

    async def absorb(self, client_ids: Sequence[str]) -> None:
        """Reservations of orders this process's view of the state now shows expire in
        ``ABSORB_GRACE_MS`` instead of being dropped: another replica's view may lag ours, and
        until it shows them too they must keep counting there (a replica that does show them
        skips them: it counts them once, from the state)."""
        if client_ids:
            keep = max(0, self.reservation_ms - ABSORB_GRACE_MS)
            mine = self.keys.cmd_reserved(self.token)
            await self._call("absorb", lambda: self._absorb(keys=[mine], args=[keep, *client_ids]))

    async def finish(self, strategy: str, done_: list[tuple[str, Answer, str]]) -> None:
        """Store the answer of each (client id, answer, exchange order id) and the order id's
        owner, one pipeline; the answer's ``seq`` (its CmdSubmitted) is kept for replays."""
        if not done_:
            return
        now = int(time.time() * 1000)
        pipe = self.redis.pipeline(transaction=False)
        for cid, answer, order_id in done_:
            pipe.set(
                self.keys.cmd_client_id(cid),
                _enc.encode(done(strategy, answer, now, order_id)),
                ex=self.ttl_s,
            )
            if order_id:
                pipe.set(self.keys.cmd_order_id(order_id), f"{strategy} {cid}", ex=self.ttl_s)
        await self._call("finish", pipe.execute)

    async def get(self, client_id: str) -> Record | None:
        """The record of ``client_id``, if any."""
        key = self.keys.cmd_client_id(client_id)
        return _decode(await self._call("get", lambda: self.redis.get(key)))

    async def owners(self, client_ids: list[str]) -> dict[str, str]:
        """Owner strategy of each client id that has a record (one MGET)."""
        if not client_ids:
            return {}
        keys = [self.keys.cmd_client_id(c) for c in client_ids]
        raw = await self._call("owners", lambda: self.redis.mget(keys))
        out: dict[str, str] = {}
        for cid, value in zip(client_ids, raw, strict=True):
            rec = _decode(value)
            if rec is not None:
                out[cid] = rec.s
        return out

    async def order_owner(self, order_id: str) -> tuple[str, str] | None:
        """(strategy, client_id) of an exchange order id placed through this service, if known."""
        key = self.keys.cmd_order_id(order_id)
        raw = await self._call("order_owner", lambda: self.redis.get(key))
        if raw is None:
            return None
        strategy, _, cid = _text(raw).partition(" ")
        return strategy, cid

    async def wait_done(self, client_id: str, timeout_s: float) -> Record | None:
        """Poll until the record of ``client_id`` is done (or gone: None); the last record seen on
        timeout (still pending)."""
        deadline = time.monotonic() + timeout_s
        delay = 0.002
        while True:
            rec = await self.get(client_id)
            if rec is None or rec.st == "done" or time.monotonic() >= deadline:
                return rec
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _decode(raw: bytes | None) -> Record | None:
    if raw is None:
        return None
    try:
        return _dec.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
