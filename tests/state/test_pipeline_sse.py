"""SSE gets an applied batch at once; Redis and the ack follow behind it (issue 18: the Redis round
trip was a hop of every SSE frame). The ack still waits for Redis."""

from __future__ import annotations

import asyncio
from typing import Any

from services.state.encode import Encoded
from services.state.hub import ChangeHub
from services.state.pipeline import WritePipeline
from services.state.redis_writer import WRITTEN


class _SlowWriter:
    """A Redis writer whose calls return only when released."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.calls: list[int] = []

    async def write_account(self, changes: Any, seq: int, floor: int) -> tuple[int, int]:
        self.calls.append(seq)
        await self.release.wait()
        return WRITTEN, floor


class _Msg:
    def __init__(self) -> None:
        self.acked = False

    async def ack(self) -> None:
        self.acked = True


def _change(seq: int) -> Encoded:
    return Encoded("account", "order", f"o{seq}", seq, b'{"i":%d}' % seq, False, None)


async def test_sse_sees_a_batch_before_redis_has_it_and_the_ack_waits_for_redis() -> None:
    writer = _SlowWriter()
    hub = ChangeHub()
    sub = hub.subscribe().subscriber
    pipe = WritePipeline(writer, hub)  # type: ignore[arg-type]
    pipe.start(0)
    msg = _Msg()
    await pipe.put([_change(1)], 1, msg)
    assert sub.queue.qsize() == 1 and b'"seq":1' in sub.queue.get_nowait()  # before any Redis write
    await asyncio.sleep(0.05)
    assert writer.calls == [1] and not msg.acked and pipe.written_seq == 0
    writer.release.set()
    await asyncio.wait_for(pipe.wait_written(1), 5)
    assert msg.acked
    await pipe.stop()
