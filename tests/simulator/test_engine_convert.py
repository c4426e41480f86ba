"""Engine events converted to the Paradex wire models encode to JSON that decodes back equal."""

from __future__ import annotations

import random
from decimal import Decimal

import jsonschema
import msgspec
import pytest

from services.simulator.engine import FillEvent, VenueEvent, convert
from services.simulator.engine import events as ev
from services.simulator.engine.synthetic import SyntheticMarket
from services.simulator.wire import account_body, encode_event
from shared.paradex.models import Bbo
from tests.spec import load_spec

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


def _empty_bid_events() -> tuple[ev.BboUpdate, ev.MarketSummaryUpdate]:
    bbo = ev.BboUpdate(market=BTC, seq_no=7, bid=None, bid_size=Decimal(0), ask=Decimal("64001.5"),
                       ask_size=Decimal("0.25"), last_updated_at=1_000)
    z = Decimal(0)
    summary = ev.MarketSummaryUpdate(
        symbol=BTC, mark_price=Decimal("64000"), last_traded_price=Decimal("64000"), bid=None,
        bid_size=z, ask=Decimal("64001.5"), ask_size=Decimal("0.25"), volume_24h=z, total_volume=z,
        open_interest=z, funding_rate=z, future_funding_rate=z, underlying_price=Decimal("63990"),
        price_change_rate_24h=z, created_at=1_000,
    )
    return bbo, summary


def test_empty_book_side_is_written_as_empty_strings_not_zero() -> None:
    bbo_event, summary_event = _empty_bid_events()
    for wire in (convert.bbo(bbo_event), convert.market_summary(summary_event)):
        data = msgspec.json.decode(encode_event(bbo_event if isinstance(wire, Bbo) else summary_event))
        assert (data["bid"], data["bid_size"]) == ("", "")
        assert (data["ask"], data["ask_size"]) == ("64001.5", "0.25")
        assert wire.bid_value is None and wire.ask_value == Decimal("64001.5")


@pytest.mark.spec
@pytest.mark.parametrize(("schema", "index"), [("ResponsesBBOResp", 0), ("ResponsesMarketSummaryResp", 1)])
def test_empty_book_side_payload_still_matches_the_asyncapi_schema(schema: str, index: int) -> None:
    spec = load_spec("asyncapi.yaml")
    data = msgspec.json.decode(encode_event(_empty_bid_events()[index]))
    jsonschema.Draft7Validator({**spec["components"]["schemas"][schema],
                                "components": spec["components"]}).validate(data)


def test_account_push_always_carries_last_seen_notification() -> None:
    account = next(e for e in EVENTS if isinstance(e, ev.AccountUpdate))
    data = msgspec.json.decode(encode_event(account))
    assert data["last_seen_notification"] == 0
    assert account_body(convert.account(account.summary))["last_seen_notification"] == 0
