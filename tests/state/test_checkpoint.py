"""Stepped checkpoints: byte-identical to the whole dump, cache-safe, written to Redis in segments."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from services.state.checkpoint import dump_segments, load_checkpoint, save_checkpoint, state_key
from services.state.core import StateConfig, StateCore
from services.state.core.codec import DumpCache, checkpoint_of, dump_steps
from tests.state import builders as b


def _core(n: int, start: int = 0, core: StateCore | None = None) -> StateCore:
    core = core or StateCore()
    seq = core.account_seq
    for i in range(start, start + n):
        seq += 1
        # ids out of insertion order and non-ASCII client ids: the sort must match msgspec's
        core.apply(seq, b.order_ev(b.order(str((i * 7919) % 1000 + 1000 * (i // 1000)),
                                           client_id=f"c\u00e9{i}", lua=b.T0 + i)))
        if i % 3 == 0:
            seq += 1
            core.apply(seq, b.fill_ev(b.fill(f"f{i}", str(i), ts=b.T0 + i)))
    return core


def _run(steps: Any) -> bytes:
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return b"".join(done.value)


def test_stepped_dump_equals_encoding_the_whole_checkpoint_at_once() -> None:
    core = _core(700)
    whole = msgspec.json.Encoder(order="sorted").encode(checkpoint_of(core))
    assert _run(dump_steps(core, chunk=64)) == whole
    assert core.dump() == whole


def test_empty_core_dumps_the_same_in_steps() -> None:
    core = StateCore()
    assert _run(dump_steps(core, DumpCache(), chunk=8)) == msgspec.json.Encoder(order="sorted").encode(
        checkpoint_of(core))


def test_cached_dump_after_changes_equals_a_fresh_dump() -> None:
    cache = DumpCache()
    core = _core(300)
    assert _run(dump_steps(core, cache, chunk=50)) == core.dump()
    # change existing orders (new records under old keys) and add new ones
    seq = core.account_seq
    for i in range(0, 300, 10):
        seq += 1
        core.apply(seq, b.order_ev(b.order(str((i * 7919) % 1000), client_id=f"c\u00e9{i}", status="CLOSED",
                                           lua=b.T0 + 10_000 + i, seq=2)))
    _core(50, 300, core)
    assert _run(dump_steps(core, cache, chunk=50)) == core.dump()
    assert b'"CLOSED"' in core.dump()


def test_dump_reflects_the_state_when_it_started_even_if_the_core_changes_between_steps() -> None:
    core = _core(200)
    before = core.dump()
    steps = dump_steps(core, DumpCache(), chunk=16)
    next(steps)  # captured
    _core(100, 200, core)
    assert _run(steps) == before != core.dump()


async def test_checkpoint_written_in_segments_loads_back(redis_client: Any, unique: str) -> None:
    key = f"pdx:{unique}:checkpoint"
    core = _core(400)
    written: list[int] = []

    async def wait_written(seq: int) -> None:
        written.append(seq)

    seq = await save_checkpoint(redis_client, key, core, DumpCache(), wait_written)
    assert seq == core.account_seq and written == [seq]
    assert int(await redis_client.hget(key, "seq")) == seq
    assert b"".join(await redis_client.lrange(state_key(key), 0, -1)) == core.dump()
    restored = await load_checkpoint(redis_client, key, StateConfig())
    assert restored is not None and restored.dump() == core.dump()
    # a second checkpoint replaces the first whole (no segments of the old one left behind)
    _core(10, 400, core)
    await save_checkpoint(redis_client, key, core, DumpCache())
    restored = await load_checkpoint(redis_client, key, StateConfig())
    assert restored is not None and restored.dump() == core.dump()


async def test_checkpoint_in_the_older_one_value_format_still_loads(redis_client: Any, unique: str) -> None:
    key = f"pdx:{unique}:checkpoint"
    core = _core(30)
    await redis_client.hset(key, mapping={"seq": core.account_seq, "state": core.dump()})
    restored = await load_checkpoint(redis_client, key, StateConfig())
    assert restored is not None and restored.dump() == core.dump()


async def test_no_checkpoint_when_the_hash_is_gone(redis_client: Any, unique: str) -> None:
    key = f"pdx:{unique}:checkpoint"
    await save_checkpoint(redis_client, key, _core(5), DumpCache())
    await redis_client.delete(key)
    assert await load_checkpoint(redis_client, key, StateConfig()) is None


async def test_save_checkpoint_waits_for_redis_to_reflect_the_sequence(redis_client: Any,
                                                                        unique: str) -> None:
    key = f"pdx:{unique}:checkpoint"
    core = _core(50)
    gate = asyncio.Event()

    async def wait_written(seq: int) -> None:
        await gate.wait()

    task = asyncio.create_task(save_checkpoint(redis_client, key, core, None, wait_written))
    await asyncio.sleep(0.05)
    assert not task.done() and await redis_client.hget(key, "seq") is None
    gate.set()
    assert await task == core.account_seq
    assert b"".join(await redis_client.lrange(state_key(key), 0, -1)) == core.dump()


async def test_dump_segments_yields_to_the_loop() -> None:
    core = _core(3000)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    t = asyncio.create_task(ticker())
    data = b"".join(await dump_segments(core, DumpCache(), chunk=64))
    t.cancel()
    assert data == core.dump()
    assert ticks > 1


async def test_a_replica_loads_its_own_checkpoint_else_the_newest_other_else_the_legacy_one(
        redis_client: Any, unique: str) -> None:
    from services.state.checkpoint import load_for_replica
    from shared.rediskeys import Keys

    keys = Keys(f"acct{unique}")
    legacy, older, newer, own = _core(5), _core(10), _core(20), _core(15)
    assert await load_for_replica(redis_client, keys, "r1", StateConfig()) is None
    await save_checkpoint(redis_client, keys.checkpoint, legacy)
    got = await load_for_replica(redis_client, keys, "r1", StateConfig())
    assert got is not None and got.key == keys.checkpoint and got.core.dump() == legacy.dump()
    for replica, core in (("r2", older), ("r3", newer)):
        await save_checkpoint(redis_client, keys.checkpoint_of(replica), core,
                              index=(keys.checkpoints, replica))
    got = await load_for_replica(redis_client, keys, "r1", StateConfig())
    assert got is not None and got.key == keys.checkpoint_of("r3") and got.core.dump() == newer.dump()
    await save_checkpoint(redis_client, keys.checkpoint_of("r1"), own, covered=own.account_seq + 100,
                          index=(keys.checkpoints, "r1"))
    got = await load_for_replica(redis_client, keys, "r1", StateConfig())
    assert got is not None and got.key == keys.checkpoint_of("r1") and got.core.dump() == own.dump()
    assert got.covered == own.account_seq + 100
    assert int(await redis_client.hget(keys.checkpoints, "r1")) == own.account_seq
