"""Subscription planning and request numbering."""

from __future__ import annotations

import msgspec

from services.feed.core.plan import Requests, all_channels, book_channel, public_channels


def test_public_channels_per_market_plus_summary_once() -> None:
    assert public_channels(["A", "B"]) == [
        "order_book.A.deltas", "bbo.A", "trades.A", "funding_data.A",
        "order_book.B.deltas", "bbo.B", "trades.B", "funding_data.B", "markets_summary"]
    assert "markets_summary" not in public_channels(["A"], summary=False)
    assert book_channel("A", "interactive_deltas") == "order_book.A.interactive_deltas"


def test_all_channels_start_with_private_ones() -> None:
    chans = all_channels(["A"])
    assert chans[:6] == ["orders.ALL", "fills.ALL", "positions", "account", "balance_events", "tradebusts"]


def test_requests_have_increasing_ids_and_resolve_once() -> None:
    r = Requests()
    a = msgspec.json.decode(r.auth("t"))
    b = msgspec.json.decode(r.subscribe("bbo.A"))
    assert a == {"jsonrpc": "2.0", "method": "auth", "params": {"bearer": "t"}, "id": 1}
    assert b["id"] == 2 and b["params"] == {"channel": "bbo.A"}
    pending = r.resolve(2)
    assert pending is not None and (pending.method, pending.channel) == ("subscribe", "bbo.A")
    assert r.resolve(2) is None and r.resolve("1") is not None and r.resolve(None) is None
