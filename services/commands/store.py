"""Idempotency and ownership records in Redis (key names from ``shared.rediskeys``).

Keys (``Keys.cmd_client_id`` / ``Keys.cmd_order_id``)::

    pdx:<a>:cmd:cid:<client_id>  JSON Record: owner strategy, pending|done, the stored answer
    pdx:<a>:cmd:oid:<order_id>   "<strategy> <client_id>": owner of an exchange order id

A request claims its client ids with ONE script call (``SET NX`` each, the record read back when
taken): only the claimer sends to the venue. Each claim carries a random nonce, so a claim retried
after a lost reply (redis-py re-sends a command after a connection error) recognises its own record
instead of mistaking itself for a duplicate. Duplicates wait for the claimer's stored answer: in
the same process on an in-memory future, across processes (or after a restart) by polling the key.

Every Redis failure is raised as :class:`StoreUnavailable` (the HTTP edge answers 503 with
Retry-After, never 500).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from redis.exceptions import RedisError

from services.commands.core.answers import REPLAY_HEADER, SEQ_HEADER
from services.commands.core.messages import Answer, encode_body
from shared.errors import HubError
from shared.rediskeys import Keys

T = TypeVar("T")


class StoreUnavailable(HubError):
    """Redis did not answer (down, timed out, refused): the command cannot be made idempotent."""

    retryable = True

    def __init__(self, what: str, exc: BaseException) -> None:
        super().__init__(f"redis unavailable during {what}: {exc!r}")
        self.what = what


class Record(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One client id's record: ``st`` pending|done; ``code``/``body``/``h`` the answer when done."""

    s: str
    st: str = "pending"
    at: int = 0
    code: int = 0
    body: msgspec.Raw = msgspec.Raw(b"null")
    h: dict[str, str] = {}
    oid: str = ""
    q: int = 0  # ACCOUNT stream sequence of the command's CmdSubmitted (0: none)
    n: str = ""  # nonce of the claim

    def answer(self) -> Answer:
        """The stored answer as a replay: same status, body bytes and headers, marked replayed."""
        return Answer(self.code, self.body, {**self.h, REPLAY_HEADER: "true"}, self.q)


_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder(Record)


class Claim(msgspec.Struct, frozen=True):
    """Outcome of a claim: ``won`` True if this request owns the client id; else the record held."""

    won: bool
    record: Record | None


# KEYS: the client-id keys. ARGV[1]: the pending record, ARGV[2]: ttl, ARGV[3]: its nonce.
# Returns, per key, 1 (claimed now, or already ours: same nonce) or the record held.
CLAIM = """
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('SET', key, ARGV[1], 'NX', 'EX', ARGV[2]) then
    out[i] = 1
  else
    local held = redis.call('GET', key)
    if held and string.find(held, ARGV[3], 1, true) then out[i] = 1 else out[i] = held or 0 end
  end
end
return out
"""


def stored_headers(answer: Answer) -> dict[str, str]:
    """The headers a replay repeats (not the ones the edge derives: replay mark, stream seq)."""
    return {k: v for k, v in answer.headers.items() if k not in (REPLAY_HEADER, SEQ_HEADER)}


class CommandStore:
    """The Redis side of idempotency and ownership for one account."""

    def __init__(self, redis: Any, keys: Keys, ttl_s: int) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl_s = ttl_s
        self._claim = redis.register_script(CLAIM)

    async def _call(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        try:
            return await fn()
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(what, exc) from exc

    async def claim(self, strategy: str, client_ids: list[str]) -> list[Claim]:
        """Claim each client id (see the module docstring), one script call for all of them."""
        if not client_ids:
            return []
        nonce = os.urandom(8).hex()
        pending = _enc.encode(Record(s=strategy, at=int(time.time() * 1000), n=nonce))
        keys = [self.keys.cmd_client_id(c) for c in client_ids]
        out = await self._call("claim", lambda: self._claim(keys=keys, args=[pending, self.ttl_s, nonce]))
        return [Claim(True, None) if r == 1 else Claim(False, _decode(r or None)) for r in out]

    async def release(self, client_ids: list[str]) -> None:
        """Drop claims whose request never reached the venue (limits, budget, bus down, not sent)."""
        if client_ids:
            keys = [self.keys.cmd_client_id(c) for c in client_ids]
            await self._call("release", lambda: self.redis.delete(*keys))

    async def finish(self, strategy: str, done: list[tuple[str, Answer, str]]) -> None:
        """Store the answer of each (client id, answer, exchange order id) and the order id's
        owner, one pipeline; the answer's ``seq`` (its CmdSubmitted) is kept for replays."""
        if not done:
            return
        now = int(time.time() * 1000)
        pipe = self.redis.pipeline(transaction=False)
        for cid, answer, order_id in done:
            rec = Record(
                s=strategy,
                st="done",
                at=now,
                code=answer.status,
                body=msgspec.Raw(encode_body(answer.body)),
                h=stored_headers(answer),
                oid=order_id,
                q=answer.seq,
            )
            pipe.set(self.keys.cmd_client_id(cid), _enc.encode(rec), ex=self.ttl_s)
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
        strategy, _, cid = (raw.decode() if isinstance(raw, bytes) else raw).partition(" ")
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


def _decode(raw: bytes | None) -> Record | None:
    if raw is None:
        return None
    try:
        return _dec.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
