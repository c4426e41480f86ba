"""State tracing (``STATE_TRACE``, benchmarks only): off, SSE frames and the Redis change stream are
exactly as ever even for messages that carry the feed's ``Pdx-Trace`` header; on, a traced event's
SSE frame ends with its stamps, in hop order, and Redis still holds no trace."""

from __future__ import annotations

import time
from typing import Any

import pytest

from services.state.encode import Encoded
from services.state.settings import Settings
from shared.bus import EventPublisher
from shared.settings import load
from shared.trace import (
    FIELDS,
    SSE_TAIL,
    applied_trace,
    event_json,
    feed_header,
    parse_event,
    stamp_sse,
)
from tests.state.test_http_sse import Reader, _count, _subscribers
from tests.state.test_service_harness import instance, order, order_ev, settings_for, wait_for


def test_tracing_is_off_by_default() -> None:
    assert load(Settings, env={}).trace is False
    assert load(Settings, env={"STATE_TRACE": "1"}).trace is True


def test_an_untraced_change_encodes_as_before_and_a_traced_one_appends_its_stamps() -> None:
    plain = Encoded("account", "order", "k", 7, b'{"a":1}', False, None)
    assert plain.event() == b'{"stream":"account","kind":"order","key":"k","seq":7,"value":{"a":1}}'
    trace = applied_trace(feed_header(1, 2, 3) + ",4", 5)
    traced = plain._replace(trace=trace)
    frame = b"data: %s\n\n" % traced.event()
    assert frame.endswith(SSE_TAIL)
    obj, stamps = parse_event(stamp_sse(frame, 7)[len(b"data: "):])
    assert obj == {"stream": "account", "kind": "order", "key": "k", "seq": 7, "value": {"a": 1}}
    assert stamps == {**dict(zip(FIELDS[:5], range(1, 6), strict=True)), "sse": 7}
    assert stamp_sse(b"data: %s\n\n" % plain.event(), 7) == b"data: %s\n\n" % plain.event()
    assert applied_trace("not,ours", 5) == b"" and applied_trace("1,2,x,4", 5) == b""
    assert event_json(b'{"a":1}', b'"sim":1') == b'{"a":1,"trace":{"sim":1,"sse":0}}'


async def _publish_traced(js: Any, account: str, n: int) -> tuple[list[int], int]:
    pub = EventPublisher(js, account)
    seqs = []
    sim = time.time_ns()
    for i in range(n):
        subject, payload, headers = pub.prepare(order_ev(order(str(i), account=account)))
        headers["Pdx-Trace"] = feed_header(sim, sim + 1, time.time_ns())
        seqs.append(await pub.publish_raw(subject, payload, headers))
    return seqs, sim


async def _change_stream(inst: Any) -> list[dict[bytes, bytes]]:
    entries = await inst.service.redis.xrange(inst.service.keys.changes)
    return [fields for _, fields in entries]


@pytest.mark.parametrize("trace", [False, True])
async def test_sse_frames_carry_the_trace_only_when_on(nats_url: str, redis_url: str, js: Any, unique: str,
                                                       trace: bool) -> None:
    account = f"acct{unique}"
    async with instance(settings_for(nats_url, redis_url, account, trace=trace)) as inst:
        reader = Reader(inst.client, {"kinds": "order"})
        await wait_for(lambda: _subscribers(inst, 1), 5, "SSE subscriber")
        seqs, sim = await _publish_traced(js, account, 3)
        await wait_for(lambda: _count(reader, 3), 5, "3 frames")
        await inst.wait_seq(seqs[-1])
        await reader.close()
        stream = await _change_stream(inst)
    datas = [f["data"] for f in reader.frames]
    assert [d["seq"] for d in datas] == seqs
    assert all(set(f) == {b"kind", b"key", b"seq", b"value"} for f in stream)  # Redis: never a trace
    if not trace:
        assert all(set(d) == {"stream", "kind", "key", "seq", "value"} for d in datas)
        return
    # SSE frames are sent once applied, before the Redis write: no Redis stamp (shared.trace's
    # "redis" member is absent; bench.e2e takes the Redis hop from its change-stream reader).
    sse_fields = [k for k in FIELDS if k != "redis"]
    for d in datas:
        stamps = d["trace"]
        assert list(stamps) == sse_fields
        assert stamps["sim"] == sim and stamps["recv"] == sim + 1
        values = [stamps[k] for k in sse_fields]
        assert values == sorted(values), stamps  # every hop after the one before
        assert stamps["sse"] <= time.time_ns()


def _burst(inst: Any, n: int, first_seq: int) -> None:
    """``n`` order changes published at once (no await between: they queue up for the client)."""
    for i in range(n):
        inst.service.hub.publish([Encoded("account", "order", f"b{i}", first_seq + i, b'{"i":%d}' % i,
                                          False, None)])


async def test_a_burst_goes_out_whole_and_in_order_and_an_overflow_still_ends_the_stream(
        nats_url: str, redis_url: str, unique: str) -> None:
    account = f"acct{unique}"
    async with instance(settings_for(nats_url, redis_url, account, sse_queue_max=8)) as inst:
        reader = Reader(inst.client, {"kinds": "order"})
        await wait_for(lambda: _subscribers(inst, 1), 5, "SSE subscriber")
        _burst(inst, 5, 1_000)  # fits the client's queue: all of it, in order
        await wait_for(lambda: _count(reader, 5), 5, "5 frames")
        assert [d["data"]["key"] for d in reader.frames] == [f"b{i}" for i in range(5)]
        _burst(inst, 20, 2_000)  # more than the queue holds: the client is cut off
        await wait_for(lambda: _ended(reader), 5, "the stream to end")
        events = [f["event"] for f in reader.frames]
        assert events[-1] == "overflow" and set(events[:-1]) == {"order"}
        keys = [d["data"]["key"] for d in reader.frames[5:-1]]
        assert keys and keys == sorted(keys, key=lambda k: int(k[1:]))  # what was queued, in order
        await reader.close()


async def _ended(reader: Reader) -> bool:
    return reader.task.done()
