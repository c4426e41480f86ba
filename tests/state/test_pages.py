"""Paginated reads: the sorted read index follows the core exactly (property test over the venue
model's histories, with retention evicting and client-id entries re-keyed), walking every page
gives each matching entity once and in order, cursors are validated."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.state.core import STATUS_RANK, TERMINAL, StateCore
from services.state.pages import BadCursor, Pages, decode_cursor, encode_cursor
from services.state.readindex import ReadIndex
from tests.state import builders as b
from tests.state.test_core_properties import CONFIG, NOISE, OPS, PROFILE, play


def _check(index: ReadIndex, core: StateCore) -> None:
    assert list(index.orders) == sorted(core.orders.orders)
    assert list(index.live) == sorted(k for k, s in core.orders.orders.items() if s.status not in TERMINAL)
    fills = core.entities.fills
    assert list(index.fills) == sorted((f.fill.created_at, k) for k, f in fills.items())
    per: dict[str, list[tuple[int, str]]] = {}
    for k, f in fills.items():
        per.setdefault(f.fill.order_id, []).append((f.fill.created_at, k))
    assert {o: list(v) for o, v in index.fills_of.items()} == {o: sorted(v) for o, v in per.items()}


def _walk_orders(pages: Pages, core: StateCore, limit: int, **filters: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        body = msgspec.json.decode(pages.orders(core, filters.get("statuses"), filters.get("market"),
                                                filters.get("client_id"), limit, cursor))
        assert len(body["value"]) <= limit
        out += body["value"]
        cursor = body["next_cursor"]
        if cursor is None:
            return out
        assert len(body["value"]) == limit  # only a full page has a next one


def _walk_fills(pages: Pages, core: StateCore, limit: int, **filters: Any) -> list[dict[str, Any]]:
    chunks: list[list[dict[str, Any]]] = []
    cursor = None
    while True:
        body = msgspec.json.decode(pages.fills(core, filters.get("market"), filters.get("order_id"), limit,
                                               cursor))
        chunks.append(body["value"])
        cursor = body["next_cursor"]
        if cursor is None:
            return [f for c in reversed(chunks) for f in c]


@PROFILE
@given(script=st.lists(OPS, min_size=15, max_size=50), noise=NOISE, seed=st.integers(0, 2**32),
       limit=st.integers(1, 7), at=st.floats(0, 1))
def test_read_index_follows_the_core_and_pages_cover_every_entity_once(
        script: list[tuple[Any, ...]], noise: Noise, seed: int, limit: int, at: float) -> None:
    _, _, events, _ = play(script, noise, seed)
    core = StateCore(CONFIG)
    index = ReadIndex()
    check_at = int(len(events) * at)
    for i, ev in enumerate(events, 1):
        index.apply(core.apply(i, ev).changes)
        if i == check_at:  # and rebuilt from a checkpoint mid-way, then followed again
            _check(index, core)
            core = StateCore.load(core.dump())
            index.rebuild(core)
    _check(index, core)
    pages = Pages(index)
    enc = msgspec.json.Encoder()
    as_json = lambda xs: [msgspec.json.decode(enc.encode(x)) for x in xs]  # noqa: E731
    assert _walk_orders(pages, core, limit) == as_json(core.list_orders().value)
    live = frozenset(STATUS_RANK) - TERMINAL
    assert _walk_orders(pages, core, limit, statuses=live) == as_json(core.list_orders(live).value)
    closed = frozenset({"CLOSED"})
    assert _walk_orders(pages, core, limit, statuses=closed, market="ETH-USD-PERP") == as_json(
        core.list_orders(closed, "ETH-USD-PERP").value)
    assert _walk_fills(pages, core, limit) == as_json(core.list_fills().value)
    for oid in list(index.fills_of)[:3]:
        assert _walk_fills(pages, core, limit, order_id=oid) == as_json(core.list_fills(order_id=oid).value)
    first = msgspec.json.decode(pages.fills(core, None, None, limit, None))["value"]
    assert first == as_json(core.list_fills(limit=limit).value)  # the first page: the most recent N


def _core(n_orders: int, n_fills: int) -> StateCore:
    core = StateCore()
    seq = 0
    for i in range(n_orders):
        seq += 1
        core.apply(seq, b.order_ev(b.order(f"{i:05d}", client_id=f"c{i}", lua=b.T0 + i,
                                           status="CLOSED" if i % 3 == 0 else "OPEN",
                                           remaining="0" if i % 3 == 0 else None)))
    for i in range(n_fills):
        seq += 1
        core.apply(seq, b.fill_ev(b.fill(f"f{i:05d}", f"{i % 7:05d}", ts=b.T0 + i // 2)))
    return core


def test_client_id_filter_pages_and_foreign_cursors() -> None:
    core = _core(30, 0)
    index = ReadIndex()
    index.rebuild(core)
    pages = Pages(index)
    body = msgspec.json.decode(pages.orders(core, None, None, "c7", 10, None))
    assert [o["key"] for o in body["value"]] == ["00007"] and body["next_cursor"] is None
    first = msgspec.json.decode(pages.orders(core, None, None, None, 10, None))
    assert first["next_cursor"] == encode_cursor("orders", "00009")
    assert decode_cursor("orders", first["next_cursor"]) == "00009"
    with pytest.raises(BadCursor):
        pages.fills(core, None, None, 10, first["next_cursor"])  # an orders cursor on fills
    for junk in ("%%%", "bm90IGpzb24", encode_cursor("fills", "x")):
        with pytest.raises(BadCursor):
            pages.fills(core, None, None, 10, junk)
    with pytest.raises(BadCursor):
        pages.orders(core, None, None, None, 10, encode_cursor("orders", 5))


def test_record_cache_forgets_evicted_and_replaced_records() -> None:
    core = _core(10, 0)
    pages = Pages(ReadIndex())
    for st_ in core.orders.orders.values():
        pages.records.get("order", st_.key, st_)
    one = next(iter(core.orders.orders.values()))
    for i in range(3000):  # far more records than the core holds now (evicted since)
        pages.records.get("order", f"gone{i}", msgspec.structs.replace(one, key=f"gone{i}"))
    pages.records.prune(core)
    assert len(pages.records) == 10


Noise = Any  # the venue model's noise parameters (hypothesis builds them)
