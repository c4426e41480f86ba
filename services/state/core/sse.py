"""Server-Sent-Events ids and resume rules (pure: no I/O, no clock).

Every SSE event carries the position of BOTH streams after it, so the single ``Last-Event-ID`` a
client sends back names where it stands in each::

    id: a:1234.2,m:9f3c01.5512

- ``a:<seq>.<i>``: the ACCOUNT stream. ``seq`` is the JetStream sequence of the event that caused
  the change (stable across restarts and replicas: the fold is deterministic) and ``i`` the index
  of the change among that event's changes (one fill event changes a fill, an order and a
  position). ``a:<seq>.*`` = every change up to ``seq`` (``a:0.*``: before anything).
- ``m:<epoch>.<n>``: the MARKET stream, numbered by this process (``epoch`` is random per start).
  Market data is "latest wins": a client whose epoch is not the server's gets the current value of
  every market key instead of a replay (nothing older matters).

An ACCOUNT position older than what the server can replay gets ``event: reset``: the client must
re-read the state (HTTP) and follow from the ``seq`` that answer carries.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

ACCOUNT_KINDS = ("order", "fill", "position", "balance", "account", "feed", "reconciliation",
                 "market_spec", "algo")
"""Change kinds of the ACCOUNT stream (``Change.kind`` of the core's account changes)."""
MARKET_KINDS = ("book", "bbo", "venue_bbo", "trade", "summary", "funding")
"""Change kinds of the MARKET stream (the notifications of ``pdx:md:<kind>:<market>``)."""
KINDS = frozenset(ACCOUNT_KINDS + MARKET_KINDS)

END = 1 << 62
"""An index past every change of a sequence: ``(seq, END)`` = "everything up to ``seq`` seen"."""

_ID = re.compile(r"a:(\d{1,19})\.(\*|\d{1,9}),m:([0-9a-f]{1,16})\.(\d{1,19})")


class Cursor(NamedTuple):
    """Where a client stands: account ``(seq, idx)`` (``idx`` END: all of ``seq``) and market
    ``(epoch, n)``."""

    seq: int
    idx: int
    epoch: str
    n: int

    @property
    def account(self) -> tuple[int, int]:
        return (self.seq, self.idx)

    def format(self) -> str:
        """The SSE ``id`` text of this cursor."""
        idx = "*" if self.idx == END else str(self.idx)
        return f"a:{self.seq}.{idx},m:{self.epoch}.{self.n}"


class BadEventId(ValueError):
    """A ``Last-Event-ID`` this server never sent."""


def parse_event_id(text: str) -> Cursor:
    """The cursor of an SSE id; :class:`BadEventId` naming the expected form otherwise."""
    m = _ID.fullmatch(text.strip())
    if m is None:
        raise BadEventId(f"Last-Event-ID {text[:80]!r} is not of the form 'a:<seq>.<i>,m:<epoch>.<n>'")
    idx = END if m.group(2) == "*" else int(m.group(2))
    return Cursor(int(m.group(1)), idx, m.group(3), int(m.group(4)))


def parse_kinds(text: str | None) -> frozenset[str] | None:
    """The kinds filter of ``?kinds=a,b`` (None: every kind); ValueError naming unknown kinds."""
    if not text:
        return None
    wanted = frozenset(k.strip() for k in text.split(",") if k.strip())
    bad = sorted(wanted - KINDS)
    if bad:
        raise ValueError(f"unknown kinds {bad}; known: {sorted(KINDS)}")
    return wanted or None


class TailEntry(NamedTuple):
    """One entry of the Redis change stream: its ``seq`` and the fields to rebuild the event."""

    seq: int
    kind: str
    key: str
    value: bytes


def dedupe_tail(newest_first: Sequence[TailEntry]) -> tuple[list[tuple[TailEntry, int]], int]:
    """The change stream's tail as one run of complete groups, oldest first, with their indexes.

    ``newest_first`` is what ``XREVRANGE`` returned. The stream is normally ordered by ``seq``,
    one contiguous group of entries per event; a replay after a crash may have written some
    groups again (a later run starting at a lower ``seq``). Walking back from the newest entry,
    an entry is kept only while its ``seq`` is below every group already kept, or it extends the
    group being read with a (kind, key) that group does not have yet (the core changes a key at
    most once per event, so a repeated key is the start of an older copy of the same group). Each
    event's changes thus appear once, from the newest run. The oldest group read may be cut by the
    read limit or by trimming: it is dropped.

    Returns ``(entries with their index within their group, floor)``: every change after
    ``(floor, END)`` is in the list; ``floor`` is -1 when the list is empty.
    """
    kept: list[TailEntry] = []
    low = END
    current = -1
    group: set[tuple[str, str]] = set()
    for e in newest_first:
        ident = (e.kind, e.key)
        if e.seq == current and ident not in group:
            group.add(ident)
            kept.append(e)
        elif e.seq < low:
            current, low, group = e.seq, e.seq, {ident}
            kept.append(e)
        else:
            current = -2  # a copy from an older run: skipped until a lower sequence
    if not kept:
        return [], -1
    oldest = kept[-1].seq
    chronological = [e for e in reversed(kept) if e.seq != oldest]
    out: list[tuple[TailEntry, int]] = []
    prev, i = -1, -1
    for e in chronological:
        i = i + 1 if e.seq == prev else 0
        prev = e.seq
        out.append((e, i))
    return out, oldest
