"""Book resync requests on ``pdx.feed.resync``: the feed resubscribes the named books (fresh
``s`` snapshot on the bus), at most once a second per market, ignores markets it does not follow,
answers with an ack and counts every outcome on /metrics."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import pytest

from services.feed.resync import RateLimiter
from shared.bus import BookEvent, subjects
from shared.bus.requests import (
    BookResyncAck,
    BookResyncRequest,
    decode_resync,
    decode_resync_ack,
    encode_resync,
)
from tests.feed.feedkit import FeedFactory, M, Running, connected, start_feed
from tests.feed.helpers import until
from tests.simfixture import SimHandle

__all__ = ["start_feed"]  # the fixture, used by name


def snapshots(feed: Running) -> list[BookEvent]:
    return [e for e in feed.tap.of(BookEvent) if e.book.update_type == "s"]


def test_resync_request_round_trips_and_rejects_a_missing_field() -> None:
    req = BookResyncRequest(markets=("BTC-USD-PERP", "ETH-USD-PERP"), reason="state_start")
    assert decode_resync(encode_resync(req)) == req
    with pytest.raises(msgspec.ValidationError):
        decode_resync(b'{"markets": ["BTC-USD-PERP"]}')


def test_rate_limiter_passes_a_key_once_per_interval_and_keys_independently() -> None:
    now = [100.0]
    limiter = RateLimiter(1.0, clock=lambda: now[0])
    assert limiter.split(["A", "B", "A"]) == (["A", "B"], [])
    now[0] += 0.5
    assert limiter.split(["A", "C"]) == (["C"], ["A"])
    now[0] += 0.6
    assert limiter.split(["A", "C"]) == (["A"], ["C"])


async def test_resync_request_resubscribes_the_book_and_acks(
        simulator: SimHandle, start_feed: FeedFactory, nc: Any) -> None:
    feed = await start_feed(simulator)
    await connected(feed)
    await until(lambda: len(snapshots(feed)) == 1, what="the subscription's snapshot")
    req = BookResyncRequest(markets=(M, "NOPE-USD-PERP"), reason="test")
    reply = await nc.request(subjects.FEED_BOOK_RESYNC, encode_resync(req), timeout=2.0)
    ack = decode_resync_ack(reply.data)
    assert ack == BookResyncAck(resubscribed=(M,), unknown=("NOPE-USD-PERP",), connected=True)
    await until(lambda: len(snapshots(feed)) == 2, what="a fresh snapshot after the resync")
    await until(lambda: feed.service.protocol.books.book(M).valid, what="the feed's book valid again")
    fresh = snapshots(feed)[-1]
    bid, ask = simulator.best()
    assert fresh.book.market == M and fresh.conn_epoch == 1  # same connection: no reconnect
    assert max(lv.price for lv in fresh.book.inserts if lv.side == "BUY") == bid
    assert min(lv.price for lv in fresh.book.inserts if lv.side == "SELL") == ask

    # a second request within the interval is rate-limited: no third snapshot
    reply = await nc.request(subjects.FEED_BOOK_RESYNC, encode_resync(req), timeout=2.0)
    assert decode_resync_ack(reply.data).rate_limited == (M,)
    assert feed.service.http is not None
    url = f"http://127.0.0.1:{feed.service.http.port}/metrics"
    async with httpx.AsyncClient() as client:
        text = (await client.get(url)).text
    assert 'feed_book_resyncs_total{outcome="resubscribed"} 1.0' in text
    assert 'feed_book_resyncs_total{outcome="rate_limited"} 1.0' in text
    assert 'feed_book_resyncs_total{outcome="unknown"} 2.0' in text
    assert len(snapshots(feed)) == 2
    assert feed.epoch == 1


async def test_resync_without_reply_subject_and_garbage_are_handled(
        simulator: SimHandle, start_feed: FeedFactory, nc: Any) -> None:
    feed = await start_feed(simulator)
    await connected(feed)
    await until(lambda: len(snapshots(feed)) == 1, what="the subscription's snapshot")
    await nc.publish(subjects.FEED_BOOK_RESYNC, b"not json")
    await nc.publish(subjects.FEED_BOOK_RESYNC,
                     encode_resync(BookResyncRequest(markets=(M,), reason="fire_and_forget")))
    await until(lambda: len(snapshots(feed)) == 2, what="a fresh snapshot after the resync")
    count = feed.service.metrics.book_resyncs
    assert count.labels("bad_request")._value.get() == 1
    assert feed.service.status.connected and feed.epoch == 1
