"""Market-data messages prepared for the bus without building an event object (pure).

The book fast paths (JSON pushes and SBE frames) produce :class:`Prepared` messages: subject and
payload ready for a core NATS publish. The payload is a ``BookEvent`` envelope spliced around the
book's JSON (the venue's own ``params.data`` text, or the SBE fast path's exact model encoding):
:func:`shared.bus.decode_event` turns it into the very ``BookEvent`` the full path builds (tests/
feed/test_wire.py proves it for JSON and SBE frames over random books).
"""

from __future__ import annotations

from typing import NamedTuple

from shared.bus import subjects


class Prepared(NamedTuple):
    """A market-data message ready to publish: ``subject``, ``payload``, receipt time (ns).

    A named tuple, so the hot paths build it with :data:`prepared` (``tuple.__new__``, no Python
    ``__init__`` frame: ~1k instructions a message less than a slotted class)."""

    subject: str
    payload: bytes
    recv_ns: int

    def __repr__(self) -> str:
        return f"Prepared({self.subject!r}, {self.payload[:60]!r}..., {self.recv_ns})"


def prepared(subject: str, payload: bytes, recv_ns: int) -> Prepared:
    """``Prepared(subject, payload, recv_ns)`` (the class call runs a Python ``__new__``)."""
    return _new(Prepared, (subject, payload, recv_ns))


_new = tuple.__new__


BOOK_EVENT = b'{"kind":"book","source":"ws","venue_ts_ms":%d,"recv_ns":%d,"conn_epoch":%d,"book":%b}'
"""The envelope of :func:`book_event_bytes` when its three numbers are non-zero (one ``%``)."""


def book_event_template(epoch: int) -> bytes:
    """:data:`BOOK_EVENT` with ``epoch`` (> 0) written in: ``%d`` venue time, ``%d`` receipt
    time, ``%b`` the book's JSON (one number less to format per message)."""
    return b'{"kind":"book","source":"ws","venue_ts_ms":%%d,"recv_ns":%%d,"conn_epoch":%d,"book":%%b}' % epoch


def book_event_bytes(venue_ts_ms: int, recv_ns: int, epoch: int, book_json: bytes | memoryview) -> bytes:
    """The JSON of ``BookEvent(source="ws", venue_ts_ms, recv_ns, conn_epoch=epoch, book=...)``
    around the book's JSON, written as ``encode_event`` would (zero envelope fields omitted)."""
    if venue_ts_ms and recv_ns and epoch:
        return BOOK_EVENT % (venue_ts_ms, recv_ns, epoch, book_json)
    else:
        head = b'{"kind":"book","source":"ws"' + b"".join(
            b',"%b":%d' % (name, value)
            for name, value in ((b"venue_ts_ms", venue_ts_ms), (b"recv_ns", recv_ns), (b"conn_epoch", epoch))
            if value) + b',"book":'
    return b"".join((head, book_json, b"}"))


_SUBJECTS: dict[str, str] = {}
cached_book_subject = _SUBJECTS.get
"""``book_subject(market)`` if already cached, else None (a dict lookup, no call)."""


def book_subject(market: str) -> str:
    """``subjects.market_subject("book", market)``, cached (it validates tokens: ~2 us a call);
    raises like it for a market that is not a valid subject token."""
    subject = _SUBJECTS.get(market)
    if subject is None:
        subject = subjects.market_subject("book", market)
        if len(_SUBJECTS) < 4096:
            _SUBJECTS[market] = subject
    return subject
