"""wire.complete: every field with a value is written (empties kept, None left out)."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from services.simulator.wire import complete, encode_wire
from shared.paradex.models.market_data import BookLevel, BookUpdate
from shared.paradex.models.reference import Market
from shared.paradex.models.rest import Results


def test_empty_values_are_written_and_none_is_left_out() -> None:
    body = msgspec.json.decode(encode_wire(Results(results=[Market(symbol="X", tags=[])])))
    market = body["results"][0]
    assert market["tags"] == [] and market["base_currency"] == "" and "price_tick_size" not in market


def test_a_model_msgspec_already_writes_completely_is_returned_as_is() -> None:
    level = BookLevel(side="BUY", price=Decimal(1), size=Decimal(2))
    book = BookUpdate(seq_no=1, market="M", last_updated_at=1, update_type="d", inserts=[level], updates=[],
                      deletes=[], best_bid_api=level)
    assert complete(book) is book
    written = msgspec.json.decode(encode_wire(book))
    assert written["best_bid_api"] == {"side": "BUY", "price": "1", "size": "2"}
