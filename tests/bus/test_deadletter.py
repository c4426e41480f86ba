"""shared.bus.deadletter: dead letters keep the reason and a bounded raw payload; check_event
finds the venue record inside a bus event."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from shared.bus import BookGap, CmdSubmitted, FeedStatus, LookupResult, OrderEvent, TradeEvent
from shared.bus.deadletter import RAW_MAX, check_event, dead_letter, decode_dead_letter, encode_dead_letter
from shared.paradex.validate import Rejection, Scope
from tests.feed import samples as s

NS = 1_700_000_010_000 * 1_000_000


def test_dead_letter_round_trips_and_cuts_the_raw_payload() -> None:
    rej = Rejection("non_finite", "size", "NaN")
    letter = dead_letter("feed", "ws", rej, b'{"x":"NaN"}', where="orders.ALL", recv_ns=5)
    back = decode_dead_letter(encode_dead_letter(letter))
    assert back == letter and back.raw == '{"x":"NaN"}' and back.raw_size == 11 and not back.truncated
    big = dead_letter("feed", "ws", rej, b"x" * (RAW_MAX + 10))
    assert len(big.raw) == RAW_MAX and big.truncated and big.raw_size == RAW_MAX + 10
    binary = decode_dead_letter(encode_dead_letter(dead_letter("feed", "ws", rej, b"\xff\x00", binary=True)))
    assert binary.raw_bytes == b"\xff\x00" and binary.raw == ""


def test_check_event_validates_the_record_inside_and_passes_events_without_one() -> None:
    order = s.order()
    good = OrderEvent(source="ws", recv_ns=NS, order=order)
    assert check_event(good) is None
    nan = OrderEvent(source="ws", recv_ns=NS, order=msgspec.structs.replace(order, size=Decimal("NaN")))
    assert check_event(nan) == Rejection("non_finite", "size", "NaN")
    assert check_event(good, Scope.of("0xdef")) == Rejection("foreign_account", "account", s.ACCOUNT)
    bad_trade = TradeEvent(source="ws", recv_ns=NS, trade=msgspec.structs.replace(s.trade(), market="A.>"))
    assert check_event(bad_trade) is not None and check_event(bad_trade).reason == "unsafe_market"  # type: ignore[union-attr]
    assert check_event(BookGap(source="ws", market="A B")) == Rejection("unsafe_market", "market", "A B")
    assert check_event(LookupResult(source="rest", found=False)) is None
    assert check_event(FeedStatus(source="ws", state="connected", epoch=1)) is None
    assert check_event(CmdSubmitted(source="cmd", client_id="c", market="M", side="BUY", type="LIMIT",
                                    size="1")) is None
    # the receipt time bounds the venue time
    future = OrderEvent(source="ws", recv_ns=NS, order=msgspec.structs.replace(
        order, last_updated_at=NS // 1_000_000 + 2 * 3_600_000))
    assert check_event(future) is not None and check_event(future).reason == "bad_timestamp"  # type: ignore[union-attr]
