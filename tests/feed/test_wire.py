"""The book fast paths publish bytes that decode (``shared.bus.decode_event``) to exactly the
BookEvent the full path (decode -> BookChecker -> to_event -> encode_event) produces, and make the
same book decisions, for JSON pushes and SBE frames over random books."""

from __future__ import annotations

from decimal import Decimal

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from services.feed.core.book import price_key
from services.feed.core.protocol import FeedProtocol
from services.feed.core.wire import Prepared, book_event_bytes
from shared.bus import BookEvent, BookGap, decode_event, encode_event
from shared.paradex import sbe
from shared.paradex.models import BookLevel, BookUpdate, decode_push
from shared.paradex.models.fastbook import decode_book_push, key8
from shared.paradex.sbe.fastbook import fast_book
from tests.feed import samples as s

M = s.M
CHANNEL = f"order_book.{M}.deltas"

# prices/sizes as the venue writes them (plain, up to 8 decimals) plus the odd forms the fast
# path must refuse (exponent, 9+ decimals, sign) so the full path is exercised too
plain = st.builds(lambda i, f: Decimal(i).scaleb(-f), st.integers(0, 10**12), st.integers(0, 8))
odd = st.sampled_from([Decimal("1E+3"), Decimal("0.000000001"), Decimal("-0"), Decimal("1.50")])
prices = st.one_of(plain, odd)
# bids mostly below 1000 and asks above, so most books stay uncrossed and deltas get applied
levels = st.builds(lambda side, p, q: BookLevel(side=side, price=p + (1000 if side == "SELL" else 0), size=q),
                   st.sampled_from(["BUY", "SELL"]), st.one_of(plain.filter(lambda d: d < 1000), odd),
                   st.one_of(st.just(Decimal(0)), prices))
books = st.builds(
    lambda seq, kind, ins, ups, dels, ts, best: BookUpdate(
        seq_no=seq, market=M, last_updated_at=ts, update_type=kind, inserts=ins, updates=ups, deletes=dels,
        best_bid_api=best, relative_spread=None if best is None else Decimal("0.01")),
    st.integers(0, 30), st.sampled_from(["s", "d", "d", "d"]), st.lists(levels, max_size=5),
    st.lists(levels, max_size=5),
    st.lists(levels, max_size=3), st.integers(0, 2**50), st.one_of(st.none(), levels))


def as_bus(out: list[object]) -> list[object]:
    """What consumers get: every message through the bus codec."""
    return [decode_event(m.payload if isinstance(m, Prepared) else encode_event(m))  # type: ignore[arg-type]
            for m in out]


def renumber(updates: list[BookUpdate], steps: list[int]) -> list[BookUpdate]:
    """Mostly consecutive sequence numbers (some duplicates and gaps)."""
    seq, out = 100, []
    for u, step in zip(updates, steps * len(updates), strict=False):
        seq += step
        out.append(msgspec.structs.replace(u, seq_no=seq))
    return out


STEPS = st.lists(st.sampled_from([1, 1, 1, 1, 1, 0, 2]), min_size=1, max_size=8)


def run_both(frames: list[bytes], updates: list[BookUpdate]) -> None:
    """Each frame through the fast path (receive_wire) and its model through the full path
    (``_book``: BookChecker.check on the model, to_event): same messages, same book state."""
    fast, full = FeedProtocol([M]), FeedProtocol([M])
    fast.epoch = full.epoch = 3
    for i, (frame, update) in enumerate(zip(frames, updates, strict=True)):
        recv_ns = 1_700_000_000_000_000_000 + i
        got = as_bus(fast.receive_wire(frame, recv_ns))
        assert got == as_bus(full._book(update, recv_ns))
        assert all(type(m) in (BookEvent, BookGap) for m in got)
        a, b = fast.books.book(M), full.books.book(M)
        assert (a.valid, a.last_seq, a.bids.levels, a.asks.levels, a.bids.best, a.asks.best) == (
            b.valid, b.last_seq, b.bids.levels, b.asks.levels, b.bids.best, b.asks.best)
        assert fast.outbox == full.outbox


@settings(max_examples=150, deadline=None)
@given(st.lists(books, min_size=1, max_size=8), STEPS)
def test_json_fast_path_publishes_what_the_full_path_would(
        updates: list[BookUpdate], steps: list[int]) -> None:
    updates = renumber(updates, steps)
    frames = [s.push(CHANNEL, u) for u in updates]
    run_both(frames, [decode_push(f).data for f in frames])  # type: ignore[misc]


@settings(max_examples=150, deadline=None)
@given(st.lists(books, min_size=1, max_size=8), STEPS)
def test_sbe_fast_path_publishes_what_the_full_path_would(
        updates: list[BookUpdate], steps: list[int]) -> None:
    updates = renumber(updates, steps)
    frames, decoded = [], []
    for u in updates:
        try:
            frame = sbe.encode(u)
        except sbe.SbeEncodeError:
            continue  # not representable in SBE (more than 8 decimals, negative...)
        frames.append(frame)
        decoded.append(sbe.decode(frame))
    run_both(frames, decoded)  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(books, st.integers(0, 2**62), st.integers(0, 5))
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


def test_json_fast_path_is_taken_for_venue_frames_and_refused_for_odd_forms() -> None:
    good = s.push(CHANNEL, s.book(5, updates=(s.lv("BUY", "67629.7", "0.5"),)))
    assert decode_book_push(good) is not None
    assert FeedProtocol([M]).receive_wire(good, 1) == []  # stale: no snapshot yet
    assert key8("67629.7") == 6_762_970_000_000 == price_key(Decimal("67629.7"))
    for text in ("1e3", "-1", "0.000000001", "1_0", " 1", "+1", ".5", "\u0661"):
        assert key8(text) is None, text
    assert decode_book_push(s.push(f"bbo.{M}", s.bbo())) is None
    assert decode_book_push(good.replace(b'"seq_no":5', b'"seq_no":"5"')) is None


def test_receive_decodes_fast_path_messages_to_book_events() -> None:
    p = FeedProtocol([M])
    p.epoch = 1
    [snap] = p.receive(s.push(CHANNEL, s.snapshot(10)), 7)
    [delta] = p.receive(sbe.encode(s.book(11, updates=(s.lv("BUY", "100", "4"),))), 8)
    assert isinstance(snap, BookEvent) and snap.book == s.snapshot(10) and snap.recv_ns == 7
    assert isinstance(delta, BookEvent) and delta.book.seq_no == 11 and delta.conn_epoch == 1
    assert p.books.book(M).bids.levels[price_key(Decimal("100"))] == price_key(Decimal("4"))
