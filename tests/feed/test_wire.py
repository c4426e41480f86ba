"""The book fast paths publish bytes that decode (``shared.bus.decode_event``) to exactly the
BookEvent the full path (decode -> validate -> BookChecker -> to_event -> encode_event) produces,
make the same book decisions and refuse the same garbage with the same reasons, for JSON pushes
and SBE frames over random books (valid ones, and ones with bad prices, sides, markets, sequence
numbers, times and update types)."""

from __future__ import annotations

import struct
from decimal import Decimal

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.feed import book_stream
from services.feed.core.book import flat_levels, price_key
from services.feed.core.protocol import FeedProtocol
from services.feed.core.wire import Prepared, book_event_bytes
from shared.bus import BookEvent, BookGap, decode_event, encode_event
from shared.paradex import sbe
from shared.paradex.models import BookLevel, BookUpdate
from shared.paradex.models.fastbook import decode_book_push, key8
from shared.paradex.sbe.fastbook import fast_book
from shared.paradex.sbe.layout import BOOK, GROUP_HEADER
from tests.feed import samples as s

M = s.M
CHANNEL = f"order_book.{M}.deltas"

RECV_NS = 1_718_267_837_265_000_000
# prices/sizes as the venue writes them (plain, up to 8 decimals) plus the odd forms the fast
# path must refuse (exponent, 9+ decimals, sign) so the full path is exercised too, and garbage
# the full path must refuse (negative, zero prices, NaN, absurd sizes)
plain = st.builds(lambda i, f: Decimal(i).scaleb(-f), st.integers(0, 10**12), st.integers(0, 8))
odd = st.sampled_from([Decimal("1E+3"), Decimal("0.000000001"), Decimal("-0"), Decimal("1.50")])
bad = st.sampled_from([Decimal("-1"), Decimal("NaN"), Decimal("Infinity"), Decimal("1E+30"), Decimal("0"),
                       Decimal("1" * 30)])
prices = st.one_of(plain, odd)
sides = st.sampled_from(["BUY", "SELL", "BUY", "SELL", "HOLD"])
# bids mostly below 1000 and asks above, so most books stay uncrossed and deltas get applied
levels = st.builds(lambda side, p, q: BookLevel(side=side, price=p + (1000 if side == "SELL" else 0), size=q),
                   sides, st.one_of(plain.filter(lambda d: d < 1000), odd, bad),
                   st.one_of(st.just(Decimal(0)), prices, bad))
clean_levels = st.builds(lambda side, p, q: BookLevel(side=side, price=p + (1000 if side == "SELL" else 0),
                                                      size=q),
                         st.sampled_from(["BUY", "SELL"]), plain.filter(lambda d: 0 < d < 1000),
                         st.one_of(st.just(Decimal(0)), plain))
times = st.one_of(st.integers(1_600_000_000_000, RECV_NS // 1_000_000), st.sampled_from([0, 5, 2**50]))
markets = st.sampled_from([M, M, M, M, "SOL-USD-PERP", "BTC.>*"])
kinds = st.sampled_from(["s", "d", "d", "d", "x"])


def _books(level_st: st.SearchStrategy[BookLevel], market_st: st.SearchStrategy[str],
           time_st: st.SearchStrategy[int], kind_st: st.SearchStrategy[str]) -> st.SearchStrategy[BookUpdate]:
    return st.builds(
        lambda seq, kind, ins, ups, dels, ts, best, market: BookUpdate(
            seq_no=seq, market=market, last_updated_at=ts, update_type=kind, inserts=ins, updates=ups,
            deletes=dels, best_bid_api=best, relative_spread=None if best is None else Decimal("0.01")),
        st.integers(0, 30), kind_st, st.lists(level_st, max_size=5), st.lists(level_st, max_size=5),
        st.lists(level_st, max_size=3), time_st, st.one_of(st.none(), level_st), market_st)


books = _books(levels, markets, times, kinds)
clean_books = _books(clean_levels, st.just(M), st.integers(1_600_000_000_000, RECV_NS // 1_000_000),
                     st.sampled_from(["s", "d", "d", "d"]))


def as_bus(out: list[object]) -> list[object]:
    """What consumers get: every message through the bus codec."""
    return [decode_event(m.payload if isinstance(m, Prepared) else encode_event(m))  # type: ignore[arg-type]
            for m in out]


def renumber(updates: list[BookUpdate], steps: list[int]) -> list[BookUpdate]:
    """Mostly consecutive sequence numbers (some duplicates, gaps and negative ones)."""
    seq, out = 100, []
    for u, step in zip(updates, steps * len(updates), strict=False):
        seq += step
        out.append(msgspec.structs.replace(u, seq_no=seq if step >= 0 else -seq))
    return out


STEPS = st.lists(st.sampled_from([1, 1, 1, 1, 1, 0, 2, -1]), min_size=1, max_size=8)


def run_both(frames: list[bytes]) -> int:
    """Each frame through the fast paths (receive_wire) and the full path alone (receive_full):
    same messages, same book state, same refusals. Returns how many frames the fast paths
    published (so a test can check they were exercised)."""
    fast, full = FeedProtocol([M], account=s.ACCOUNT), FeedProtocol([M], account=s.ACCOUNT)
    fast.epoch = full.epoch = 3
    published = 0
    for i, frame in enumerate(frames):
        recv_ns = RECV_NS + i
        wire = fast.receive_wire(frame, recv_ns)
        got = as_bus(wire)
        assert got == as_bus(full.receive_full(frame, recv_ns))
        published += sum(1 for m in wire if isinstance(m, Prepared))
        assert all(type(m) in (BookEvent, BookGap) for m in got)
        a, b = fast.books.book(M), full.books.book(M)
        assert (a.valid, a.last_seq, a.bids.levels, a.asks.levels, a.bids.best, a.asks.best) == (
            b.valid, b.last_seq, b.bids.levels, b.asks.levels, b.bids.best, b.asks.best)
        assert fast.outbox == full.outbox
        assert fast.rejects.counts == full.rejects.counts
        assert [(d.reason, d.field, d.raw_size) for d in fast.rejects.pending] == [
            (d.reason, d.field, d.raw_size) for d in full.rejects.pending]
        assert fast.counters["internal_errors"] == full.counters["internal_errors"] == 0
    return published


@settings(max_examples=200, deadline=None)
@given(st.lists(books, min_size=1, max_size=8), STEPS)
def test_json_fast_path_publishes_what_the_full_path_would_and_refuses_the_same_garbage(
        updates: list[BookUpdate], steps: list[int]) -> None:
    run_both([s.push(CHANNEL, u) for u in renumber(updates, steps)])


@settings(max_examples=100, deadline=None)
@given(st.lists(clean_books, min_size=1, max_size=8), STEPS)
def test_json_fast_path_equals_the_full_path_on_valid_books(
        updates: list[BookUpdate], steps: list[int]) -> None:
    run_both([s.push(CHANNEL, u) for u in renumber(updates, steps)])


def test_a_venue_like_stream_takes_the_fast_paths_frame_for_frame() -> None:
    stream = book_stream(300)
    assert run_both([s.push(CHANNEL, u) for u in stream]) == len(stream)
    assert run_both([sbe.encode(u) for u in stream]) == len(stream)


def sbe_frames(updates: list[BookUpdate], patches: list[tuple[int, int]]) -> list[bytes]:
    """SBE frames of the representable updates, some with one int64 overwritten (a block field:
    time, seq, best levels; or a level's price or size) to reach what the encoder refuses."""
    out = []
    for u, (where, value) in zip(updates, patches * len(updates), strict=False):
        try:
            frame = bytearray(sbe.encode(u))
        except sbe.SbeEncodeError:
            continue  # not representable in SBE (more than 8 decimals, negative...)
        if where >= 0:
            block_length = struct.unpack_from("<H", frame, 0)[0]
            values = list(BOOK.block.unpack_from(frame, 8))
            group = 8 + block_length
            _, count = GROUP_HEADER.unpack_from(frame, group)
            if where < 100:
                index = where % len(values)
                if index != 2:  # the package type: not a number
                    values[index] = value
                    BOOK.block.pack_into(frame, 8, *values)
            elif count:
                offset = group + 4 + 8 * ((where - 100) % (2 * count))
                struct.pack_into("<q", frame, offset, value)
        out.append(bytes(frame))
    return out


PATCHES = st.lists(st.tuples(st.sampled_from([-1, -1, 0, 1, 3, 4, 8, 10, 100, 101, 102, 103, 100, 101]),
                             st.sampled_from([-5, 0, -(2**63), 2**62, 1])), min_size=1, max_size=4)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(books, clean_books, clean_books), min_size=1, max_size=8), STEPS, PATCHES)
def test_sbe_fast_path_publishes_what_the_full_path_would_and_refuses_the_same_garbage(
        updates: list[BookUpdate], steps: list[int], patches: list[tuple[int, int]]) -> None:
    run_both(sbe_frames(renumber(updates, steps), patches))


@settings(max_examples=100, deadline=None)
@given(st.lists(clean_books, min_size=1, max_size=8), STEPS)
def test_sbe_fast_path_equals_the_full_path_on_valid_books(
        updates: list[BookUpdate], steps: list[int]) -> None:
    run_both(sbe_frames(renumber(updates, steps), [(-1, 0)]))


@settings(max_examples=150, deadline=None)
@given(clean_books, st.integers(0, 2**62), st.integers(0, 5))
def test_sbe_fast_book_json_is_byte_identical_to_the_model_encoding(
        update: BookUpdate, recv_ns: int, epoch: int) -> None:
    try:
        frame = sbe.encode(update)
    except sbe.SbeEncodeError:
        return
    fast = fast_book(frame)
    model = sbe.decode(frame)
    assert fast is not None and isinstance(model, BookUpdate)
    assert fast.json == msgspec.json.encode(model)
    event = BookEvent(source="ws", venue_ts_ms=model.last_updated_at, recv_ns=recv_ns, conn_epoch=epoch,
                      book=model)
    assert book_event_bytes(fast.ts_ms, recv_ns, epoch, fast.json) == encode_event(event)


def test_sbe_fast_book_leaves_a_best_level_with_price_zero_to_the_full_path() -> None:
    zero_best = msgspec.structs.replace(s.snapshot(5), best_bid_api=s.lv("BUY", "0", "1"))
    assert fast_book(sbe.encode(s.snapshot(5))) is not None
    assert fast_book(sbe.encode(zero_best)) is None
    p = FeedProtocol([M], account=s.ACCOUNT)
    assert p.receive_wire(sbe.encode(zero_best), RECV_NS) == []
    assert p.rejects.counts == {"not_positive": 1} and p.rejects.pending[0].field == "best_bid_api.price"


def test_json_fast_path_is_taken_for_venue_frames_and_refused_for_odd_forms() -> None:
    good = s.push(CHANNEL, s.book(5, updates=(s.lv("BUY", "67629.7", "0.5"),)))
    assert decode_book_push(good) is not None
    assert FeedProtocol([M], account=s.ACCOUNT).receive_wire(good, 1) == []  # stale: no snapshot yet
    assert key8("67629.7") == 6_762_970_000_000 == price_key(Decimal("67629.7"))
    for text in ("1e3", "-1", "0.000000001", "1_0", " 1", "+1", ".5", "\u0661"):
        assert key8(text) is None, text
    assert decode_book_push(s.push(f"bbo.{M}", s.bbo())) is None
    assert decode_book_push(good.replace(b'"seq_no":5', b'"seq_no":"5"')) is None


def test_receive_decodes_fast_path_messages_to_book_events() -> None:
    p = FeedProtocol([M], account=s.ACCOUNT)
    p.epoch = 1
    [snap] = p.receive(s.push(CHANNEL, s.snapshot(10)), 7)
    [delta] = p.receive(sbe.encode(s.book(11, updates=(s.lv("BUY", "100", "4"),))), 8)
    assert isinstance(snap, BookEvent) and snap.book == s.snapshot(10) and snap.recv_ns == 7
    assert isinstance(delta, BookEvent) and delta.book.seq_no == 11 and delta.conn_epoch == 1
    assert p.books.book(M).bids.levels[price_key(Decimal("100"))] == price_key(Decimal("4"))


@settings(max_examples=100, deadline=None)
@given(clean_books, st.booleans())
def test_sbe_fast_book_is_the_model_encoding_with_texts_memoised_or_not(
        update: BookUpdate, cold: bool) -> None:
    """The delta templates filled from memoised texts, or (a text not memoised: the fallback)
    written afresh, give the model's bytes; the levels come in application order (sets, then
    the deletes with size 0), as flat_levels orders the model's."""
    from shared.paradex.sbe import fastbook

    try:
        frame = sbe.encode(update)
    except sbe.SbeEncodeError:
        return
    if cold:
        fastbook._texts.clear()
    fast = fast_book(frame)
    model = sbe.decode(frame)
    assert fast is not None and isinstance(model, BookUpdate)
    assert fast.json == msgspec.json.encode(model)
    bids, asks = flat_levels(model)
    assert (list(fast.bids), list(fast.asks)) == (bids, asks)
    assert fast.deletes == (not fast.snapshot and 0 in bids[1::2] + asks[1::2])


def test_sbe_fast_book_every_delete_pattern_is_the_model_encoding() -> None:
    """Every pattern of sides and deletes over 1-4 levels (the cached reorderings, including a
    lone delete), with and without a best level: the model's bytes, levels in application order,
    and the feed's BookEvent bytes (the epoch written into its template) as encode_event's."""
    import itertools

    p = FeedProtocol([M], account=s.ACCOUNT)
    p.epoch = 3
    for count in range(1, 5):
        for sides_ in itertools.product(("BUY", "SELL"), repeat=count):
            for live in itertools.product((True, False), repeat=count):
                lvs = [s.lv(side, str(100 + i if side == "BUY" else 2000 + i), f"{i + 1}.5" if on else "0")
                       for i, (side, on) in enumerate(zip(sides_, live, strict=True))]
                for best in (None, s.lv("BUY", "99", "1")):
                    update = BookUpdate(seq_no=9, market=M, last_updated_at=1_718_267_837_265,
                                        update_type="d", inserts=[], updates=[lv for lv in lvs if lv.size],
                                        deletes=[lv for lv in lvs if not lv.size], best_bid_api=best)
                    frame = sbe.encode(update)
                    fast = fast_book(frame)
                    model = sbe.decode(frame)
                    assert fast is not None and isinstance(model, BookUpdate)
                    assert fast.json == msgspec.json.encode(model), (sides_, live, best)
                    bids, asks = flat_levels(model)
                    assert (list(fast.bids), list(fast.asks)) == (bids, asks)
                    assert fast.deletes == (not all(live))
                    assert p._book_event(fast.ts_ms, RECV_NS, fast.json) == encode_event(BookEvent(
                        source="ws", venue_ts_ms=model.last_updated_at, recv_ns=RECV_NS, conn_epoch=3,
                        book=model))
