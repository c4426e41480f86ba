"""FeedProtocol refuses garbage record by record: each refusal is counted by reason, becomes a
dead letter with the raw frame, is logged at a bounded rate, and never raises or disturbs the
frames around it."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.feed.core.protocol import OTHER, FeedProtocol
from shared.bus import BboEvent, BookEvent, OrderEvent
from shared.paradex import sbe
from tests.feed import samples as s

M = s.M
NOW_NS = 1_700_000_010_000 * 1_000_000


def proto() -> FeedProtocol:
    p = FeedProtocol([M], account=s.ACCOUNT)
    p.connect(1, "jwt")
    return p


def raw_push(channel: str, data: dict[str, Any]) -> bytes:
    return s.push(channel, data)


def order_with(**fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = s.to_json(s.order())
    data.update(fields)
    return data


GARBAGE = [
    ("nan_size", "orders.ALL", order_with(size="NaN"), "non_finite", "size"),
    ("infinite_price", "orders.ALL", order_with(price="Infinity"), "non_finite", "price"),
    ("snan", "orders.ALL", order_with(remaining_size="sNaN"), "non_finite", "remaining_size"),
    ("absurd_exponent", "orders.ALL", order_with(size="1E+999999"), "out_of_range", "size"),
    ("absurd_digits", "orders.ALL", order_with(price="1" * 5000), "out_of_range", "price"),
    ("negative_seq", "orders.ALL", order_with(seq_no=-1), "negative_seq", "seq_no"),
    ("unknown_status", "orders.ALL", order_with(status="EXPLODED"), "unknown_enum", "status"),
    ("foreign_account", "orders.ALL", order_with(account="0xdead"), "foreign_account", "account"),
    ("future_time", "orders.ALL", order_with(last_updated_at=4_102_444_800_000), "bad_timestamp",
     "last_updated_at"),
    ("wrong_type", "orders.ALL", order_with(status=5), "bad_schema", "$.params.data.status"),
    ("nan_trade", f"trades.{M}", {**s.to_json(s.trade()), "price": "NaN"}, "non_finite", "price"),
    ("unsubscribed_bbo", f"bbo.{M}", {**s.to_json(s.bbo()), "market": "SOL-USD-PERP"},
     "unsubscribed_market", "market"),
    ("wildcard_market", f"bbo.{M}", {**s.to_json(s.bbo()), "market": "BTC.>*"}, "unsafe_market", "market"),
    ("newline_market", f"bbo.{M}", {**s.to_json(s.bbo()), "market": "BTC\r\nPUB x 1"}, "unsafe_market",
     "market"),
    ("nan_book_price", f"order_book.{M}.deltas",
     s.to_json(s.book(11, updates=(s.lv("BUY", "100", "1"),))) | {
         "updates": [{"side": "BUY", "price": "NaN", "size": "1"}]}, "non_finite", "updates[0].price"),
    ("unknown_book_side", f"order_book.{M}.deltas",
     s.to_json(s.book(11)) | {"updates": [{"side": "MIDDLE", "price": "100", "size": "1"}]}, "unknown_enum",
     "updates[0].side"),
    ("negative_fill", "fills.ALL", {**s.to_json(s.fill_()), "size": "-3"}, "negative", "size"),
    ("tradebust_elsewhere", "tradebusts", {**s.to_json(s.tradebust()), "account": "0x1"}, "foreign_account",
     "account"),
]


@pytest.mark.parametrize(("channel", "data", "reason", "field"), [g[1:] for g in GARBAGE],
                         ids=[g[0] for g in GARBAGE])
def test_a_bad_record_is_refused_with_its_reason_and_dead_lettered_and_its_neighbours_pass(
        channel: str, data: dict[str, Any], reason: str, field: str) -> None:
    p = proto()
    p.receive(s.push(f"order_book.{M}.deltas", s.snapshot(10)), NOW_NS)
    frame = raw_push(channel, data)
    assert p.receive(frame, NOW_NS) == []
    assert p.rejects.counts == {reason: 1}
    [letter] = p.rejects.pending
    assert (letter.reason, letter.field, letter.source, letter.service) == (reason, field, "ws", "feed")
    assert letter.raw.encode() == frame and letter.raw_size == len(frame) and letter.recv_ns == NOW_NS
    # the neighbours: an order and the next book delta still go through, the book stays valid
    [order] = p.receive(s.push("orders.ALL", s.order()), NOW_NS)
    [book] = p.receive(s.push(f"order_book.{M}.deltas", s.book(11, updates=(s.lv("BUY", "99.5", "1"),))),
                       NOW_NS)
    assert isinstance(order, OrderEvent) and isinstance(book, BookEvent) and p.books.book(M).valid
    assert p.counters["internal_errors"] == 0


def test_summaries_of_markets_not_followed_are_filtered_quietly() -> None:
    p = proto()
    other = msgspec.structs.replace(s.summary(), symbol="SOL-USD-PERP")
    assert p.receive(s.push("markets_summary", other), NOW_NS) == []
    assert p.rejects.filtered == {"summary_not_followed": 1}
    assert not p.rejects.counts and not p.rejects.pending
    assert len(p.receive(s.push("markets_summary", s.summary()), NOW_NS)) == 1


def test_pushes_on_channels_we_did_not_subscribe_are_refused_under_one_label() -> None:
    p = proto()
    for i in range(50):
        assert p.receive(s.push(f"bbo.M{i}" + "x" * 1000, s.bbo()), NOW_NS) == []
    assert p.receive(s.push("transfers", {"id": "1"}), NOW_NS) == []
    assert p.rejects.counts == {"unknown_channel": 51}
    assert set(p.frames) == {OTHER} and p.frames[OTHER] == 51
    assert all(len(d.where) <= 200 for d in p.rejects.pending)


def test_sbe_records_of_other_markets_are_refused_and_labelled_other() -> None:
    p = proto()
    for i in range(20):
        bbo = msgspec.structs.replace(s.bbo(), market=f"X{i}-USD-PERP")
        assert p.receive(sbe.encode(bbo), NOW_NS) == []
    assert p.rejects.counts == {"unsubscribed_market": 20} and set(p.frames) == {OTHER}
    [event] = p.receive(sbe.encode(s.bbo()), NOW_NS)
    assert isinstance(event, BboEvent) and p.frames[f"bbo.{M}"] == 1


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_binary_garbage_is_refused_as_bad_sbe_and_never_raises(frame: bytes) -> None:
    p = proto()
    out = p.receive_wire(frame, NOW_NS)
    assert p.counters["internal_errors"] == 0
    if out:  # random bytes that happen to form a valid record of a followed market
        return
    assert sum(p.rejects.counts.values()) + p.counters["sbe_skipped"] == 1
    assert "internal_error" not in p.rejects.counts


def test_an_exception_while_handling_a_frame_refuses_that_frame_only(monkeypatch: pytest.MonkeyPatch) -> None:
    p = proto()
    calls = {"n": 0}
    real = p._record

    def boom(*args: Any, **kw: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("bug")
        return real(*args, **kw)

    monkeypatch.setattr(p, "_record", boom)
    assert p.receive(s.push(f"bbo.{M}", s.bbo()), NOW_NS) == []
    assert p.rejects.counts == {"internal_error": 1} and p.counters["internal_errors"] == 1
    assert "RuntimeError: bug" in p.rejects.pending[0].detail
    assert len(p.receive(s.push(f"bbo.{M}", s.bbo()), NOW_NS)) == 1


def test_a_flood_of_refusals_logs_a_few_lines_then_one_summary(caplog: pytest.LogCaptureFixture) -> None:
    p = proto()
    caplog.set_level(logging.WARNING, logger="feed.rejects")
    for i in range(50_000):
        p.receive(b"{garbage", NOW_NS + i * 1000)  # 50 000 frames in 50 ms
    assert p.rejects.counts == {"bad_json": 50_000}
    lines = [r for r in caplog.records if r.name == "feed.rejects"]
    assert len(lines) == 5
    p.rejects.log.flush(NOW_NS / 1e9 + 1.5)
    [summary] = [r.getMessage() for r in caplog.records if "suppressed" in r.getMessage()]
    assert "49995 similar lines suppressed" in summary and "bad_json 49995" in summary
    # 50 ms of flood: the first second's worth of dead-letter tokens (1000), the rest only counted
    assert len(p.rejects.pending) == 1000 and p.rejects.limited + p.rejects.dropped == 49_000


@pytest.mark.parametrize(("channel", "model", "field"), [
    ("orders.ALL", s.order(), "size"), ("fills.ALL", s.fill_(), "price"), ("positions", s.position(), "cost"),
    ("account", s.account(), "account_value"),
    ("balance_events", s.balance_event(), "settlement_asset_price"),
    ("tradebusts", s.tradebust(), "busted_fill_id")])
def test_every_private_channel_is_validated(channel: str, model: Any, field: str) -> None:
    p = proto()
    bad = "" if field == "busted_fill_id" else "NaN"
    assert p.receive(s.push(channel, {**s.to_json(model), field: bad}), NOW_NS) == [], channel
    assert [(d.reason, d.field) for d in p.rejects.pending] == [
        ("bad_id" if field == "busted_fill_id" else "non_finite", field)]
    assert len(p.receive(s.push(channel, model), NOW_NS)) == 1
