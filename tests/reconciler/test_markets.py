"""The venue's market specs on the bus: pure trimming and status, and the reconciler publishing
them from the simulator's ``GET /markets`` at start-up, on request, and only again on change."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from services.reconciler.markets import specs_of, status_of
from shared.bus import MarketsEvent, subjects
from shared.bus.requests import MarketsRequest, encode_markets_request
from shared.paradex.models.reference import Market
from tests.feed.helpers import until
from tests.reconciler.helpers import BTC, RecFactory
from tests.simfixture import SimHandle

NOW = 1_700_000_000_000


def _m(symbol: str, **kw: Any) -> Market:
    base: dict[str, Any] = {"price_tick_size": Decimal("0.1"), "order_size_increment": Decimal("0.001"),
                            "min_notional": Decimal("10"), "max_order_size": Decimal("100")}
    return Market(symbol=symbol, **{**base, **kw})


def test_status_follows_the_venue_fields_at_the_venue_time() -> None:
    assert status_of(_m("A", open_at=0, expiry_at=0, trading_mode="STANDARD"), NOW) == "open"
    assert status_of(_m("A", open_at=NOW + 1), NOW) == "pre_open"
    assert status_of(_m("A", open_at=NOW), NOW) == "open"
    assert status_of(_m("A", expiry_at=NOW), NOW) == "expired"
    assert status_of(_m("A", expiry_at=NOW + 1, trading_mode="RFQ_ONLY"), NOW) == "rfq_only"


def test_specs_are_sorted_trimmed_and_keep_the_last_of_a_repeated_symbol() -> None:
    specs = specs_of([_m("ETH-USD-PERP"), _m("BTC-USD-PERP", max_open_orders=100),
                      _m("ETH-USD-PERP", min_notional=None)], NOW)
    assert [s.symbol for s in specs] == ["BTC-USD-PERP", "ETH-USD-PERP"]
    btc, eth = specs
    assert (btc.price_tick_size, btc.order_size_increment, btc.min_notional, btc.max_order_size,
            btc.max_open_orders, btc.status) == (Decimal("0.1"), Decimal("0.001"), Decimal("10"),
                                                 Decimal("100"), 100, "open")
    assert eth.min_notional is None
    assert specs_of([_m("X")], NOW) == specs_of([_m("X")], NOW)  # comparable: change detection


async def test_reconciler_publishes_the_specs_at_start_on_request_and_not_again_unchanged(
        simulator: SimHandle, start_reconciler: RecFactory) -> None:
    rec = await start_reconciler(simulator, markets_interval_s=3600.0)
    await until(lambda: bool(rec.tap.of(MarketsEvent)), 10.0, what="the start-up markets event")
    ev = rec.tap.of(MarketsEvent)[0]
    venue = {m.symbol: m for m in await rec.rest.markets()}
    assert {s.symbol for s in ev.markets} == set(venue) and BTC in venue
    btc = next(s for s in ev.markets if s.symbol == BTC)
    assert btc.price_tick_size == venue[BTC].price_tick_size
    assert btc.order_size_increment == venue[BTC].order_size_increment
    assert btc.min_notional == venue[BTC].min_notional and btc.max_order_size == venue[BTC].max_order_size
    assert btc.status == "open" and ev.source == "rest" and ev.venue_ts_ms > 0 and ev.complete
    publisher = rec.service.markets
    assert not await publisher.refresh()  # unchanged: nothing published
    await rec.nc.publish(subjects.MARKETS_REQUEST, encode_markets_request(MarketsRequest(reason="test")))
    await until(lambda: len(rec.tap.of(MarketsEvent)) == 2, 10.0, what="the requested markets event")
    assert rec.tap.of(MarketsEvent)[1].markets == ev.markets
    assert publisher.published == 2 and publisher.running
