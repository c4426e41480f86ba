"""The sequence guard of the account write (real Redis): two writers of the same fold produce each
change once and in order, ``seq`` never goes back, and a Redis that lost data is reported."""

from __future__ import annotations

import random
from typing import Any

import msgspec

from services.state.core import StateCore
from services.state.encode import Encoded, encode_change
from services.state.redis_writer import ABSENT, ALREADY, LOST, WAIT, WRITTEN, RedisWriter
from shared.rediskeys import Keys
from tests.state import builders as b


def _changes(n: int) -> list[list[Encoded]]:
    """Per stream sequence 1..n, the encoded changes of one fold (orders opening, then closing)."""
    core = StateCore()
    out = []
    for seq in range(1, n + 1):
        i = seq % 40
        status = "CLOSED" if seq > 40 and seq % 3 == 0 else "OPEN"
        ev = b.order_ev(b.order(str(i), seq=seq, status=status, remaining="0" if status == "CLOSED" else None,
                                lua=b.T0 + seq))
        res = core.apply(seq, ev)
        out.append([encode_change("account", res.seq, c) for c in res.changes])
    return out


def _batches(per_seq: list[list[Encoded]], rng: random.Random) -> list[tuple[list[Encoded], int]]:
    """The changes cut into batches of random sizes: (changes, applied seq)."""
    out, i = [], 0
    while i < len(per_seq):
        j = min(len(per_seq), i + rng.randint(1, 7))
        out.append(([c for cs in per_seq[i:j] for c in cs], j))
        i = j
    return out


async def test_two_writers_with_different_batching_write_each_change_once_in_order(
        redis_client: Any, unique: str) -> None:
    keys = Keys(f"acct{unique}")
    per_seq = _changes(300)
    a, b_ = RedisWriter(redis_client, keys), RedisWriter(redis_client, keys)
    rng = random.Random(5)
    ba, bb = _batches(per_seq, rng), _batches(per_seq, rng)
    floors = {id(a): 0, id(b_): 0}
    seqs_seen: list[int] = []
    ia = ib = 0
    while ia < len(ba) or ib < len(bb):  # interleave the two writers at random
        if ib >= len(bb) or (ia < len(ba) and rng.random() < 0.5):
            w, (changes, seq) = a, ba[ia]
            ia += 1
        else:
            w, (changes, seq) = b_, bb[ib]
            ib += 1
        code, cur = await w.write_account(changes, seq, floors[id(w)])
        assert code in (WRITTEN, ALREADY)
        floors[id(w)] = seq if code == WRITTEN else max(seq, cur)
        seqs_seen.append(int(await redis_client.get(keys.seq)))
    assert seqs_seen == sorted(seqs_seen) and seqs_seen[-1] == 300
    entries = await redis_client.xrange(keys.changes)
    got = [(e[b"kind"].decode(), e[b"key"].decode(), int(e[b"seq"])) for _, e in entries]
    want = [(c.kind, c.key, c.seq) for cs in per_seq for c in cs]
    assert got == want  # no duplicate, none missing, in stream order
    assert a.outcomes[ALREADY] + b_.outcomes[ALREADY] > 0  # the guard did skip work
    for key in ("1", "7", "39"):
        last = [c for cs in per_seq for c in cs if c.key == key][-1]
        stored = msgspec.json.decode(await redis_client.get(keys.order(key)))
        assert stored["seq"] == last.seq and stored["value"]["status"] == last.record.status


async def test_a_wiped_or_older_redis_is_reported_and_nothing_is_written(redis_client: Any,
                                                                          unique: str) -> None:
    keys = Keys(f"acct{unique}")
    per_seq = _changes(10)
    w = RedisWriter(redis_client, keys)
    assert (await w.write_account(per_seq[0], 1, 0))[0] == WRITTEN  # a fresh Redis: no floor yet
    assert (await w.write_account(per_seq[1], 2, 1))[0] == WRITTEN
    await redis_client.delete(keys.seq, keys.changes)  # wiped
    assert await w.write_account(per_seq[2], 3, 2) == (ABSENT, 0)
    assert await redis_client.exists(keys.seq, keys.changes) == 0
    await redis_client.set(keys.seq, 1)  # restored from an older file
    assert await w.write_account(per_seq[2], 3, 2) == (LOST, 1)
    assert int(await redis_client.get(keys.seq)) == 1
    await redis_client.set(keys.seq, 2)
    await redis_client.set(keys.rewrite, "someone")  # a replica is rewriting: everybody waits
    assert (await w.write_account(per_seq[2], 3, 2))[0] == WAIT
    await redis_client.delete(keys.rewrite)
    assert await w.write_account(per_seq[2], 3, 2) == (WRITTEN, 2)
    assert await w.write_account(per_seq[2], 3, 3) == (ALREADY, 3)  # the same batch again: skipped
    assert len(await redis_client.xrange(keys.changes)) == len(per_seq[2])


async def test_the_packed_batch_stores_exactly_the_encoded_bytes(redis_client: Any, unique: str) -> None:
    """The ops travel as one msgpack argument: bodies, change-stream values, index entries and the
    recent-fills trim come out byte for byte what was encoded, non-ASCII text included."""
    keys = Keys(f"acct{unique}")
    core = StateCore()
    evs = [b.order_ev(b.order("1", client_id="c-\u00e9", cancel_reason="\u00fc\u2028\U0001f600\"\\"))]
    evs += [b.fill_ev(b.fill(f"f{i}", order_id="1", ts=b.T0 + i)) for i in range(5)]
    changes: list[Encoded] = []
    for seq, ev in enumerate(evs, start=1):
        res = core.apply(seq, ev)
        changes += [encode_change("account", res.seq, c) for c in res.changes]
    w = RedisWriter(redis_client, keys, recent_fills_max=2)
    assert (await w.write_account(changes, len(evs), 0))[0] == WRITTEN
    order = next(c for c in changes if c.kind == "order")
    assert await redis_client.get(keys.order("1")) == order.body()
    assert await redis_client.hget(keys.orders, "1") == order.record.status.encode()
    entries = await redis_client.xrange(keys.changes)
    assert [(e[b"kind"], e[b"key"], int(e[b"seq"]), e[b"value"]) for _, e in entries] == [
        (c.kind.encode(), c.key.encode(), c.seq, c.value) for c in changes]
    fills = await redis_client.zrange(keys.fills, 0, -1, withscores=True)
    assert fills == [(b"f3", float(b.T0 + 3)), (b"f4", float(b.T0 + 4))]
