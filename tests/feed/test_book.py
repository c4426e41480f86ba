"""BookChecker: snapshot resets, d must be last+1, lower = duplicate, higher = gap, crossed = invalid."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from services.feed.core.book import BookChecker, PriceKey, Verdict, price_key
from tests.feed.samples import book, lv, snapshot


def k(text: str) -> PriceKey:
    return price_key(Decimal(text))


def test_price_keys_are_exact_units_of_1e_8() -> None:
    assert k("67629.7") == 6_762_970_000_000 and type(k("67629.7")) is int
    assert k("67629.70") == k("67629.7") and k("0") == 0
    fine = k("0.000000001")  # more decimals than the SBE scale: kept exact as a Decimal
    assert type(fine) is Decimal and 0 < fine < k("0.00000001") and fine == Decimal("0.1")


def test_snapshot_then_consecutive_deltas_are_applied() -> None:
    c = BookChecker()
    assert c.check(snapshot(10)).verdict is Verdict.SNAPSHOT
    assert c.check(book(11, updates=(lv("BUY", "100", "5"),))).verdict is Verdict.APPLIED
    assert c.check(book(12)).verdict is Verdict.APPLIED  # empty delta still advances the sequence
    b = c.book("BTC-USD-PERP")
    assert b.last_seq == 12 and b.valid and b.bids.levels[k("100")] == k("5")


def test_delta_with_lower_or_equal_seq_is_a_duplicate_and_is_not_applied() -> None:
    c = BookChecker()
    c.check(snapshot(10))
    c.check(book(11))
    chk = c.check(book(11, inserts=(lv("BUY", "100.5", "1"),)))
    assert chk.verdict is Verdict.DUPLICATE and not chk.publish and not chk.invalidates
    assert c.check(book(3)).verdict is Verdict.DUPLICATE
    assert k("100.5") not in c.book("BTC-USD-PERP").bids.levels
    assert c.check(book(12)).verdict is Verdict.APPLIED


def test_delta_with_higher_seq_is_a_gap_then_deltas_are_stale_until_a_snapshot() -> None:
    c = BookChecker()
    c.check(snapshot(10))
    chk = c.check(book(13))
    assert chk.verdict is Verdict.GAP and (chk.expected, chk.got) == (11, 13)
    assert chk.invalidates and not chk.publish
    assert c.check(book(14)).verdict is Verdict.STALE
    assert c.check(snapshot(20)).verdict is Verdict.SNAPSHOT
    assert c.check(book(21)).verdict is Verdict.APPLIED


def test_delta_before_any_snapshot_is_stale() -> None:
    assert BookChecker().check(book(1)).verdict is Verdict.STALE


def test_delta_that_crosses_the_book_is_published_and_invalidates() -> None:
    c = BookChecker()
    c.check(snapshot(10))
    chk = c.check(book(11, inserts=(lv("BUY", "101", "1"),)))
    assert chk.verdict is Verdict.CROSSED and chk.publish and chk.invalidates
    assert c.check(book(12)).verdict is Verdict.STALE


def test_crossed_snapshot_is_invalid() -> None:
    c = BookChecker()
    s = book(5, "s", inserts=(lv("BUY", "101", "1"), lv("SELL", "100", "1")))
    assert c.check(s).verdict is Verdict.CROSSED


def test_deleting_the_best_level_recomputes_the_best_price() -> None:
    c = BookChecker()
    c.check(snapshot(1))
    c.check(book(2, deletes=(lv("BUY", "100", "0"), lv("SELL", "101", "0"))))
    b = c.book("BTC-USD-PERP")
    assert (b.bids.best, b.asks.best) == (k("99"), k("102"))
    c.check(book(3, updates=(lv("SELL", "102", "0"),)))  # size 0 = remove (SBE form)
    assert b.asks.best is None and not b.crossed


def test_markets_are_independent() -> None:
    c = BookChecker()
    c.check(snapshot(1, "A-USD-PERP"))
    c.check(snapshot(100, "B-USD-PERP"))
    assert c.check(book(2, market="A-USD-PERP")).verdict is Verdict.APPLIED
    assert c.check(book(2, market="B-USD-PERP")).verdict is Verdict.DUPLICATE


def test_reset_makes_deltas_stale() -> None:
    c = BookChecker()
    c.check(snapshot(1))
    c.reset("BTC-USD-PERP")
    assert c.check(book(2)).verdict is Verdict.STALE


@settings(max_examples=60)
@given(st.lists(st.integers(min_value=-3, max_value=3), min_size=1, max_size=40))
def test_any_sequence_applies_exactly_the_frames_that_follow_their_predecessor(steps: list[int]) -> None:
    c = BookChecker()
    c.check(snapshot(1000))
    last, valid = 1000, True
    seq = 1000
    for step in steps:
        seq += step
        verdict = c.check(book(seq)).verdict
        if not valid:
            assert verdict is Verdict.STALE
        elif seq == last + 1:
            assert verdict is Verdict.APPLIED
            last = seq
        elif seq <= last:
            assert verdict is Verdict.DUPLICATE
        else:
            assert verdict is Verdict.GAP
            valid = False


@settings(max_examples=60)
@given(st.lists(st.tuples(st.sampled_from(["BUY", "SELL"]), st.integers(90, 110), st.integers(0, 3)),
                max_size=30))
def test_cached_best_prices_match_a_full_recomputation(ops: list[tuple[str, int, int]]) -> None:
    c = BookChecker()
    c.check(book(0, "s"))
    for i, (side, price, size) in enumerate(ops, start=1):
        level = lv(side, str(price), str(size))
        c.check(book(i, deletes=(level,)) if size == 0 else book(i, updates=(level,)))
        b = c.book("BTC-USD-PERP")
        assert b.bids.best == (max(b.bids.levels) if b.bids.levels else None)
        assert b.asks.best == (min(b.asks.levels) if b.asks.levels else None)
        if not b.valid:
            break
