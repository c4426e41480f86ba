"""The state service's Redis change stream ``pdx:<account>:changes``, read with a consumer group.

Each entry has the fields ``kind``, ``key``, ``seq`` and ``value`` (the record's JSON, the same
body as ``pdx:<account>:<kind>:<key>`` holds). Several strategy replicas in one group share the
entries; each group sees every entry. Entries delivered but not acknowledged (a consumer that died)
are read again first when the same consumer name comes back.

Usage::

    stream = ChangeStream(redis, account, group="mm", consumer="mm-1")
    async for change in stream:
        handle(change)
        await stream.ack(change)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

import msgspec

from shared.client.errors import ClientError
from shared.client.models import Change
from shared.rediskeys import Keys


def changes_key(account: str) -> str:
    """Redis key of an account's change stream (``account`` as configured; lower-cased here)."""
    return Keys(account).changes


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _b(v: Any) -> bytes:
    return v if isinstance(v, bytes) else str(v).encode()


def parse_entry(entry_id: Any, fields: dict[Any, Any]) -> Change:
    """A :class:`Change` from one XREADGROUP entry."""
    f = {_s(k): v for k, v in fields.items()}
    try:
        return Change(kind=_s(f["kind"]), key=_s(f["key"]), seq=int(_s(f["seq"])),
                      value=msgspec.Raw(_b(f.get("value", b"null"))), entry_id=_s(entry_id))
    except (KeyError, ValueError) as exc:
        raise ClientError(f"malformed change-stream entry {_s(entry_id)}: {exc}") from exc


class ChangeStream:
    """Async iterator over an account's changes for one consumer of a consumer group.

    ``start``: where a NEW group begins: ``"$"`` (only changes from now on) or ``"0"`` (everything
    the stream still holds). ``kinds`` filters what is yielded (entries of other kinds are
    acknowledged at once). ``auto_ack``: acknowledge each entry when the next one is requested
    (at-least-once: an entry whose handler crashed is re-read on restart).
    """

    def __init__(self, redis: Any, account: str, *, group: str, consumer: str, start: str = "$",
                 kinds: Iterable[str] | None = None, block_ms: int = 1000, batch: int = 100,
                 auto_ack: bool = False) -> None:
        self.redis = redis
        self.key = changes_key(account)
        self.group = group
        self.consumer = consumer
        self.start = start
        self.kinds = frozenset(kinds) if kinds is not None else None
        self.block_ms = block_ms
        self.batch = batch
        self.auto_ack = auto_ack
        self.closed = False

    async def ensure_group(self) -> None:
        """Create the group (and the stream) if missing; an existing group is kept as it is."""
        try:
            await self.redis.xgroup_create(self.key, self.group, id=self.start, mkstream=True)
        except Exception as exc:  # redis.ResponseError BUSYGROUP: it exists
            if "BUSYGROUP" not in str(exc):
                raise

    async def ack(self, *changes: Change | str) -> int:
        """Acknowledge entries (changes or entry ids); how many were pending."""
        ids = [c.entry_id if isinstance(c, Change) else c for c in changes]
        ids = [i for i in ids if i]
        if not ids:
            return 0
        return int(await self.redis.xack(self.key, self.group, *ids))

    def close(self) -> None:
        """Stop iterating after the current read."""
        self.closed = True

    async def read(self, pending: bool = False) -> tuple[list[Change], int]:
        """One XREADGROUP (blocking up to ``block_ms``): own pending entries when ``pending``.

        Returns the changes to handle and how many entries were read (filtered ones included)."""
        reply = await self.redis.xreadgroup(self.group, self.consumer, {self.key: "0" if pending else ">"},
                                            count=self.batch, block=None if pending else self.block_ms)
        out: list[Change] = []
        skip: list[str] = []
        n = 0
        for _stream, entries in reply or []:
            for entry_id, fields in entries:
                n += 1
                if fields is None:  # pending entry trimmed from the stream meanwhile
                    skip.append(_s(entry_id))
                    continue
                ch = parse_entry(entry_id, fields)
                if self.kinds is not None and ch.kind not in self.kinds:
                    skip.append(ch.entry_id)
                else:
                    out.append(ch)
        if skip:
            await self.ack(*skip)
        return out, n

    async def __aiter__(self) -> AsyncIterator[Change]:
        await self.ensure_group()
        pending = True
        last: Change | None = None
        while not self.closed:
            batch, n = await self.read(pending)
            if pending:  # a full page of pending entries may be followed by more
                pending = n >= self.batch
            for ch in batch:
                if self.auto_ack and last is not None:
                    await self.ack(last)
                last = ch
                yield ch
                if self.closed:
                    break
        if self.auto_ack and last is not None:
            await self.ack(last)
