"""Cursor pagination over Paradex ``Page`` responses, independent of HTTP.

A paginated endpoint answers ``{"next": cursor|null, "prev": ..., "results": [...]}`` and the next
page is requested with ``?cursor=<next>`` (PROTOCOL.md 3.1). :func:`iter_pages` drives any
``fetch(cursor) -> Page[T]`` function until ``next`` is empty, refusing to run away: more than
``max_pages`` pages, or a cursor the venue already returned, raise :class:`PageLimitError`
instead of silently truncating (a reconciler must never mistake a partial history for a full one).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from shared.errors import HubError
from shared.paradex.models.rest import Page

T = TypeVar("T")

PageFetch = Callable[[str | None], Awaitable[Page[T]]]
"""Fetches the page at ``cursor`` (``None`` for the first page)."""

DEFAULT_MAX_PAGES = 1000


class PageLimitError(HubError):
    """Pagination stopped before the last page: too many pages, or the venue repeated a cursor."""

    def __init__(self, what: str, pages: int, reason: str) -> None:
        super().__init__(f"{what}: stopped after {pages} pages: {reason}")
        self.what = what
        self.pages = pages
        self.reason = reason


async def iter_pages(fetch: PageFetch[T], *, max_pages: int = DEFAULT_MAX_PAGES,
                     what: str = "pagination") -> AsyncIterator[Page[T]]:
    """Yield every page from the first to the one whose ``next`` is empty.

    Raises :class:`PageLimitError` before fetching page ``max_pages + 1`` or a repeated cursor.
    """
    if max_pages < 1:
        raise ValueError(f"max_pages must be >= 1, got {max_pages}")
    seen: set[str] = set()
    cursor: str | None = None
    pages = 0
    while True:
        page = await fetch(cursor)
        pages += 1
        yield page
        cursor = page.next
        if not cursor:
            return
        if cursor in seen:
            raise PageLimitError(what, pages, f"cursor {cursor!r} repeated")
        if pages >= max_pages:
            raise PageLimitError(what, pages, f"more than max_pages={max_pages} pages")
        seen.add(cursor)


async def iter_items(fetch: PageFetch[T], *, max_pages: int = DEFAULT_MAX_PAGES,
                     what: str = "pagination") -> AsyncIterator[T]:
    """Yield the results of every page in order (see :func:`iter_pages`)."""
    async for page in iter_pages(fetch, max_pages=max_pages, what=what):
        for item in page.results:
            yield item


async def collect_all(fetch: PageFetch[T], *, max_pages: int = DEFAULT_MAX_PAGES,
                      what: str = "pagination") -> list[T]:
    """Every result of every page, as one list (see :func:`iter_pages`)."""
    items: list[T] = []
    async for page in iter_pages(fetch, max_pages=max_pages, what=what):
        items.extend(page.results)
    return items
