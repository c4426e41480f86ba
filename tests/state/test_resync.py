"""The state asks the feed for fresh book snapshots (``pdx.feed.resync``): every configured
market on start, then any configured market whose book stays invalid past
``book_resync_after_s``, at most once per ``book_resync_min_interval_s``; a valid book stops it."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

from services.state.resync import BookResyncer
from shared.bus import BookEvent, encode_event, subject_for
from shared.bus.requests import BookResyncRequest, decode_resync
from shared.bus.subjects import FEED_BOOK_RESYNC
from shared.paradex.models.market_data import BookLevel, BookUpdate
from tests.state.test_service_harness import instance, settings_for, wait_for


class _B:
    def __init__(self, valid: bool) -> None:
        self.valid = valid


def snapshot(market: str, seq: int = 1) -> BookEvent:
    levels = [BookLevel(side="BUY", price=Decimal("99"), size=Decimal("1")),
              BookLevel(side="SELL", price=Decimal("101"), size=Decimal("2"))]
    book = BookUpdate(seq_no=seq, market=market, last_updated_at=1_700_000_000_000, update_type="s",
                      inserts=levels, updates=[], deletes=[])
    return BookEvent(source="ws", venue_ts_ms=book.last_updated_at, recv_ns=time.time_ns(), conn_epoch=1,
                     book=book)


class Recorder:
    """Collects the resync requests seen on the bus."""

    def __init__(self) -> None:
        self.requests: list[BookResyncRequest] = []

    async def start(self, nc: Any) -> Recorder:
        async def on_msg(msg: Any) -> None:
            self.requests.append(decode_resync(msg.data))

        await nc.subscribe(FEED_BOOK_RESYNC, cb=on_msg)
        await nc.flush()
        return self

    def naming(self, market: str) -> list[BookResyncRequest]:
        return [r for r in self.requests if market in r.markets]


def test_due_waits_after_s_of_invalidity_and_a_valid_book_resets_the_timer() -> None:
    now = [0.0]
    r = BookResyncer(None, ["A", "B"], after_s=2.0, clock=lambda: now[0])
    assert r.due({"A": _B(False)}) == []  # A invalid, B never seen: both timers start
    now[0] = 1.9
    assert r.due({"A": _B(False)}) == []
    now[0] = 2.0
    assert r.due({"A": _B(False)}) == ["A", "B"]
    assert r.due({"A": _B(True), "B": _B(False)}) == ["B"]
    now[0] = 3.0
    assert r.due({"A": _B(False), "B": _B(False)}) == ["B"]  # A's timer restarted at 3.0


async def test_request_is_rate_limited_per_market(nc: Any, unique: str) -> None:
    a, b = f"A{unique}", f"B{unique}"
    rec = await Recorder().start(nc)
    now = [10.0]
    r = BookResyncer(nc, [a, b], min_interval_s=1.0, clock=lambda: now[0])
    assert await r.request([a], "t1") == [a]
    now[0] = 10.5
    assert await r.request([a, b], "t2") == [b]
    now[0] = 11.0
    assert await r.request([a, b], "t3") == [a]
    await wait_for(lambda: _true(len(rec.requests) == 3), 2.0, "three requests on the bus")
    assert [(q.markets, q.reason) for q in rec.requests] == [((a,), "t1"), ((b,), "t2"), ((a,), "t3")]
    assert (r.sent, r.limited) == (3, 2)


async def _true(value: bool) -> bool:
    return value


async def test_state_asks_on_start_and_while_the_book_stays_invalid_then_stops(
        nats_url: str, redis_url: str, nc: Any, unique: str) -> None:
    market = f"T{unique}-USD-PERP"
    rec = await Recorder().start(nc)
    settings = settings_for(nats_url, redis_url, f"0xacc{unique}", paradex_markets=(market,),
                            book_resync_after_s=0.3, book_resync_min_interval_s=0.2,
                            startup_reconcile=False)
    async with instance(settings) as inst:
        await wait_for(lambda: _true(bool(rec.naming(market))), 2.0, "the start request")
        assert rec.naming(market)[0].reason == "state_start"
        # nobody answers: the book stays absent, so the state keeps asking (rate-limited)
        await wait_for(lambda: _true(len(rec.naming(market)) >= 3), 3.0, "repeated requests")
        assert {r.reason for r in rec.naming(market)[1:]} == {"book_invalid"}
        await nc.publish(subject_for(snapshot(market), ""), encode_event(snapshot(market)))

        async def valid() -> bool:
            body = (await inst.get(f"/v1/book/{market}")).json()
            return bool(body.get("value") and body["value"]["valid"])

        await wait_for(valid, 3.0, "a valid book")
        await asyncio.sleep(0.1)
        asked = len(rec.naming(market))
        await asyncio.sleep(1.0)  # > after_s + check period: no more requests for a valid book
        assert len(rec.naming(market)) == asked
        text = (await inst.get("/metrics")).text
        assert f'state_book_resync_requests_total{{outcome="sent"}} {asked}' in text
