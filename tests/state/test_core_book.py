"""Order book maintenance in the state core: snapshot + deltas, duplicates, gaps, crossing."""

from __future__ import annotations

from decimal import Decimal

from services.state.core import StateCore
from shared.bus import BookGap
from tests.state.builders import book_ev, lvl

M = "BTC-USD-PERP"
D = Decimal


def seeded() -> StateCore:
    core = StateCore()
    core.apply(1, book_ev(10, "s", inserts=[lvl("BUY", "99", "1"), lvl("BUY", "98", "2"),
                                           lvl("SELL", "101", "1"), lvl("SELL", "102", "3")]))
    return core


def test_snapshot_then_deltas_build_the_book() -> None:
    core = seeded()
    core.apply(2, book_ev(11, inserts=[lvl("BUY", "100", "0.5")], updates=[lvl("SELL", "102", "4")]))
    core.apply(3, book_ev(12, deletes=[lvl("BUY", "98", "0")], updates=[lvl("SELL", "101", "0")]))
    view = core.get_book(M, depth=5).value
    assert view.valid and view.seq_no == 12
    assert view.bids == [(D("100"), D("0.5")), (D("99"), D("1"))]
    assert view.asks == [(D("102"), D("4"))]
    top = core.get_bbo(M).value
    assert (top.bid, top.bid_size, top.ask, top.ask_size) == (D("100"), D("0.5"), D("102"), D("4"))
    assert core.get_book(M).seq == 3


def test_depth_limits_levels() -> None:
    core = seeded()
    view = core.get_book(M, depth=1).value
    assert view.bids == [(D("99"), D("1"))] and view.asks == [(D("101"), D("1"))]


def test_duplicate_delta_is_dropped_and_counted() -> None:
    core = seeded()
    core.apply(2, book_ev(11, updates=[lvl("BUY", "99", "5")]))
    res = core.apply(3, book_ev(11, updates=[lvl("BUY", "99", "7")]))
    assert res.dropped == "duplicate"
    assert core.get_book(M).value.bids[0] == (D("99"), D("5"))
    assert core.counters.get("book_duplicate") == 1


def test_gap_invalidates_until_next_snapshot() -> None:
    core = seeded()
    res = core.apply(2, book_ev(13, updates=[lvl("BUY", "99", "5")]))
    assert res.changes[0].value.valid is False and res.changes[0].value.reason == "gap"
    assert core.counters.get("book_gap") == 1
    # later deltas (even "contiguous" with the gap frame) never make it valid again
    core.apply(3, book_ev(14, updates=[lvl("BUY", "99", "6")]))
    assert core.get_book(M).value.valid is False
    assert core.get_bbo(M).value.valid is False
    core.apply(4, book_ev(20, "s", inserts=[lvl("BUY", "97", "1"), lvl("SELL", "103", "1")]))
    view = core.get_book(M).value
    assert view.valid and view.bids == [(D("97"), D("1"))] and view.seq_no == 20
    core.apply(5, book_ev(21, inserts=[lvl("SELL", "102.5", "1")]))
    assert core.get_bbo(M).value.ask == D("102.5") and core.get_book(M).value.valid


def test_crossed_book_is_invalid() -> None:
    core = seeded()
    res = core.apply(2, book_ev(11, inserts=[lvl("BUY", "101", "1")]))
    assert res.changes[0].value.valid is False and res.changes[0].value.reason == "crossed"
    assert core.health().value.books[M].valid is False


def test_crossed_snapshot_is_invalid() -> None:
    core = StateCore()
    core.apply(1, book_ev(1, "s", inserts=[lvl("BUY", "101", "1"), lvl("SELL", "100", "1")]))
    assert core.get_book(M).value.valid is False


def test_removing_best_level_recomputes_best() -> None:
    core = seeded()
    core.apply(2, book_ev(11, deletes=[lvl("BUY", "99", "0")]))
    core.apply(3, book_ev(12, updates=[lvl("SELL", "101", "0")]))
    top = core.get_bbo(M).value
    assert (top.bid, top.ask) == (D("98"), D("102")) and top.valid


def test_book_gap_event_invalidates() -> None:
    core = seeded()
    core.apply(2, BookGap(source="ws", market=M, expected_seq=11, got_seq=15))
    assert core.get_book(M).value.valid is False
    core.apply(3, book_ev(12))
    assert core.get_book(M).value.valid is False
    core.apply(4, book_ev(30, "s", inserts=[lvl("BUY", "1", "1")]))
    assert core.get_book(M).value.valid


def test_delta_before_any_snapshot_is_not_valid() -> None:
    core = StateCore()
    res = core.apply(1, book_ev(5, inserts=[lvl("BUY", "1", "1")]))
    assert res.dropped == "invalid"
    assert core.get_book(M).value.valid is False
