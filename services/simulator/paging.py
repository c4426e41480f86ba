"""Cursor pagination of newest-first lists (``{next, prev, results}``, PROTOCOL.md 3.1). Pure.

Cursors are opaque base64url strings holding a position *key* (the numeric id of the boundary
item) and a direction, so a page boundary stays put while new items arrive at the head.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import TypeVar

from shared.errors import VenueError

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 5000


def encode_cursor(key: int, direction: str) -> str:
    raw = json.dumps({"k": str(key), "d": direction}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(cursor: str) -> tuple[int, str]:
    """``(key, direction)``; 400 INVALID_REQUEST_PARAMETER when the cursor is not ours."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        key, direction = int(data["k"]), data["d"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise VenueError(400, "INVALID_REQUEST_PARAMETER", f"invalid cursor {cursor!r}") from None
    if direction not in ("n", "p"):
        raise VenueError(400, "INVALID_REQUEST_PARAMETER", f"invalid cursor {cursor!r}")
    return key, direction


def paginate(
    items: Sequence[T], key: Callable[[T], int], cursor: str | None, page_size: int
) -> tuple[list[T], str | None, str | None]:
    """One page of ``items`` (sorted by ``key`` descending) and the next/prev cursors."""
    start = 0
    if cursor:
        k, direction = decode_cursor(cursor)
        if direction == "n":
            start = next((i for i, it in enumerate(items) if key(it) < k), len(items))
        else:
            end = next((i for i, it in enumerate(items) if key(it) <= k), len(items))
            start = max(0, end - page_size)
            page = list(items[start:end])
            nxt = encode_cursor(key(page[-1]), "n") if page and end < len(items) else None
            prv = encode_cursor(key(page[0]), "p") if page and start > 0 else None
            return page, nxt, prv
    page = list(items[start : start + page_size])
    nxt = encode_cursor(key(page[-1]), "n") if page and start + page_size < len(items) else None
    prv = encode_cursor(key(page[0]), "p") if page and start > 0 else None
    return page, nxt, prv
