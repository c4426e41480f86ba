"""ParadexRest against the local simulator (signature checks on): every endpoint, pagination, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from shared.config import CommonSettings
from shared.errors import AuthError, VenueError
from shared.paradex.rest import ParadexRest, RequestTiming, build_order
from shared.paradex.rest.ratelimit import AUTH, ORDERS_WRITE, PRIVATE_READ, PUBLIC
from shared.paradex.signer import OrderSigner
from shared.settings import Secret, load
from tests.simfixture import SimHandle

BTC = "BTC-USD-PERP"
OTHER_KEY = "0x1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcd"


@pytest.fixture
async def rest(simulator: SimHandle) -> AsyncIterator[ParadexRest]:
    async with ParadexRest(simulator.rest_url, signer=simulator.signer) as client:
        yield client


async def _rest_order(rest: ParadexRest, sim: SimHandle, price: str = "50000",
                      client_id: str | None = None) -> str:
    """A resting BUY placed through the client and run by the venue; its id."""
    order = await rest.place_order(market=BTC, side="BUY", type="LIMIT", size="0.01", price=price,
                                   client_id=client_id)
    sim.venue.process_now()
    return order.id


async def test_public_endpoints_decode_into_models(rest: ParadexRest, simulator: SimHandle) -> None:
    config = await rest.system_config()
    assert config.starknet_chain_id == simulator.chain_id
    assert (await rest.system_time()).server_time_ms > 0
    assert (await rest.system_state()).status == "ok"
    symbols = {m.symbol for m in await rest.markets()}
    assert BTC in symbols
    assert [m.symbol for m in await rest.markets(BTC)] == [BTC]
    assert {s.symbol for s in await rest.markets_summary()} == symbols
    book = await rest.orderbook(BTC, depth=3)
    bid, ask = simulator.best(BTC)
    assert book.market == BTC and len(book.bids) == 3 and book.bids[0][0] == bid and book.asks[0][0] == ask
    bbo = await rest.bbo(BTC)
    assert (bbo.bid_value, bbo.ask_value) == (bid, ask)


async def test_unknown_market_is_a_venue_error_with_code(rest: ParadexRest) -> None:
    with pytest.raises(VenueError) as info:
        await rest.markets("NOPE-USD-PERP")
    assert (info.value.status, info.value.code) == (404, "MARKET_NOT_FOUND")


async def test_auth_returns_a_jwt_the_venue_accepts(rest: ParadexRest) -> None:
    token = await rest.auth()
    assert token.count(".") == 2
    assert await rest.account()  # private request through the JwtManager
    assert rest.jwt.fetches == 1


async def test_connect_from_settings_reads_chain_id_and_signs(simulator: SimHandle) -> None:
    settings = load(CommonSettings, env={}, paradex_rest_url=simulator.rest_url,
                    paradex_account=simulator.account,
                    paradex_l2_private_key=Secret(simulator.private_key))
    async with await ParadexRest.connect(settings) as rest:
        assert rest.signer is not None and rest.signer.chain_id == simulator.chain_id
        order = await rest.place_order(market=BTC, side="BUY", type="LIMIT", size="0.01", price="50000")
        assert order.status == "NEW"


async def test_order_lifecycle_create_read_modify_cancel(rest: ParadexRest, simulator: SimHandle) -> None:
    order = await rest.place_order(market=BTC, side="BUY", type="LIMIT", size="0.01", price="50000",
                                   client_id="life-1", instruction="POST_ONLY")
    assert (order.status, order.client_id, order.size, order.price) == ("NEW", "life-1", Decimal("0.01"),
                                                                        Decimal("50000"))
    simulator.venue.process_now()
    assert [o.id for o in await rest.open_orders(BTC)] == [order.id]
    assert (await rest.order(order.id)).status == "OPEN"
    assert (await rest.order_by_client_id("life-1")).id == order.id

    modified = await rest.amend_order(order_id=order.id, market=BTC, side="BUY", type="LIMIT", size="0.02",
                                      price="50001")
    assert modified.id == order.id
    simulator.venue.process_now()
    now = await rest.order(order.id)
    assert (now.size, now.price) == (Decimal("0.02"), Decimal("50001"))

    await rest.cancel_order(order.id)
    simulator.venue.process_now()
    assert await rest.open_orders(BTC) == []
    closed = [o for o in await rest.all_orders_history(market=BTC) if o.id == order.id]
    assert closed[0].status == "CLOSED"


async def test_cancel_by_client_id_all_and_batch(rest: ParadexRest, simulator: SimHandle) -> None:
    a = await _rest_order(rest, simulator, "50000", client_id="a")
    b = await _rest_order(rest, simulator, "50001", client_id="b")
    c = await _rest_order(rest, simulator, "50002", client_id="c")
    await rest.cancel_order_by_client_id("a", market=BTC)
    simulator.venue.process_now()
    assert {o.id for o in await rest.open_orders()} == {b, c}

    result = await rest.cancel_orders(order_ids=[b, a, "999"], client_order_ids=["c"])
    status = {(r.id or r.client_id): r.status for r in result.results}
    assert status[b] == "QUEUED_FOR_CANCELLATION" and status[a] == "ALREADY_CLOSED"
    assert status["999"] == "NOT_FOUND"
    assert any(r.status == "QUEUED_FOR_CANCELLATION" and (r.id == c or r.client_id == "c")
               for r in result.results)
    simulator.venue.process_now()
    assert await rest.open_orders() == []

    await _rest_order(rest, simulator, "50000")
    await _rest_order(rest, simulator, "50001")
    await rest.cancel_all_orders(BTC)
    simulator.venue.process_now()
    assert await rest.open_orders(BTC) == []


async def test_batch_create_returns_each_order(rest: ParadexRest, simulator: SimHandle) -> None:
    assert rest.signer is not None
    orders = [build_order(rest.signer, market=BTC, side="BUY", type="LIMIT", size="0.01", price=str(p),
                          now_ms=rest.now_ms(), client_id=f"batch-{p}") for p in (50000, 50001, 50002)]
    result = await rest.create_orders(orders)
    assert result.errors == []
    assert [o.client_id for o in result.orders] == ["batch-50000", "batch-50001", "batch-50002"]


async def test_positions_account_balance_and_fills_after_a_trade(rest: ParadexRest,
                                                                 simulator: SimHandle) -> None:
    await rest.place_order(market=BTC, side="BUY", type="MARKET", size="0.01", instruction="IOC")
    simulator.venue.process_now()
    positions = [p for p in await rest.positions() if p.market == BTC]
    assert positions and positions[0].size != 0 and positions[0].side == "LONG"
    assert (await rest.account()).account == simulator.account
    assert any(b.token == "USDC" for b in await rest.balance())
    fills = await rest.all_fills(market=BTC)
    assert fills and sum(f.size for f in fills) == Decimal("0.01")


async def test_history_of_250_orders_pages_through_all_with_page_size_50(rest: ParadexRest,
                                                                         simulator: SimHandle) -> None:
    assert rest.signer is not None
    for batch in range(25):  # IOC far below the book: each order closes unfilled, history keeps it
        orders = [build_order(rest.signer, market=BTC, side="BUY", type="LIMIT", size="0.01", price="1000",
                              now_ms=rest.now_ms(), instruction="IOC", client_id=f"h-{batch}-{i}")
                  for i in range(10)]
        assert (await rest.create_orders(orders)).errors == []
    simulator.venue.process_now()
    pages = []
    async for order in rest.iter_orders_history(market=BTC, page_size=50):
        pages.append(order)
    assert len(pages) == 250 and len({o.id for o in pages}) == 250
    assert {o.client_id for o in pages} == {f"h-{b}-{i}" for b in range(25) for i in range(10)}
    first = await rest.orders_history(market=BTC, page_size=50)
    assert len(first.results) == 50 and first.next
    collected = await rest.all_orders_history(market=BTC, page_size=50)
    assert [o.id for o in collected] == [o.id for o in pages]


async def test_fills_paginate_across_pages(rest: ParadexRest, simulator: SimHandle) -> None:
    for _ in range(12):
        await rest.place_order(market=BTC, side="BUY", type="MARKET", size="0.001", instruction="IOC")
        simulator.venue.process_now()
    fills = [f async for f in rest.iter_fills(market=BTC, page_size=5)]
    assert len(fills) >= 12 and len({f.id for f in fills}) == len(fills)


async def test_order_on_closed_order_and_unknown_ids_give_typed_errors(rest: ParadexRest,
                                                                      simulator: SimHandle) -> None:
    order_id = await _rest_order(rest, simulator)
    await rest.cancel_order(order_id)
    simulator.venue.process_now()
    with pytest.raises(VenueError) as closed:
        await rest.cancel_order(order_id)
    assert (closed.value.status, closed.value.code) == (400, "ORDER_IS_CLOSED")
    with pytest.raises(VenueError) as missing:
        await rest.order("1234567")
    assert missing.value.code == "ORDER_ID_NOT_FOUND"
    with pytest.raises(VenueError) as missing_cancel:
        await rest.cancel_order("1234567")
    assert missing_cancel.value.code == "ORDER_ID_NOT_FOUND"


async def test_duplicated_client_id_is_rejected(rest: ParadexRest, simulator: SimHandle) -> None:
    await _rest_order(rest, simulator, client_id="dup")
    with pytest.raises(VenueError) as info:
        await rest.place_order(market=BTC, side="BUY", type="LIMIT", size="0.01", price="50000",
                               client_id="dup")
    assert (info.value.status, info.value.code) == (400, "DUPLICATED_CLIENT_ID")


async def test_order_signed_with_a_wrong_key_is_invalid_order_signature(rest: ParadexRest,
                                                                        simulator: SimHandle) -> None:
    wrong = OrderSigner(OTHER_KEY, simulator.account, simulator.chain_id)
    order = build_order(wrong, market=BTC, side="BUY", type="LIMIT", size="0.01", price="50000",
                        now_ms=rest.now_ms())
    with pytest.raises(VenueError) as info:
        await rest.create_order(order)
    assert info.value.code == "INVALID_ORDER_SIGNATURE"
    simulator.venue.process_now()
    assert await rest.open_orders() == []


async def test_auth_with_a_wrong_key_raises_auth_error_once(simulator: SimHandle) -> None:
    wrong = OrderSigner(OTHER_KEY, simulator.account, simulator.chain_id)
    async with ParadexRest(simulator.rest_url, signer=wrong) as rest:
        with pytest.raises(AuthError) as info:
            await rest.positions()
        assert info.value.code == "STARKNET_SIGNATURE_VERIFICATION_FAILED"
        assert rest.jwt.fetches == 1


async def test_rate_limit_headers_are_kept_per_endpoint_family(rest: ParadexRest) -> None:
    await rest.bbo(BTC)
    await rest.positions()
    await rest.place_order(market=BTC, side="BUY", type="LIMIT", size="0.01", price="50000")
    limits = rest.rate_limits
    assert set(limits) == {PUBLIC, AUTH, PRIVATE_READ, ORDERS_WRITE}
    assert limits[PUBLIC].limit == 1500 and limits[PUBLIC].remaining is not None
    assert limits[PRIVATE_READ].limit == 120 and limits[ORDERS_WRITE].limit == 800
    first = limits[PRIVATE_READ]
    assert first.remaining is not None and 0 <= first.remaining < 120
    await rest.positions()
    assert rest.rate_limits[PRIVATE_READ].observed_at > first.observed_at


async def test_hooks_see_each_request_with_time_to_wire(simulator: SimHandle) -> None:
    started: list[tuple[str, str, int]] = []
    timings: list[RequestTiming] = []
    async with ParadexRest(simulator.rest_url, signer=simulator.signer,
                           on_request=lambda m, p, a: started.append((m, p, a)),
                           on_response=timings.append) as rest:
        await rest.place_order(market=BTC, side="BUY", type="LIMIT", size="0.01", price="50000")
    assert started == [("POST", "/auth", 0), ("POST", "/orders", 0)]
    post = timings[-1]
    assert (post.method, post.path, post.family, post.status, post.error) == ("POST", "/orders",
                                                                              ORDERS_WRITE, 201, None)
    assert post.wire_s is not None and 0 <= post.wire_s <= post.total_s
