"""An SSE reader (the client's, reconnecting with Last-Event-ID) while the state service is killed
(-9) and restarted (SIGTERM) under a flow of orders: every account change arrives once, in order,
byte for byte what the state wrote to Redis's change stream. A second reader that was away during
the SIGTERM restart (its position older than the new process's checkpoint) resumes from its last
id and gets the same (the restarted service replays it from the Redis change stream)."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import redis.asyncio as aioredis

from shared.client import Change, ServiceError, ServiceUnreachable
from shared.rediskeys import Keys
from tests.system.procs import M, ProcSystem, process_system, wait_until

ACCOUNT_KINDS = ["order", "fill", "position", "balance", "account", "feed", "reconciliation"]


async def _flow(ps: ProcSystem, stop: asyncio.Event, placed: list[str]) -> None:
    """Place a resting order every ~50 ms and cancel every second one (20 orders/s)."""
    cmd = ps.commands_client()
    bid = (await ps.state_client().bbo(M)).value.bid
    assert bid is not None
    price = (bid - Decimal(2000)).quantize(Decimal("0.1"))
    n = 0
    while not stop.is_set():
        n += 1
        cid = f"sse-{n}"
        with contextlib.suppress(ServiceError, ServiceUnreachable):
            await cmd.place(M, "BUY", Decimal("0.001"), price, client_id=cid, instruction="POST_ONLY")
            placed.append(cid)
            if n % 2 == 0:
                await cmd.cancel_by_client_id(f"sse-{n - 1}")
        await asyncio.sleep(0.05)


async def test_sse_reader_misses_nothing_and_sees_nothing_twice_across_state_restarts(
        nats_url: str, redis_url: str, tmp_path: Path) -> None:
    async with process_system(nats_url, redis_url, tmp_path) as ps:
        start = (await ps.state_client().health()).seq
        stream = ps.state_client().events(ACCOUNT_KINDS, after_seq=start)
        got: list[Change] = []

        async def read() -> None:
            async for ch in stream:
                got.append(ch)

        reader = asyncio.create_task(read())
        away = ps.state_client().events(ACCOUNT_KINDS, after_seq=start)
        away_got: list[Change] = []

        async def read_away() -> None:
            async for ch in away:
                away_got.append(ch)

        away_task = asyncio.create_task(read_away())
        stop = asyncio.Event()
        placed: list[str] = []
        flow = asyncio.create_task(_flow(ps, stop, placed))
        try:
            await wait_until(lambda: _at_least(got, 20), 20, "changes before the kill")
            await ps.kill("state")  # SIGKILL: no final checkpoint, no goodbye to the reader
            await asyncio.sleep(1.0)  # orders keep flowing into the stream meanwhile
            await ps.start("state")
            n = len(got)
            await wait_until(lambda: _at_least(got, n + 20), 30, "changes after the kill -9 restart")
            away_task.cancel()  # this client goes away; the service goes on and checkpoints past it
            with contextlib.suppress(asyncio.CancelledError):
                await away_task
            away_last = away_got[-1].seq
            # counted past what the away reader had: at the cancel it can be ahead of ``got`` (its
            # own connection), and a count of ``got`` alone can end before the state applied
            # anything new (CI: the checkpoint then sat exactly at away_last)
            await wait_until(lambda: _past(got, away_last, 10), 30, "changes while the reader is away")
            await ps.restart("state")  # SIGTERM: final checkpoint, streams closed
            n = len(got)
            await wait_until(lambda: _at_least(got, n + 20), 30, "changes after the SIGTERM restart")
            await wait_until(lambda: _at_least(placed, 60), 60, "60 orders placed through the restarts")
        finally:
            stop.set()
            await flow
        assert len(placed) >= 60
        redis = aioredis.from_url(redis_url)
        try:
            async def caught_up() -> bool:
                last = await redis.get(Keys(ps.account).seq)
                return bool(got) and last is not None and got[-1].seq >= int(last)

            await asyncio.sleep(1.0)
            await wait_until(caught_up, 20, "the reader at the last sequence Redis reflects")
            entries = await redis.xrange(Keys(ps.account).changes)
        finally:
            await redis.aclose()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        back = ps.state_client().events(ACCOUNT_KINDS, last_event_id=away.last_event_id)
        async with contextlib.aclosing(aiter(back)) as it:
            async for ch in it:
                away_got.append(ch)
                if ch.seq >= got[-1].seq and ch.event_id == got[-1].event_id:
                    break

        truth = [_entry(fields) for _, fields in entries]
        truth = [t for t in truth if t[1] in ACCOUNT_KINDS and t[0] > start]
        seen = [(c.seq, c.kind, c.key, msgspec.json.decode(bytes(c.value))) for c in got]
        assert len(set((s, k, key) for s, k, key, _ in seen)) == len(seen), "a change arrived twice"
        assert [s[:3] for s in seen] == [t[:3] for t in truth], "changes missed or out of order"
        assert seen == truth  # the same records, byte for byte decoded
        assert stream.connections >= 3  # first connection + one per restart
        assert [(c.seq, c.kind, c.key, msgspec.json.decode(bytes(c.value))) for c in away_got] == seen
        restored = (await ps.state_client().health()).value.restored_from_seq
        assert restored is not None and away_last < restored, "the away reader was not behind the checkpoint"
        print(f"\nSSE across 2 state restarts: {len(seen)} changes, {len(placed)} orders placed, "
              f"{stream.connections} connections, 0 missed, 0 twice")


async def _at_least(got: list[Any], n: int) -> bool:
    return len(got) >= n


async def _past(got: list[Any], seq: int, n: int) -> bool:
    return sum(1 for c in got if c.seq > seq) >= n


def _entry(fields: dict[bytes, bytes]) -> tuple[int, str, str, Any]:
    return (int(fields[b"seq"]), fields[b"kind"].decode(), fields[b"key"].decode(),
            msgspec.json.decode(fields[b"value"]))
