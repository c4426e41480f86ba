"""End to end: a state service started AFTER the feed published its subscription snapshot gets a
valid book within seconds (book resync request -> feed resubscribes -> fresh ``s`` frame on core
NATS) that matches the simulator's engine book; so does a state restarted from its checkpoint
(books restored as ``restored_from_checkpoint``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from services.simulator.engine.types import Side
from shared.bus import BookEvent
from shared.rediskeys import Keys
from tests.feed.feedkit import FeedFactory, M, Running, connected, place, start_feed
from tests.feed.helpers import until
from tests.simfixture import SimHandle
from tests.state.test_service_harness import Instance, instance, settings_for, wait_for

__all__ = ["start_feed"]  # the fixture, used by name

DEPTH = 5
Levels = list[tuple[Decimal, Decimal]]


def engine_top(sim: SimHandle) -> tuple[Levels, Levels]:
    """The simulator's own top ``DEPTH`` levels per side, best first."""
    snap = sim.exchange.orderbook(M, DEPTH)
    bids = [(lv.price, lv.size) for lv in snap.inserts if lv.side is Side.BUY]
    asks = [(lv.price, lv.size) for lv in snap.inserts if lv.side is Side.SELL]
    return sorted(bids, reverse=True), sorted(asks)


async def state_book(inst: Instance) -> dict[str, Any] | None:
    resp = await inst.get(f"/v1/book/{M}", depth=DEPTH)
    if resp.status_code != 200:
        return None
    value: dict[str, Any] | None = resp.json()["value"]
    return value


async def matches_engine(inst: Instance, sim: SimHandle) -> bool:
    book = await state_book(inst)
    if book is None or not book["valid"]:
        return False
    bids = [(Decimal(p), Decimal(s)) for p, s in book["bids"]]
    asks = [(Decimal(p), Decimal(s)) for p, s in book["asks"]]
    return (bids, asks) == engine_top(sim)


def snapshots(feed: Running) -> int:
    return sum(1 for e in feed.tap.of(BookEvent) if e.book.update_type == "s")


async def test_state_started_after_the_feed_gets_a_valid_book_matching_the_venue_and_again_after_restore(
        simulator: SimHandle, start_feed: FeedFactory, nats_url: str, redis_url: str, redis_client: Any,
        unique: str) -> None:
    feed = await start_feed(simulator)
    await connected(feed)
    await until(lambda: snapshots(feed) == 1, what="the feed's subscription snapshot")
    bids, asks = engine_top(simulator)
    assert bids and asks  # the seed ladder: something to compare

    settings = settings_for(nats_url, redis_url, simulator.account, paradex_markets=(M,),
                            consumer_name=f"state-resync-{unique}", startup_reconcile=False,
                            book_resync_after_s=2.0)
    await redis_client.delete(Keys(settings.account_token).checkpoint)  # a fresh start, no restore
    async with instance(settings) as inst:
        assert inst.service.restored_seq is None
        await wait_for(lambda: matches_engine(inst, simulator), 5.0, "a valid book equal to the engine's")
        assert snapshots(feed) == 2  # the resubscription's snapshot, on the same connection
        assert feed.epoch == 1
        # deltas keep it right afterwards: more size at the best bid
        (bid, bid_size), _ = bids[0], asks[0]
        await place(simulator, side="BUY", size="0.01", price=str(bid))

        async def bid_grew() -> bool:
            book = await state_book(inst)
            return bool(book and book["bids"] and Decimal(book["bids"][0][1]) == bid_size + Decimal("0.01"))

        await wait_for(bid_grew, 5.0, "the larger best bid in the state")
        assert await matches_engine(inst, simulator)
        await inst.service.checkpoint()

    # restart from the checkpoint: the restored book is invalid until a fresh snapshot arrives
    async with instance(settings) as inst:
        assert inst.service.restored_seq is not None
        await wait_for(lambda: matches_engine(inst, simulator), 5.0, "a valid book after the restore")
        assert snapshots(feed) == 3
        assert inst.service.resync.sent >= 1
