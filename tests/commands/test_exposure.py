"""The exposure follower against real Redis, fed by the state service's own writer: after one
snapshot, changes arrive through the change stream only (no per-order reads)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from services.commands.core.exposure import ExposureBook
from services.commands.exposure import ExposureFollower
from services.commands.store import CommandStore
from services.state.core.model import Change, OrderState
from services.state.encode import encode_change
from services.state.redis_writer import RedisWriter
from shared.rediskeys import Keys
from tests.commands.stack import until

M = "BTC-USD-PERP"


def order(key: str, cid: str, status: str = "OPEN", remaining: str = "1", oid: str = "") -> Change:
    return Change(
        "order",
        key,
        OrderState(
            key=key,
            id=oid,
            client_id=cid,
            market=M,
            side="BUY",
            size=Decimal(1),
            remaining_size=Decimal(remaining),
            status=status,
        ),
    )


class Counting:
    """The follower's Redis client, counting the commands it issues by name."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        self.calls[name] = self.calls.get(name, 0) + 1
        return getattr(self.redis, name)


@pytest.fixture
async def setup(redis_client: Any, unique: str) -> Any:
    keys = Keys(f"0xfollow{unique}")
    writer = RedisWriter(redis_client, keys)
    book = ExposureBook()
    counting = Counting(redis_client)
    store = CommandStore(counting, keys, 60)
    follower = ExposureFollower(counting, keys, book, store, [], {}, block_s=0.05, resync_s=3600)
    return counting, writer, book, follower


async def test_snapshot_then_changes_through_the_stream_only(redis_client: Any, setup: Any) -> None:
    counting, writer, book, follower = setup
    await writer.write_account(
        [
            encode_change("account", 1, order("1", "a", oid="1")),
            encode_change("account", 1, order("2", "b", "CLOSED", oid="2")),
        ],
        1,
    )
    await follower.snapshot()
    assert set(book.exposure.orders) == {"a"} and book.by_order_id == {"1": "a"}
    task = asyncio.ensure_future(follower.run())
    try:
        counting.calls.clear()
        changes = [order(f"client:c{i}", f"c{i}") for i in range(50)]
        await writer.write_account([encode_change("account", 2, c) for c in changes], 2)
        await until(lambda: len(book.exposure.orders) == 51, 3.0, "50 new orders seen")
        await writer.write_account([encode_change("account", 3, order("1", "a", "OPEN", "0.25", "1"))], 3)
        await until(lambda: book.exposure.orders["a"].remaining == Decimal("0.25"), 3.0, "a partial fill")
        await writer.write_account(
            [
                encode_change("account", 4, order("1", "a", "CLOSED", "0", "1")),
                encode_change("account", 4, Change("order", "client:c0", None)),
            ],
            4,
        )
        await until(
            lambda: "a" not in book.exposure.orders and "c0" not in book.exposure.orders,
            3.0,
            "closed and deleted orders gone",
        )
        # nothing re-read per order: only XREADs and one MGET of the new orders' owners
        assert set(counting.calls) <= {"xread", "mget"} and counting.calls.get("mget", 0) <= 2, counting.calls
        assert follower.snapshots == 1 and follower.healthy
    finally:
        follower.stopped = True
        await asyncio.wait_for(task, 5)


async def test_a_client_key_relinked_to_the_exchange_id_stays_one_live_order(
    redis_client: Any, setup: Any
) -> None:
    _, writer, book, follower = setup
    await follower.snapshot()
    await writer.write_account([encode_change("account", 1, order("client:x", "x"))], 1)
    await writer.write_account(
        [
            encode_change("account", 2, order("77", "x", oid="77")),
            encode_change("account", 2, Change("order", "client:x", None)),
        ],
        2,
    )
    for _ in range(3):
        await follower.follow_once()
    assert list(book.exposure.orders) == ["x"] and book.by_order_id == {"77": "x"}
