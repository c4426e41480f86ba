"""Cursor pagination driven by a plain page function (no HTTP)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.paradex.models.rest import Page
from shared.paradex.rest.pagination import PageLimitError, collect_all, iter_items, iter_pages


class Pages:
    """``total`` items served ``size`` at a time; cursors are offsets. Records every cursor asked."""

    def __init__(self, total: int, size: int) -> None:
        self.total, self.size = total, size
        self.asked: list[str | None] = []

    async def __call__(self, cursor: str | None) -> Page[int]:
        self.asked.append(cursor)
        start = int(cursor) if cursor else 0
        end = min(start + self.size, self.total)
        return Page(results=list(range(start, end)), next=str(end) if end < self.total else None,
                    prev=str(start) if start else None)


async def test_collect_all_returns_every_item_in_order_across_pages() -> None:
    pages = Pages(250, 50)
    assert await collect_all(pages) == list(range(250))
    assert pages.asked == [None, "50", "100", "150", "200"]


async def test_iter_pages_yields_each_page_and_stops_at_empty_next() -> None:
    sizes = [len(page.results) async for page in iter_pages(Pages(7, 3))]
    assert sizes == [3, 3, 1]


async def test_single_empty_page_gives_nothing() -> None:
    pages = Pages(0, 10)
    assert [x async for x in iter_items(pages)] == []
    assert pages.asked == [None]


async def test_empty_string_next_ends_pagination() -> None:
    async def fetch(cursor: str | None) -> Page[int]:
        return Page(results=[1], next="")

    assert await collect_all(fetch) == [1]


async def test_more_pages_than_max_pages_raises_instead_of_truncating() -> None:
    pages = Pages(100, 10)
    with pytest.raises(PageLimitError) as info:
        await collect_all(pages, max_pages=3, what="GET /fills")
    assert info.value.pages == 3 and "GET /fills" in str(info.value)
    assert len(pages.asked) == 3


async def test_exactly_max_pages_is_fine() -> None:
    assert len(await collect_all(Pages(30, 10), max_pages=3)) == 30


async def test_repeated_cursor_raises() -> None:
    async def fetch(cursor: str | None) -> Page[int]:
        return Page(results=[0], next="same")

    with pytest.raises(PageLimitError, match="repeated"):
        await collect_all(fetch)


async def test_max_pages_below_one_is_rejected() -> None:
    with pytest.raises(ValueError):
        await collect_all(Pages(1, 1), max_pages=0)


@settings(max_examples=50, deadline=None)
@given(total=st.integers(0, 300), size=st.integers(1, 60))
async def test_every_item_exactly_once_for_any_total_and_page_size(total: int, size: int) -> None:
    pages = Pages(total, size)
    assert await collect_all(pages) == list(range(total))
    assert len(pages.asked) == max(1, -(-total // size))
