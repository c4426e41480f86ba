"""FeedProtocol: every channel (JSON and SBE) becomes the right event with the right venue_ts;
auth and subscription flow; gaps resubscribe; malformed input is counted and never raises."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from services.feed.core.plan import PRIVATE_CHANNELS
from services.feed.core.protocol import FeedProtocol
from shared.bus import (
    AccountEvent,
    BalanceChange,
    BboEvent,
    BookEvent,
    BookGap,
    FillEvent,
    FundingEvent,
    OrderEvent,
    PositionEvent,
    SummaryEvent,
    TradebustEvent,
    TradeEvent,
)
from shared.paradex import sbe
from tests.feed import samples as s

M = s.M


def proto(**kw: Any) -> FeedProtocol:
    p = FeedProtocol([M], account=s.ACCOUNT, **kw)
    p.connect(3, "jwt-token")
    return p


def reply(rid: int, result: Any) -> bytes:
    return msgspec.json.encode({"jsonrpc": "2.0", "result": result, "id": rid, "usIn": 1, "usDiff": 1})


def error(rid: int | None, code: int, message: str = "no") -> bytes:
    return msgspec.json.encode({"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": rid})


def sent(frame: bytes) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.json.decode(frame)
    return out


CASES = [
    ("orders.ALL", s.order(), OrderEvent, "order", 1_700_000_001_000),
    ("fills.ALL", s.fill_(), FillEvent, "fill", 1_700_000_002_000),
    ("positions", s.position(), PositionEvent, "position", 1_700_000_003_000),
    ("account", s.account(), AccountEvent, "summary", 1_700_000_004_000),
    ("balance_events", s.balance_event(), BalanceChange, "change", 1_700_000_005_000),
    ("tradebusts", s.tradebust(), TradebustEvent, "tradebust", 1_700_000_006_000),
    (f"bbo.{M}", s.bbo(), BboEvent, "bbo", 1_700_000_000_111),
    (f"trades.{M}", s.trade(), TradeEvent, "trade", 1_700_000_000_222),
    ("markets_summary", s.summary(), SummaryEvent, "summary", 1_700_000_000_333),
    (f"funding_data.{M}", s.funding(), FundingEvent, "funding", 1_700_000_000_444),
]


@pytest.mark.parametrize(("channel", "model", "cls", "attr", "ts"), CASES, ids=[c[0] for c in CASES])
def test_json_push_becomes_its_event_with_venue_ts_recv_ns_and_epoch(
        channel: str, model: Any, cls: type, attr: str, ts: int) -> None:
    p = proto()
    [event] = p.receive(s.push(channel, model), 123)
    assert type(event) is cls
    assert getattr(event, attr) == model
    assert (event.source, event.venue_ts_ms, event.recv_ns, event.conn_epoch) == ("ws", ts, 123, 3)
    assert p.frames[channel] == 1


def test_position_without_last_updated_at_uses_created_at() -> None:
    [event] = proto().receive(s.push("positions", s.position(ts=None, created=1_700_000_000_055)), 1)
    assert event.venue_ts_ms == 1_700_000_000_055


def test_text_frame_as_str_is_accepted() -> None:
    [event] = proto().receive(s.push(f"bbo.{M}", s.bbo()).decode(), 1)
    assert isinstance(event, BboEvent)


SBE_CASES = [
    (s.bbo(), BboEvent, "bbo", f"bbo.{M}"),
    (s.trade(), TradeEvent, "trade", f"trades.{M}"),
    (s.summary(), SummaryEvent, "summary", "markets_summary"),
    (s.funding(), FundingEvent, "funding", f"funding_data.{M}"),
]


@pytest.mark.parametrize(("model", "cls", "attr", "channel"), SBE_CASES, ids=[c[3] for c in SBE_CASES])
def test_sbe_frame_becomes_the_same_event_as_json(model: Any, cls: type, attr: str, channel: str) -> None:
    p = proto()
    [event] = p.receive(sbe.encode(model), 9)
    expected = sbe.canonical(model)
    assert type(event) is cls and getattr(event, attr) == expected
    assert event.venue_ts_ms == p.receive(s.push(channel, expected), 9)[0].venue_ts_ms
    assert p.frames[channel] >= 1


def test_sbe_book_snapshot_and_delta_are_sequence_checked() -> None:
    p = proto()
    [snap] = p.receive(sbe.encode(s.snapshot(10)), 1)
    assert isinstance(snap, BookEvent) and snap.book.update_type == "s" and snap.book.seq_no == 10
    assert snap.venue_ts_ms == s.snapshot(10).last_updated_at
    [delta] = p.receive(sbe.encode(s.book(11, updates=(s.lv("BUY", "100", "4"),))), 2)
    assert isinstance(delta, BookEvent) and delta.book.seq_no == 11
    assert p.receive(sbe.encode(s.book(11)), 3) == []  # duplicate
    [gap] = p.receive(sbe.encode(s.book(15)), 4)
    assert isinstance(gap, BookGap) and (gap.expected_seq, gap.got_seq, gap.reason) == (12, 15, "gap")
    assert p.frames[f"order_book.{M}.deltas"] == 4


def test_sbe_heartbeat_and_unknown_template_produce_nothing() -> None:
    p = proto()
    assert p.receive(sbe.encode(sbe.Heartbeat(ts_us=1, seq=1)), 1) == []
    frame = bytearray(sbe.encode(s.bbo()))
    frame[2:4] = (99).to_bytes(2, "little")  # an unknown template id
    assert p.receive(bytes(frame), 1) == []
    assert p.counters["decode_errors"] == 0


def test_truncated_sbe_frame_is_counted_and_ignored() -> None:
    p = proto()
    assert p.receive(sbe.encode(s.trade())[:12], 1) == []
    assert p.receive(b"\x01\x02", 1) == []
    assert p.counters["decode_errors"] == 2


def test_json_book_gap_publishes_bookgap_and_queues_unsubscribe_then_subscribe() -> None:
    p = proto()
    p.receive(s.push(f"order_book.{M}.deltas", s.snapshot(10)), 1)
    [gap] = p.receive(s.push(f"order_book.{M}.deltas", s.book(12)), 2)
    assert isinstance(gap, BookGap) and gap.market == M and gap.conn_epoch == 3
    assert [(sent(f)["method"], sent(f)["params"]["channel"]) for f in p.outbox] == [
        ("unsubscribe", f"order_book.{M}.deltas"), ("subscribe", f"order_book.{M}.deltas")]
    assert p.receive(s.push(f"order_book.{M}.deltas", s.book(13)), 3) == []  # stale until snapshot
    [fresh] = p.receive(s.push(f"order_book.{M}.deltas", s.snapshot(40)), 4)
    assert isinstance(fresh, BookEvent)
    assert p.counters["book_gap"] == 1 and p.counters["book_stale"] == 1


def test_crossing_delta_is_published_followed_by_bookgap() -> None:
    p = proto()
    p.receive(s.push(f"order_book.{M}.deltas", s.snapshot(10)), 1)
    book, gap = p.receive(s.push(f"order_book.{M}.deltas", s.book(11, inserts=(s.lv("SELL", "99", "1"),))), 2)
    assert isinstance(book, BookEvent) and isinstance(gap, BookGap) and gap.reason == "crossed"
    assert len(p.outbox) == 2


def test_auth_reply_queues_every_subscription_and_signals_authenticated() -> None:
    p = FeedProtocol([M, "ETH-USD-PERP"], account=s.ACCOUNT)
    auth = sent(p.connect(1, "tok"))
    assert auth["method"] == "auth" and auth["params"] == {"bearer": "tok"}
    assert p.receive(reply(auth["id"], {"node_id": "n1"}), 1) == []
    assert p.signals == [("authenticated", "")]
    channels = [sent(f)["params"]["channel"] for f in p.outbox]
    assert channels[:6] == list(PRIVATE_CHANNELS)
    for m in (M, "ETH-USD-PERP"):
        assert {f"order_book.{m}.deltas", f"bbo.{m}", f"trades.{m}", f"funding_data.{m}"} <= set(channels)
    assert "markets_summary" in channels and len(set(sent(f)["id"] for f in p.outbox)) == len(channels)


@pytest.mark.parametrize("code", [40110, 40111])
def test_bearer_token_errors_signal_auth_failed(code: int) -> None:
    p = FeedProtocol([M], account=s.ACCOUNT)
    auth = sent(p.connect(1, "tok"))
    p.receive(error(auth["id"], code, "invalid bearer token"), 1)
    assert p.signals == [("auth_failed", f"{code} invalid bearer token")] and p.outbox == []


def test_subscribe_error_is_counted_and_does_not_stop_the_feed() -> None:
    p = proto()
    p.receive(error(999, -32600, "invalid subscribe request"), 1)
    p.receive(error(None, -32700, "parse error"), 1)
    assert p.counters["rpc_errors"] == 2 and p.signals == []
    assert len(p.receive(s.push(f"bbo.{M}", s.bbo()), 1)) == 1


@pytest.mark.parametrize("frame", [
    b"not json", b"{",
    b'{"jsonrpc":"2.0","method":"subscription","params":{"channel":"bbo.X","data":{"x":1}}}',
    b'{"jsonrpc":"2.0","method":"subscription","params":{"channel":"trades.X","data":{"id":"1","market":"X"}}}',
    b"[1,2,3]", b'{"jsonrpc":"2.0"}', "\u00e9t\u00e9",
])
def test_malformed_json_is_counted_and_yields_nothing(frame: bytes | str) -> None:
    p = proto()
    assert p.receive(frame, 1) == []
    assert p.counters["decode_errors"] == 1


def test_unknown_channel_and_unexpected_reply_are_counted() -> None:
    p = proto()
    assert p.receive(s.push("transfers", {"id": "1"}), 1) == []
    assert p.receive(reply(777, {"channel": "x"}), 1) == []
    assert p.counters["unknown_channel"] == 1 and p.counters["unexpected_reply"] == 1


def test_connect_resets_books_so_a_new_connection_waits_for_a_snapshot() -> None:
    p = proto()
    p.receive(s.push(f"order_book.{M}.deltas", s.snapshot(10)), 1)
    p.connect(4, "tok2")
    assert p.receive(s.push(f"order_book.{M}.deltas", s.book(11)), 1) == []
    [ev] = p.receive(s.push(f"order_book.{M}.deltas", s.snapshot(12)), 1)
    assert ev.conn_epoch == 4


def test_refused_book_subscription_signals_a_reconnect_other_refusals_do_not() -> None:
    p = FeedProtocol([M], account=s.ACCOUNT)
    auth = sent(p.connect(1, "tok"))
    p.receive(reply(auth["id"], {"node_id": "n"}), 1)
    ids = {sent(f)["params"]["channel"]: sent(f)["id"] for f in p.outbox}
    p.signals.clear()
    p.receive(error(ids[f"trades.{M}"], -32600, "invalid subscribe request"), 1)
    assert p.signals == [] and p.counters["subscribe_errors"] == 1
    p.receive(error(ids[f"order_book.{M}.deltas"], -32600, "invalid subscribe request"), 1)
    assert [name for name, _ in p.signals] == ["reconnect"]


def test_empty_book_side_json_and_sbe_pushes_become_the_same_bbo_event_without_a_price() -> None:
    empty_bid = msgspec.structs.replace(s.bbo(), bid="", bid_size="")
    [from_json] = proto().receive(s.push(f"bbo.{M}", empty_bid), 1)
    [from_sbe] = proto().receive(sbe.encode(empty_bid), 1)
    assert isinstance(from_json, BboEvent) and isinstance(from_sbe, BboEvent)
    assert from_json.bbo == from_sbe.bbo == empty_bid
    assert from_json.bbo.bid_value is None and from_json.bbo.ask_value == 101


def test_summary_push_with_empty_prices_becomes_a_summary_event() -> None:
    empty = dict.fromkeys(("bid", "bid_size", "ask", "ask_size", "last_traded_price"), "")
    summary = msgspec.structs.replace(s.summary(), **empty)
    [event] = proto().receive(s.push("markets_summary", summary), 1)
    assert isinstance(event, SummaryEvent) and event.summary == summary
    assert event.summary.bid_value is None and event.summary.mark_price_value == 100
