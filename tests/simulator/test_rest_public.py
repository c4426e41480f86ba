"""Public REST endpoints of the simulator over a real socket: happy paths and error bodies."""

from __future__ import annotations

from decimal import Decimal

from shared.paradex.models import Bbo, MarketSummary, OrderBook, decode
from shared.paradex.models.reference import Market, SystemConfig, SystemState, SystemTime
from shared.paradex.models.rest import ApiError, OnboardingCheck, Results
from tests.simfixture import SimFactory, SimHandle


async def test_system_config_carries_the_configured_chain_id(simulator_factory: SimFactory) -> None:
    sim = await simulator_factory(chain_id="PRIVATE_SN_TEST_CHAIN")
    async with sim.client() as c:
        resp = await c.get("/system/config")
    assert resp.status_code == 200
    assert decode(SystemConfig, resp.content).starknet_chain_id == "PRIVATE_SN_TEST_CHAIN"


async def test_system_time_is_a_string_of_current_ms(simulator: SimHandle) -> None:
    async with simulator.client() as c:
        resp = await c.get("/system/time")
    server_ms = decode(SystemTime, resp.content).server_time_ms
    assert abs(server_ms - simulator.venue.now_ms()) < 5_000


async def test_system_state_follows_the_venue_status(simulator: SimHandle) -> None:
    async with simulator.client() as c:
        assert decode(SystemState, (await c.get("/system/state")).content).status == "ok"
        simulator.venue.set_system_status("cancel_only")
        assert decode(SystemState, (await c.get("/system/state")).content).status == "cancel_only"


async def test_markets_lists_configured_markets_and_filters(simulator: SimHandle) -> None:
    async with simulator.client() as c:
        all_markets = decode(Results[Market], (await c.get("/markets")).content).results
        one = decode(Results[Market], (await c.get("/markets", params={"market": "ETH-USD-PERP"})).content)
        missing = await c.get("/markets", params={"market": "NOPE-USD-PERP"})
    assert {m.symbol for m in all_markets} == set(simulator.exchange.markets)
    assert [m.symbol for m in one.results] == ["ETH-USD-PERP"]
    assert missing.status_code == 404
    assert decode(ApiError, missing.content).error == "MARKET_NOT_FOUND"


async def test_markets_summary_requires_market_and_accepts_all(simulator: SimHandle) -> None:
    async with simulator.client() as c:
        every = decode(Results[MarketSummary], (await c.get("/markets/summary?market=ALL")).content)
        btc = decode(Results[MarketSummary], (await c.get("/markets/summary?market=BTC-USD-PERP")).content)
        missing = await c.get("/markets/summary")
    assert {s.symbol for s in every.results} == set(simulator.exchange.markets)
    assert [s.symbol for s in btc.results] == ["BTC-USD-PERP"]
    assert missing.status_code == 400 and missing.json()["error"] == "VALIDATION_ERROR"


async def test_orderbook_returns_depth_levels_at_engine_seq(simulator: SimHandle) -> None:
    async with simulator.client() as c:
        resp = await c.get("/orderbook/BTC-USD-PERP", params={"depth": 3})
        unknown = await c.get("/orderbook/NOPE-USD-PERP")
    book = decode(OrderBook, resp.content)
    assert len(book.bids) == 3 and len(book.asks) == 3
    assert book.seq_no == simulator.exchange.books["BTC-USD-PERP"].seq_no
    bid, ask = simulator.best()
    assert book.bids[0][0] == bid and book.asks[0][0] == ask
    assert book.best_bid_api == [bid, book.bids[0][1]]
    assert unknown.status_code == 404 and unknown.json()["error"] == "MARKET_NOT_FOUND"


async def test_bbo_matches_the_engine_top_of_book(simulator: SimHandle) -> None:
    async with simulator.client() as c:
        bbo = decode(Bbo, (await c.get("/bbo/BTC-USD-PERP")).content)
    assert (bbo.bid_value, bbo.ask_value) == simulator.best()
    assert (bbo.bid_size_value or Decimal(0)) > Decimal(0)


async def test_trades_paginate_newest_first_with_cursors(simulator: SimHandle) -> None:
    sim = simulator
    async with sim.authed() as c:
        for _ in range(5):  # each market buy lifts the ask: one public trade per order
            body = sim.order("BUY", "0.001", "0", type="MARKET", instruction="IOC")
            assert (await c.post("/orders", json=body)).status_code == 201
            sim.venue.process_now()
        first = (await c.get("/trades", params={"market": "BTC-USD-PERP", "page_size": 2})).json()
        second = (await c.get("/trades", params={"market": "BTC-USD-PERP", "cursor": first["next"],
                                                 "page_size": 2})).json()
        back = (await c.get("/trades", params={"market": "BTC-USD-PERP", "cursor": second["prev"],
                                               "page_size": 2})).json()
        everything = (await c.get("/trades", params={"market": "BTC-USD-PERP"})).json()
    assert len(everything["results"]) == 5 and everything["next"] is None and everything["prev"] is None
    ids = [t["id"] for t in everything["results"]]
    assert ids == sorted(ids, reverse=True)
    assert [t["id"] for t in first["results"]] == ids[:2] and first["prev"] is None
    assert [t["id"] for t in second["results"]] == ids[2:4]
    assert [t["id"] for t in back["results"]] == ids[:2]


async def test_trades_with_a_foreign_cursor_is_a_parameter_error(simulator: SimHandle) -> None:
    async with simulator.client() as c:
        resp = await c.get("/trades", params={"market": "BTC-USD-PERP", "cursor": "garbage!"})
    assert resp.status_code == 400 and resp.json()["error"] == "INVALID_REQUEST_PARAMETER"


async def test_onboarding_check_knows_the_registered_key(simulator: SimHandle) -> None:
    async with simulator.client() as c:
        known = await c.get("/onboarding", params={"public_key": hex(simulator.signer.public_key),
                                                   "account_signer_type": "starknet"})
        unknown = await c.get("/onboarding", params={"public_key": "0x1234"})
    check = decode(OnboardingCheck, known.content)
    assert check.exists and check.address == simulator.account
    assert decode(OnboardingCheck, unknown.content).exists is False


async def test_unknown_path_answers_venue_not_found_body(simulator: SimHandle) -> None:
    async with simulator.client() as c:
        resp = await c.get("/no/such/thing")
    assert resp.status_code == 404
    message = "no such endpoint /v1/no/such/thing"
    assert resp.json() == {"error": "NOT_FOUND", "message": message, "data": None}
