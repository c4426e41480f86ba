"""Encode state records once, for Redis, the change stream, SSE and HTTP alike.

A body is ``{"seq": S, "value": V}``: ``S`` the stream sequence it reflects, ``V`` the record
(msgspec JSON: Decimals as exact strings). Bodies are assembled from pre-encoded parts, so a
record is encoded a single time however many places it goes.
"""

from __future__ import annotations

from typing import Any

import msgspec

from services.state.core import Change
from shared.rediskeys import encode_record
from shared.trace import event_json

_enc = msgspec.json.Encoder()
encode = _enc.encode


body = encode_record  # ``{"seq": seq, "value": <value_json>}`` (the contract lives in shared.rediskeys)


def body_of(seq: int, value: Any) -> bytes:
    """Encode ``value`` and wrap it with ``seq``."""
    return body(seq, _enc.encode(value))


class Encoded(msgspec.Struct, frozen=True, gc=False):
    """One change, encoded: ``value`` is the record's JSON (``null`` when deleted); ``trace``:
    the latency stamps of the event that made it (``STATE_TRACE`` only, ``shared.trace``).

    ``gc=False``: it holds bytes, strings and a frozen record, never anything pointing back at it;
    untracked, the SSE replay buffer's 10 000 of them cost the garbage collector nothing (as a
    NamedTuple each was scanned by every collection that reached it)."""

    stream: str
    kind: str
    key: str
    seq: int
    value: bytes
    deleted: bool
    record: Any
    trace: bytes = b""

    def _replace(self, **changes: Any) -> Encoded:
        """A copy with ``changes`` (as ``NamedTuple._replace``)."""
        return msgspec.structs.replace(self, **changes)

    def body(self) -> bytes:
        """The Redis/HTTP body of this change."""
        return body(self.seq, self.value)

    def event(self) -> bytes:
        """The SSE / notification JSON: ``{"stream","kind","key","seq","value"}`` (then ``"trace"``
        when traced)."""
        return event_of(self.stream, self.kind, self.key, self.seq, self.value, self.trace)


def event_of(stream: str, kind: str, key: str, seq: int, value: bytes, trace: bytes = b"") -> bytes:
    """:meth:`Encoded.event` of a change given by its parts."""
    out = b'{"stream":"%s","kind":"%s","key":%s,"seq":%d,"value":%s}' % (
        stream.encode(), kind.encode(), _enc.encode(key), seq, value)
    return event_json(out, trace) if trace else out


def encode_change(stream: str, seq: int, ch: Change) -> Encoded:
    """Encode one core :class:`Change` applied at ``seq``."""
    return Encoded(stream, ch.kind, ch.key, seq, _enc.encode(ch.value), ch.value is None, ch.value)
