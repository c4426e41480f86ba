"""The synthetic market: ladder, flow, determinism and book integrity over many steps."""

from __future__ import annotations

import random
from decimal import Decimal

from services.simulator.engine import (
    BookDelta,
    Exchange,
    FillEvent,
    FundingUpdate,
    MarketSummaryUpdate,
    OrderUpdate,
    Side,
    Status,
    TradeEvent,
    default_markets,
)
from services.simulator.engine.synthetic import SyntheticConfig, SyntheticMarket

from .test_engine_helpers import BTC, apply_frame, engine_book, limit


def make(seed: int = 7) -> tuple[Exchange, SyntheticMarket]:
    ex = Exchange(default_markets())
    return ex, SyntheticMarket(ex, random.Random(seed), SyntheticConfig(taker_probability=0.3))


def test_first_step_builds_a_ladder_on_both_sides_around_the_fair_price() -> None:
    ex, sm = make()
    sm.step(1_000)
    snap = ex.orderbook(BTC, depth=None)
    bids = [lv for lv in snap.inserts if lv.side is Side.BUY]
    asks = [lv for lv in snap.inserts if lv.side is Side.SELL]
    assert len(bids) >= 9 and len(asks) >= 9
    fair = sm.fair_price(BTC)
    assert bids[0].price < fair < asks[0].price


def test_same_seed_gives_the_same_events() -> None:
    runs = []
    for _ in range(2):
        _ex, sm = make(seed=42)
        runs.append([e for t in range(300) for e in sm.step(1_000 + t)])
    assert runs[0] == runs[1] and len(runs[0]) > 300


def test_many_steps_keep_book_uncrossed_contiguous_and_replayable() -> None:
    ex, sm = make()
    replay: dict[tuple[Side, Decimal], Decimal] = {}
    seq = 0
    kinds: set[str] = set()
    for t in range(2_000):
        for e in sm.step(1_000 + t):
            kinds.add(e.kind)
            if isinstance(e, BookDelta) and e.market == BTC:
                assert e.seq_no == seq + 1
                seq = e.seq_no
                apply_frame(replay, e)
        assert not ex.books[BTC].is_crossed()
    assert replay == engine_book(ex)
    assert {"book", "bbo", "trade", "markets_summary", "funding_data"} <= kinds
    assert "order" not in kinds and "fill" not in kinds  # internal accounts are silent


def test_user_resting_order_near_the_touch_gets_filled_by_taker_flow() -> None:
    ex, sm = make()
    sm.step(1_000)
    bid = ex.bbo(BTC).bid
    assert bid is not None
    view = ex.submit_order("0xuser", limit("BUY", "0.01", str(bid + Decimal("0.1"))), 1_001)
    events = ex.process(1_002)
    for t in range(5_000):
        events += sm.step(1_003 + t)
        if ex.get_order("0xuser", view.id).status is Status.CLOSED:
            break
    order = ex.get_order("0xuser", view.id)
    assert order.status is Status.CLOSED and order.remaining_size == 0
    fills = [e.fill for e in events if isinstance(e, FillEvent)]
    assert [f.liquidity for f in fills] == ["MAKER"] and fills[0].account == "0xuser"
    assert any(isinstance(e, TradeEvent) for e in events)
    assert [e.order.status for e in events if isinstance(e, OrderUpdate)][-1] is Status.CLOSED
    assert ex.positions("0xuser")[0].size == Decimal("0.01")


def test_summary_and_funding_are_emitted_on_their_intervals() -> None:
    _ex, sm = make()
    summaries: list[MarketSummaryUpdate] = []
    funding: list[FundingUpdate] = []
    for t in range(0, 12_000, 100):
        for e in sm.step(1_000 + t):
            if isinstance(e, MarketSummaryUpdate) and e.symbol == BTC:
                assert e.underlying_price == sm.fair_price(BTC)
                summaries.append(e)
            elif isinstance(e, FundingUpdate) and e.market == BTC:
                funding.append(e)
    assert 11 <= len(summaries) <= 13 and 2 <= len(funding) <= 4


def test_quote_now_is_run_now_of_a_post_only_limit_quote() -> None:
    """The market maker's fast path: the same order, events and book as run_now with a request."""
    from services.simulator.engine.exchange import OrderRequest
    from services.simulator.engine.synthetic import MM_ACCOUNT

    plain, fast = make()[0], make()[0]
    for ex in (plain, fast):
        ex.account_state(MM_ACCOUNT, internal=True)
        ex.submit_order("0xuser", limit("BUY", "0.01", "64990"), 1_000)  # queued: its NEW ack drains first
    quotes = [(Side.BUY, "64999.9", "0.5"), (Side.SELL, "65000.1", "0.25"), (Side.BUY, "64999.9", "0.001")]
    for t, (side, price, size) in enumerate(quotes):
        request = OrderRequest(market=BTC, side=side, type="LIMIT", size=size, price=price,
                               instruction="POST_ONLY")
        view, expected = plain.run_now(MM_ACCOUNT, request, 1_001 + t)
        order_id, events = fast.quote_now(MM_ACCOUNT, BTC, side, Decimal(price), Decimal(size), 1_001 + t)
        assert (order_id, events) == (view.id, expected)
        assert plain.order_view(plain.orders[view.id]) == fast.order_view(fast.orders[order_id])
    assert engine_book(plain) == engine_book(fast)
    assert plain.process(1_010) == fast.process(1_010)



def test_quote_now_refuses_a_notional_below_the_minimum_as_run_now_does() -> None:
    from services.simulator.engine import EngineError
    from services.simulator.engine.exchange import OrderRequest
    from services.simulator.engine.synthetic import MM_ACCOUNT

    ex = make()[0]
    ex.account_state(MM_ACCOUNT, internal=True)
    request = OrderRequest(market=BTC, side="BUY", type="LIMIT", size="0.001", price="5000",
                           instruction="POST_ONLY")
    codes: list[str] = []
    for call in (lambda: ex.run_now(MM_ACCOUNT, request, 1_000),
                 lambda: ex.quote_now(MM_ACCOUNT, BTC, Side.BUY, Decimal("5000"), Decimal("0.001"), 1_000)):
        try:
            call()
        except EngineError as exc:
            codes.append(exc.code)
    assert len(codes) == 2 and codes[0] == codes[1]
    assert not ex.orders and ex.books[BTC].bids.best() is None
