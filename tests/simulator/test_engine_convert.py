"""Engine events converted to the Paradex wire models encode to JSON that decodes back equal."""

from __future__ import annotations

import random
from decimal import Decimal

import msgspec
import pytest

from services.simulator.engine import FillEvent, VenueEvent, convert
from services.simulator.engine.synthetic import SyntheticMarket

from .test_engine_helpers import BTC, exchange, limit, place


def _events() -> list[VenueEvent]:
    ex = exchange()
    sm = SyntheticMarket(ex, random.Random(3))
    events = sm.step(1_000)
    ask = ex.bbo(BTC).ask
    assert ask is not None
    _, got = place(ex, "0xuser", limit("BUY", "0.01", str(ask)), now=1_001)
    events += got
    fill = next(e.fill for e in got if isinstance(e, FillEvent))
    events += ex.bust_fill(fill.id, 1_002)
    events += ex.set_balance("0xuser", "5000", 1_003)
    for t in range(1_004, 2_100, 10):
        events += sm.step(t)
    return events


EVENTS = _events()


@pytest.mark.parametrize("kind", sorted({e.kind for e in EVENTS}))
def test_every_event_kind_round_trips_through_json(kind: str) -> None:
    sample = [e for e in EVENTS if e.kind == kind][:50]
    assert sample
    for event in sample:
        wire = convert.to_wire(event)
        data = msgspec.json.encode(wire)
        assert msgspec.json.decode(data, type=type(wire)) == wire
        assert b"E-" not in data and b"E+" not in data, data


def test_order_wire_fields_follow_the_venue_conventions() -> None:
    order_events = [e for e in EVENTS if e.kind == "order"]
    wire = msgspec.json.decode(msgspec.json.encode(convert.to_wire(order_events[0])))
    assert wire["status"] == "NEW" and wire["avg_fill_price"] == "" and wire["trigger_price"] == "0"
    assert len(wire["id"]) == 28 and wire["id"].isdigit()
    assert isinstance(wire["seq_no"], int) and isinstance(wire["size"], str)


def test_markets_and_rest_orderbook_convert() -> None:
    ex = exchange()
    SyntheticMarket(ex, random.Random(1)).step(1_000)
    for cfg in ex.list_markets():
        wire = convert.market(cfg)
        assert msgspec.json.decode(msgspec.json.encode(wire), type=type(wire)) == wire
    book = convert.orderbook(ex.orderbook(BTC, depth=5))
    assert len(book.bids) == 5 and book.bids[0][0] < book.asks[0][0]
    assert convert.dec(Decimal("0E-8")) == 0 and str(convert.dec(Decimal("2E+1"))) == "20"
