"""Idempotency and ownership records in Redis (the commands service's own keys).

Keys (``a`` = the account token)::

    pdx:<a>:cmd:cid:<client_id>  JSON Record: owner strategy, pending|done, the stored reply
    pdx:<a>:cmd:oid:<order_id>   "<strategy> <client_id>": owner of an exchange order id

A request claims its client id with ``SET NX`` (one round trip, in one pipeline with a GET of the
record); only the claimer sends to the venue. Duplicates wait for the claimer's stored reply: in
the same process on an in-memory future, across processes (or after a restart) by polling the key.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec


class Record(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One client id's record: ``st`` pending|done; ``code``/``body`` the reply when done."""

    s: str
    st: str = "pending"
    at: int = 0
    code: int = 0
    body: msgspec.Raw = msgspec.Raw(b"null")
    oid: str = ""
    q: int = 0  # ACCOUNT stream sequence of the command's CmdSubmitted (0: none)


_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder(Record)


class Claim(msgspec.Struct, frozen=True):
    """Outcome of a claim: ``won`` True if this request owns the client id; else the record held."""

    won: bool
    record: Record | None


class CommandStore:
    """The Redis side of idempotency and ownership for one account."""

    def __init__(self, redis: Any, account: str, ttl_s: int) -> None:
        self.redis = redis
        self.prefix = f"pdx:{account}:cmd"
        self.ttl_s = ttl_s

    def cid_key(self, client_id: str) -> str:
        return f"{self.prefix}:cid:{client_id}"

    def oid_key(self, order_id: str) -> str:
        return f"{self.prefix}:oid:{order_id}"

    async def claim_many(self, strategy: str, client_ids: list[str]) -> list[Claim]:
        """Claim each client id (SET NX) and read what it holds, all in one pipeline."""
        pending = _enc.encode(Record(s=strategy, at=int(time.time() * 1000)))
        pipe = self.redis.pipeline(transaction=False)
        for cid in client_ids:
            key = self.cid_key(cid)
            pipe.set(key, pending, nx=True, ex=self.ttl_s)
            pipe.get(key)
        out = await pipe.execute()
        return [
            Claim(bool(out[2 * i]), None if bool(out[2 * i]) else _decode(out[2 * i + 1]))
            for i in range(len(client_ids))
        ]

    async def claim(self, strategy: str, client_id: str) -> Claim:
        """:meth:`claim_many` for one client id."""
        return (await self.claim_many(strategy, [client_id]))[0]

    async def release(self, client_ids: list[str]) -> None:
        """Drop claims whose request never reached the venue (limits, bus down)."""
        if client_ids:
            await self.redis.delete(*(self.cid_key(c) for c in client_ids))

    async def finish(
        self, strategy: str, client_id: str, code: int, body: bytes, order_id: str = "", seq: int = 0
    ) -> None:
        """Store the reply of ``client_id`` (and the order id's owner), one pipeline; ``seq``: the
        stream sequence of its CmdSubmitted (replays answer it as ``X-Stream-Seq``)."""
        rec = Record(
            s=strategy,
            st="done",
            at=int(time.time() * 1000),
            code=code,
            body=msgspec.Raw(body),
            oid=order_id,
            q=seq,
        )
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self.cid_key(client_id), _enc.encode(rec), ex=self.ttl_s)
        if order_id:
            pipe.set(self.oid_key(order_id), f"{strategy} {client_id}", ex=self.ttl_s)
        await pipe.execute()

    async def get(self, client_id: str) -> Record | None:
        """The record of ``client_id``, if any."""
        return _decode(await self.redis.get(self.cid_key(client_id)))

    async def owners(self, client_ids: list[str]) -> dict[str, str]:
        """Owner strategy of each client id that has a record (one MGET)."""
        if not client_ids:
            return {}
        raw = await self.redis.mget([self.cid_key(c) for c in client_ids])
        out: dict[str, str] = {}
        for cid, value in zip(client_ids, raw, strict=True):
            rec = _decode(value)
            if rec is not None:
                out[cid] = rec.s
        return out

    async def order_owner(self, order_id: str) -> tuple[str, str] | None:
        """(strategy, client_id) of an exchange order id placed through this service, if known."""
        raw = await self.redis.get(self.oid_key(order_id))
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
    return None if raw is None else _dec.decode(raw)
