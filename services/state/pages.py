"""Paginated bodies of ``GET /v1/orders`` and ``GET /v1/fills``: filters first, then serialize a page.

Orders come in key order (exchange id, then ``client:<id>`` entries of orders the venue has not
acknowledged yet); a page is the first ``limit`` matching orders after the cursor. Fills come
newest first by pages, each page oldest first inside: the first page is the ``limit`` most recent
fills (what ``limit`` meant before pagination), ``next_cursor`` leads to older ones. A body is
``{"seq": S, "value": [...], "next_cursor": "<opaque>" | null}``: pass ``next_cursor`` back as
``cursor`` for the next page; ``null`` means this was the last one. Pages are not a snapshot: each
reflects its own ``seq`` (an order is listed once across pages, at its key's place, unless it is
created or evicted between two of them).

Cost per page is the page, not the table: sorted indexes (:mod:`services.state.readindex`) give
the starting point, filters are checked on records before anything is encoded, each record's
JSON is cached while the record is unchanged, and whole bodies are cached per (sequence, query).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection, Iterator
from typing import Any

import msgspec

from services.state.core import STATUS_RANK, TERMINAL, StateCore
from services.state.encode import encode
from services.state.readindex import ReadIndex

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
LIVE_STATUSES = frozenset(STATUS_RANK) - TERMINAL
_BODIES_MAX = 256


class BadCursor(ValueError):
    """A ``cursor`` that this service did not hand out (or for another route)."""


def encode_cursor(kind: str, position: Any) -> str:
    """An opaque cursor: base64url of ``[kind, position]``."""
    return base64.urlsafe_b64encode(msgspec.json.encode([kind, position])).decode().rstrip("=")


def decode_cursor(kind: str, text: str) -> Any:
    """The position inside a cursor of ``kind``; :class:`BadCursor` otherwise."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        got, position = msgspec.json.decode(raw)
    except (ValueError, binascii.Error, msgspec.DecodeError, TypeError) as exc:
        raise BadCursor(f"cursor {text[:40]!r} is not one this service handed out") from exc
    if got != kind:
        raise BadCursor(f"cursor {text[:40]!r} is a {got} cursor, not an {kind} one")
    return position


class RecordCache:
    """Each record's JSON, kept while the record (frozen, replaced on change) is the same object."""

    def __init__(self) -> None:
        self._data: dict[tuple[str, str], tuple[Any, bytes]] = {}

    def get(self, kind: str, key: str, record: Any) -> bytes:
        k = (kind, key)
        hit = self._data.get(k)
        if hit is not None and hit[0] is record:
            return hit[1]
        data = encode(record)
        self._data[k] = (record, data)
        return data

    def prune(self, core: StateCore) -> None:
        """Forget records that are no longer current (evicted or replaced), when it grew large."""
        live = len(core.orders.orders) + len(core.entities.fills)
        if len(self._data) <= 2 * live + 1024:
            return
        orders, fills = core.orders.orders, core.entities.fills
        self._data = {k: v for k, v in self._data.items()
                      if (orders if k[0] == "order" else fills).get(k[1]) is v[0]}

    def __len__(self) -> int:
        return len(self._data)


class Pages:
    """Builds page bodies from the core, its read index and the caches."""

    def __init__(self, index: ReadIndex) -> None:
        self.index = index
        self.records = RecordCache()
        self._bodies: dict[tuple[Any, ...], bytes] = {}
        self._seq = -1

    def _cached(self, seq: int, key: tuple[Any, ...]) -> bytes | None:
        if seq != self._seq:
            self._bodies.clear()
            self._seq = seq
        return self._bodies.get(key)

    def _store(self, key: tuple[Any, ...], content: bytes) -> None:
        if len(self._bodies) < _BODIES_MAX:
            self._bodies[key] = content

    def orders(self, core: StateCore, statuses: frozenset[str] | None, market: str | None,
               client_id: str | None, limit: int, cursor: str | None) -> bytes:
        """One page of orders (see the module docstring); :class:`BadCursor` for a foreign cursor."""
        seq = core.account_seq
        ck = ("orders", statuses, market, client_id, limit, cursor)
        content = self._cached(seq, ck)
        if content is not None:
            return content
        after: str = decode_cursor("orders", cursor) if cursor else ""
        if not isinstance(after, str):
            raise BadCursor("malformed orders cursor")
        table = core.orders.orders
        keys: Iterator[str]
        if client_id is not None:
            key = core.orders.by_client.get(client_id)
            keys = iter([key] if key is not None and key > after else [])
        else:
            live_only = statuses is not None and statuses <= LIVE_STATUSES
            source = self.index.live if live_only else self.index.orders
            keys = source.islice(source.bisect_right(after) if after else 0)
        page: list[Any] = []
        more = False
        for key in keys:
            st = table.get(key)
            if st is None or (statuses is not None and st.status not in statuses) or \
                    (market is not None and st.market != market):
                continue
            if len(page) == limit:
                more = True
                break
            page.append(st)
        rec = self.records.get
        items = b",".join(rec("order", st.key, st) for st in page)
        nxt = encode(encode_cursor("orders", page[-1].key)) if more else b"null"
        content = b'{"seq":%d,"value":[%s],"next_cursor":%s}' % (seq, items, nxt)
        self._store(ck, content)
        return content

    def fills(self, core: StateCore, market: str | None, order_id: str | None, limit: int,
              cursor: str | None) -> bytes:
        """One page of fills, newest pages first (see the module docstring)."""
        seq = core.account_seq
        ck = ("fills", market, order_id, limit, cursor)
        content = self._cached(seq, ck)
        if content is not None:
            return content
        before = decode_cursor("fills", cursor) if cursor else None
        if before is not None:
            if not (isinstance(before, list) and len(before) == 2 and isinstance(before[0], int)
                    and isinstance(before[1], str)):
                raise BadCursor("malformed fills cursor")
            before = (before[0], before[1])
        source = self.index.fills_of.get(order_id) if order_id is not None else self.index.fills
        table = core.entities.fills
        page: list[Any] = []
        more = False
        if source is not None:
            end = source.bisect_left(before) if before is not None else len(source)
            for _, fid in source.islice(stop=end, reverse=True):
                f = table.get(fid)
                if f is None or (market is not None and f.fill.market != market):
                    continue
                if len(page) == limit:
                    more = True
                    break
                page.append(f)
        page.reverse()
        rec = self.records.get
        items = b",".join(rec("fill", f.fill.id, f) for f in page)
        nxt = encode(encode_cursor("fills", [page[0].fill.created_at, page[0].fill.id])) if more else b"null"
        content = b'{"seq":%d,"value":[%s],"next_cursor":%s}' % (seq, items, nxt)
        self._store(ck, content)
        return content


def parse_statuses(status: Collection[str] | None) -> frozenset[str] | None:
    """``status`` query values (repeatable or comma lists) as a set; None when absent."""
    if not status:
        return None
    return frozenset(s.strip() for part in status for s in part.split(",") if s.strip())
