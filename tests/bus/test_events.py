"""Every bus event type survives encode -> decode unchanged, and bad messages raise DecodeError."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.bus import ALL_EVENTS, OrderEvent, decode_event, encode_event, kind_of
from shared.errors import DecodeError
from tests.strategies import for_type


@pytest.mark.parametrize("cls", ALL_EVENTS, ids=lambda c: c.__name__)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_event_round_trips(cls, data):
    event = data.draw(for_type(cls))
    raw = encode_event(event)
    assert msgspec.json.decode(raw)["kind"] == kind_of(cls)
    back = decode_event(raw)
    assert type(back) is cls
    assert back == event


def test_kinds_are_unique():
    kinds = [kind_of(c) for c in ALL_EVENTS]
    assert len(kinds) == len(set(kinds))


def test_unknown_kind_is_a_decode_error():
    with pytest.raises(DecodeError):
        decode_event(b'{"kind":"nope","source":"ws"}')


def test_missing_field_names_the_field():
    with pytest.raises(DecodeError) as info:
        decode_event(b'{"kind":"order","source":"ws"}')
    assert info.value.field is not None and "order" in info.value.field


def test_bad_source_is_rejected():
    with pytest.raises(DecodeError) as info:
        decode_event(b'{"kind":"feed_status","source":"elsewhere","state":"connected","epoch":1}')
    assert info.value.field == "$.source"


def test_not_json_is_a_decode_error():
    with pytest.raises(DecodeError):
        decode_event(b"\x00\x01garbage")


def test_order_event_keeps_exact_decimals():
    raw = (b'{"kind":"order","source":"ws","order":{"id":"1","account":"0xa","market":"BTC-USD-PERP",'
           b'"side":"BUY","type":"LIMIT","size":"0.10000001","remaining_size":"0.1","price":"30000.5",'
           b'"status":"OPEN","created_at":1,"last_updated_at":2,"timestamp":1,"cancel_reason":"",'
           b'"client_id":"c","seq_no":5,"instruction":"GTC","avg_fill_price":"","received_at":1,'
           b'"published_at":2,"flags":[],"trigger_price":""}}')
    ev = decode_event(raw)
    assert isinstance(ev, OrderEvent)
    assert str(ev.order.size) == "0.10000001"
    assert decode_event(encode_event(ev)) == ev
