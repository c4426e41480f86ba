"""Feed tracing (``FEED_TRACE``, benchmarks only): off, account messages carry only their
``Nats-Msg-Id``; on, a ``Pdx-Trace`` header with the frame's simulator send stamp, the receive and
the publish time, and the JetStream ack times go out on ``pdx.trace.feed``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import msgspec
import pytest

from services.feed.metrics import FeedMetrics
from services.feed.settings import Settings
from services.feed.sink import BusSink
from shared.bus import subjects
from shared.bus.events import Event
from shared.bus.publish import MSG_ID_HEADER
from shared.settings import load
from shared.trace import TRACE_HEADER
from tests.feed.helpers import read_stream
from tests.feed.test_sink import client, order_event

__all__ = ["client"]  # the fixture, re-used

STAMP = 1_800_000_000_123_456_789
FRAME = '{"jsonrpc":"2.0","method":"subscription","params":{"channel":"orders.ALL","data":{}},' \
        f'"sim_sent_ns":{STAMP}}}'


def test_tracing_is_off_by_default() -> None:
    assert load(Settings, env={}).trace is False
    assert load(Settings, env={"FEED_TRACE": "true"}).trace is True


async def _run(client: Any, account: str, trace: bool, events: Sequence[Event]) -> tuple[BusSink, list[Any]]:
    acks: list[Any] = []

    async def on_ack(msg: Any) -> None:
        acks.extend(msgspec.json.decode(msg.data))

    sub = await client.subscribe(subjects.FEED_TRACE, cb=on_ack)
    sink = BusSink(client, account, FeedMetrics(), trace=trace)
    sink.start()
    try:
        receive = sink.traced(lambda frame, recv_ns: list(events)) if trace else (lambda f, r: list(events))
        for event in receive(FRAME, time.time_ns()):
            sink.put(event)
        sink.put(order_event(99))  # outside any frame (like a status event): no send stamp
        assert await sink.flush()
        await client.flush()
        await asyncio.sleep(0.1)
    finally:
        await sink.stop()
        await sub.unsubscribe()
    return sink, acks


async def test_untraced_messages_carry_only_their_msg_id(client: Any, unique: str) -> None:
    account = f"a{unique}"
    _, acks = await _run(client, account, False, [order_event(i) for i in range(3)])
    got = await read_stream(client.jetstream(), subjects.account_filter(account), expect=4)
    assert len(got) == 4
    assert all(set(h) == {MSG_ID_HEADER} for _, h in got)
    assert acks == []


async def test_traced_messages_carry_send_receive_and_publish_stamps(client: Any, unique: str) -> None:
    account = f"a{unique}"
    before = time.time_ns()
    events = [order_event(i) for i in range(3)]
    sink, acks = await _run(client, account, True, events)
    got = await read_stream(client.jetstream(), subjects.account_filter(account), expect=4)
    assert len(got) == 4
    stamps = [[int(x) for x in h[TRACE_HEADER].split(",")] for _, h in got]
    assert all(MSG_ID_HEADER in h for _, h in got)
    assert [s[0] for s in stamps] == [STAMP, STAMP, STAMP, 0]  # the last one came from no frame
    for (event, _), (_, recv, pub) in zip(got, stamps, strict=True):
        assert recv == event.recv_ns and before <= recv <= pub <= time.time_ns()
    # one ack record per message, in order: (stream seq, publish stamp, ack time)
    assert [a[1] for a in acks] == [s[2] for s in stamps]
    assert all(pub <= ack for _, pub, ack in acks)
    assert len({a[0] for a in acks}) == 4
    assert sink._sim_ns == {}  # nothing kept once published


@pytest.mark.parametrize("frame", ["{}", '{"a":1}', b"\x00sbe", '{"sim_sent_ns":"x"}'])
def test_frames_without_a_stamp_give_zero(frame: str | bytes) -> None:
    from shared.trace import sim_stamp

    assert sim_stamp(frame) == 0
    assert sim_stamp(FRAME) == STAMP and sim_stamp(FRAME.encode()) == STAMP
