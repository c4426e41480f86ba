"""The store's scripts against real Redis: claims (and a retried claim), the index marker, the
shared venue budget and a strategy's rate, refunds, reservations seen across processes."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from services.commands.core.risk import LiveOrder
from services.commands.store import BudgetSpec, CommandStore, IndexMissing, Rate
from shared.rediskeys import Keys

M = "BTC-USD-PERP"


def live(cid: str, size: str = "0.01", side: str = "BUY") -> LiveOrder:
    return LiveOrder(cid, M, side, Decimal(size), "mm")


@pytest.fixture
async def keys(redis_client: Any, unique: str) -> Keys:
    k = Keys(f"0xstore{unique}")
    await redis_client.set(k.cmd_index, b"{}")
    return k


def store(
    redis: Any, keys: Keys, per_s: float = 1000.0, burst: float = 1000.0, reservation_s: float = 5.0
) -> CommandStore:
    return CommandStore(redis, keys, 60, BudgetSpec(Rate(per_s, burst), Rate(per_s, burst)), reservation_s)


async def test_a_claim_is_won_once_and_a_retried_claim_recognises_its_own_nonce(
    redis_client: Any, keys: Keys
) -> None:
    a, b = store(redis_client, keys), store(redis_client, keys)
    first = await a.claim("mm", [live("x")])
    assert [c.won for c in first.claims] == [True]
    other = await b.claim("mm", [live("x")])
    assert not other.claims[0].won and other.claims[0].record is not None
    assert other.claims[0].record.st == "pending"
    record = other.claims[0].record
    # the same nonce (a claim re-sent after its reply was lost) is recognised as won
    found = await redis_client.eval(
        "return string.find(redis.call('GET', KEYS[1]), ARGV[1], 1, true) and 1 or 0",
        1,
        keys.cmd_client_id("x"),
        record.n,
    )
    assert found == 1


async def test_no_index_marker_refuses_every_claim(redis_client: Any, keys: Keys) -> None:
    await redis_client.delete(keys.cmd_index)
    with pytest.raises(IndexMissing):
        await store(redis_client, keys).claim("mm", [live("y")])
    assert await redis_client.exists(keys.cmd_client_id("y")) == 0


async def test_the_venue_budget_counts_requests_of_ten_orders_and_is_shared(
    redis_client: Any, keys: Keys
) -> None:
    a, b = store(redis_client, keys, per_s=0.001, burst=3), store(redis_client, keys, per_s=0.001, burst=3)
    assert (await a.claim("mm", [live(f"a{i}") for i in range(10)])).wait_s == 0  # one unit
    assert (await b.claim("mm", [live(f"b{i}") for i in range(11)])).wait_s == 0  # two units
    refused = await a.claim("mm", [live("c0")])
    assert refused.wait_s > 0 and refused.rule == "rate_limit" and refused.claims == []
    assert await redis_client.exists(keys.cmd_client_id("c0")) == 0  # nothing claimed
    await a.release(["a0"], units=1)  # one unit given back
    assert (await b.claim("mm", [live("c0")])).wait_s == 0
    assert await b.take(1) > 0  # cancels draw on the same buckets


async def test_a_strategy_rate_counts_orders_and_its_refusal_claims_nothing(
    redis_client: Any, keys: Keys
) -> None:
    s = store(redis_client, keys)
    rate = Rate(0.001, 3)
    assert (await s.claim("mm", [live("r0"), live("r1")], rate)).wait_s == 0
    refused = await s.claim("mm", [live("r2"), live("r3")], rate)
    assert refused.rule == "max_order_rate" and refused.wait_s > 0
    await s.release(["r0"], orders=1, strategy="mm", rate=rate)
    assert (await s.claim("mm", [live("r2"), live("r3")], rate)).wait_s == 0


async def test_reservations_of_other_processes_come_back_until_dropped_or_expired(
    redis_client: Any, keys: Keys
) -> None:
    a, b = store(redis_client, keys, reservation_s=0.5), store(redis_client, keys, reservation_s=0.5)
    await a.claim("mm", [live("ra", "0.5", "SELL")])
    seen = await b.claim("mm", [live("rb")])
    assert seen.reserved == [LiveOrder("ra", M, "SELL", Decimal("0.5"), "mm")]
    assert (await a.claim("mm", [live("ra2")])).reserved == [LiveOrder("rb", M, "BUY", Decimal("0.01"), "mm")]
    await a.unreserve(["ra", "ra2"])
    assert (await b.claim("mm", [live("rb2")])).reserved == []
    await a.claim("mm", [live("ra3")])
    await asyncio.sleep(0.7)
    assert (await b.claim("mm", [live("rb3")])).reserved == []  # expired


async def test_reservations_come_back_only_for_the_markets_asked(redis_client: Any, keys: Keys) -> None:
    a, b = store(redis_client, keys), store(redis_client, keys)
    await a.claim("mm", [live("ma"), LiveOrder("me", "ETH-USD-PERP", "BUY", Decimal(1), "mm")])
    assert [o.client_id for o in (await b.claim("mm", [live("mb1")], markets={M})).reserved] == ["ma"]
    assert (await b.claim("mm", [live("mb2")], markets={"SOL-USD-PERP"})).reserved == []
    assert (await b.claim("mm", [live("mb3")], markets=set())).reserved == []
    assert {o.client_id for o in (await b.claim("mm", [live("mb4")])).reserved} == {"ma", "me"}


async def test_a_process_drops_its_own_expired_reservations_even_when_nobody_reads_them(
    redis_client: Any, keys: Keys
) -> None:
    a = store(redis_client, keys, reservation_s=0.3)
    mine = keys.cmd_reserved(a.token)
    await a.claim("mm", [live(f"old{i}") for i in range(40)], markets=set())
    await asyncio.sleep(0.4)
    await a.claim("mm", [live("new0")], markets=set())
    assert set(await redis_client.hkeys(mine)) == {b"new0"}
    assert await redis_client.zrange(mine + ":at", 0, -1) == [b"new0"]


async def test_an_absorbed_reservation_still_counts_elsewhere_until_its_grace_ends(
    redis_client: Any, keys: Keys
) -> None:
    a, b = store(redis_client, keys, reservation_s=2.3), store(redis_client, keys, reservation_s=2.3)
    await a.claim("mm", [live("ab1")])
    await a.absorb(["ab1"])  # our view of the state shows it; another replica's may lag
    assert [o.client_id for o in (await b.claim("mm", [live("bb1")])).reserved] == ["ab1"]
    await asyncio.sleep(1.0)  # absorbed: it expires ABSORB_GRACE_MS (2 s) after, not 2.3 s after
    assert [o.client_id for o in (await b.claim("mm", [live("bb2")])).reserved] == ["ab1"]
    await asyncio.sleep(1.2)
    assert (await b.claim("mm", [live("bb3")])).reserved == []


async def test_the_script_lane_runs_claims_on_its_own_connection_and_falls_back_on_any_failure(
    redis_client: Any, keys: Keys
) -> None:
    s = store(redis_client, keys)
    lane = s.lane
    await redis_client.script_flush()
    # the first call meets NOSCRIPT on the lane's connection: the client's path loads the script
    assert [c.won for c in (await s.claim("mm", [live("l1")])).claims] == [True]
    assert lane.fallbacks == 1
    for i in range(5):  # then every claim goes straight through the lane
        assert [c.won for c in (await s.claim("mm", [live(f"l2-{i}")])).claims] == [True]
    assert lane.fallbacks == 1 and len(lane._idle) == 1
    # the same answers as the client's own path: a duplicate is not won, its record read back
    dup = (await s.claim("mm", [live("l1")])).claims[0]
    assert not dup.won and dup.record is not None and dup.record.s == "mm"
    # the scripts flushed (Redis restarted): NOSCRIPT again, the client's path reloads them
    await redis_client.script_flush()
    assert [c.won for c in (await s.claim("mm", [live("l3")])).claims] == [True]
    assert lane.fallbacks == 2
    assert [c.won for c in (await s.claim("mm", [live("l3b")])).claims] == [True]
    assert lane.fallbacks == 2 and len(lane._idle) == 1  # a fresh lane connection
    # the lane's connection killed under it: the claim still gets its answer (client path, retried)
    names = [c for c in await redis_client.client_list() if c.get("cmd") == "evalsha"]
    assert names, "the lane's connection is listed by Redis"
    for c in names:
        await redis_client.client_kill_filter(_id=c["id"])
    assert [c.won for c in (await s.claim("mm", [live("l4")])).claims] == [True]
    assert lane.fallbacks == 3
    await s.close()
    assert lane._idle == []


async def test_a_cancelled_lane_call_never_leaves_a_reply_for_the_next_claim(
    redis_client: Any, keys: Keys
) -> None:
    """A claim cancelled at any point (before its write, with its reply in flight, after it) must
    not leave a connection whose unread reply the next claim would take for its own."""
    s = store(redis_client, keys)
    await s.claim("mm", [live("c0")])  # the script loaded
    for turns in range(6):
        task = asyncio.ensure_future(s.claim("mm", [live(f"cx{turns}")]))
        for _ in range(turns):
            await asyncio.sleep(0)
        task.cancel()
        try:
            await task  # redis-py may finish a read it had started (the reply is then consumed)
        except asyncio.CancelledError:
            pass
        dup = (await s.claim("mm", [live("c0")])).claims[0]
        assert not dup.won and dup.record is not None, turns  # a stale "won" reply would show here
        assert [c.won for c in (await s.claim("mm", [live(f"cy{turns}")])).claims] == [True], turns
    await s.close()
