"""Klines, leverage, funding history, impact price, account info/history/summary, tradebusts."""

from __future__ import annotations

import time
from decimal import Decimal

from tests.simfixture import SimHandle


async def test_klines_are_ohlcv_of_the_trades(simulator: SimHandle) -> None:
    sim = simulator
    _, ask = sim.best()
    async with sim.authed() as c:
        for size in ("0.01", "0.02"):
            await c.post("/orders", json=sim.order("BUY", size, str(ask + 100)))
            sim.venue.process_now()
        trades = [t for t in sim.exchange.recent_trades("BTC-USD-PERP", 1000)]
        now = int(time.time() * 1000)
        resp = await c.get("/markets/klines", params={"symbol": "BTC-USD-PERP", "resolution": "60",
                                                      "start_at": 0, "end_at": now})
    candles = resp.json()["results"]
    prices = [float(t.price) for t in reversed(trades)]
    assert resp.status_code == 200 and len(candles) == 1
    start, o, h, low, close, volume = candles[0]
    assert start % 3_600_000 == 0 and (o, h, low, close) == (prices[0], max(prices), min(prices), prices[-1])
    assert Decimal(str(volume)) == sum((t.size for t in trades), Decimal(0)) == Decimal("0.03")


async def test_klines_refuse_bad_parameters_with_400(simulator: SimHandle) -> None:
    async with simulator.client() as c:
        bad_res = await c.get("/markets/klines", params={"symbol": "BTC-USD-PERP", "resolution": "7",
                                                         "start_at": 0, "end_at": 1})
        no_end = await c.get("/markets/klines", params={"symbol": "BTC-USD-PERP", "resolution": "1",
                                                        "start_at": 0})
        unknown = await c.get("/markets/klines", params={"symbol": "NOPE", "resolution": "1",
                                                         "start_at": 0, "end_at": 1})
    assert (bad_res.status_code, bad_res.json()["error"]) == (400, "INVALID_REQUEST_PARAMETER")
    assert (no_end.status_code, no_end.json()["error"]) == (400, "VALIDATION_ERROR")
    assert unknown.json()["error"] == "MARKET_NOT_FOUND"


async def test_leverage_is_set_and_read_back_within_the_market_maximum(simulator: SimHandle) -> None:
    async with simulator.authed() as c:
        default = (await c.get("/account/margin", params={"market": "BTC-USD-PERP"})).json()
        set_ok = await c.post("/account/margin/BTC-USD-PERP", json={"leverage": 5, "margin_type": "CROSS"})
        too_high = await c.post("/account/margin/BTC-USD-PERP", json={"leverage": 21, "margin_type": "CROSS"})
        isolated = await c.post("/account/margin/BTC-USD-PERP",
                                json={"leverage": 5, "margin_type": "ISOLATED"})
        after = (await c.get("/account/margin", params={"market": "BTC-USD-PERP"})).json()
        other = (await c.get("/account/margin", params={"market": "ETH-USD-PERP"})).json()
    assert default["configs"][0]["leverage"] == 20  # 1 / imf_base
    assert set_ok.status_code == 200 and set_ok.json()["leverage"] == 5
    assert too_high.status_code == 400 and "between 1 and 20" in too_high.json()["message"]
    assert isolated.status_code == 400
    assert after["configs"][0] == {"market": "BTC-USD-PERP", "leverage": 5, "margin_type": "CROSS",
                                   "isolated_margin_leverage": 5}
    assert other["configs"][0]["leverage"] == 20


async def test_funding_data_history_pages_newest_first(simulator: SimHandle) -> None:
    sim = simulator
    ex = sim.exchange
    before = len(sim.venue.history.funding_data("BTC-USD-PERP", None, None))  # the seed step's
    for _ in range(5):
        ex.accrue_funding("BTC-USD-PERP", 3_600_000)
        sim.venue.publish([ex.funding_data("BTC-USD-PERP")])
    async with sim.client() as c:
        first = (await c.get("/funding/data", params={"market": "BTC-USD-PERP", "page_size": 3})).json()
        second = (await c.get("/funding/data", params={"market": "BTC-USD-PERP", "page_size": 3,
                                                       "cursor": first["next"]})).json()
    indexes = [Decimal(r["funding_index"]) for r in first["results"] + second["results"]]
    assert len(indexes) == 5 + before and second["next"] is None
    assert indexes == sorted(indexes, reverse=(indexes[0] > indexes[-1]))
    assert all(-Decimal(r["funding_index"]).as_tuple().exponent <= 8 for r in first["results"])  # type: ignore[operator]


async def test_impact_price_walks_the_book(simulator: SimHandle) -> None:
    sim = simulator
    asks = sim.exchange.books["BTC-USD-PERP"].levels(sim.exchange.books["BTC-USD-PERP"].asks.side)
    size = asks[0].size + asks[1].size / 2
    expected = (asks[0].size * asks[0].price + asks[1].size / 2 * asks[1].price) / size
    async with sim.client() as c:
        buy = (await c.get("/orderbook/BTC-USD-PERP/impact-price", params={"size": str(size)})).json()
        huge = await c.get("/orderbook/BTC-USD-PERP/impact-price", params={"size": "100000"})
    assert abs(Decimal(buy["impact_price"]) - expected) <= Decimal("0.1") and buy["side"] == "BUY"
    assert huge.status_code == 400 and "liquidity" in huge.json()["message"]


async def test_account_info_history_summary_and_tradebusts(simulator: SimHandle) -> None:
    sim = simulator
    _, ask = sim.best()
    async with sim.authed() as c:
        await c.post("/orders", json=sim.order("BUY", "0.01", str(ask)))
        sim.venue.process_now()
        fill = sim.exchange.list_fills(sim.account)[0]
        sim.venue.publish(sim.exchange.bust_fill(fill.id, sim.venue.now_ms()))
        info = (await c.get("/account/info")).json()["results"][0]
        volume = (await c.get("/account/history", params={"type": "volume"})).json()
        bad = await c.get("/account/history", params={"type": "nope"})
        summary = (await c.get("/account/summary")).json()["results"]
        busts = (await c.get("/tradebusts")).json()["results"]
    assert info["account"] == sim.account and info["public_key"] == hex(sim.signer.public_key)
    assert volume["data"] == [0.0]  # the only fill is busted
    assert bad.status_code == 400
    assert [s["account"] for s in summary] == [sim.account]
    assert [b["busted_fill_id"] for b in busts] == [fill.id]
