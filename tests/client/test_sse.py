"""The client's SSE reader: the line protocol, backoff, reconnect with Last-Event-ID, refusals,
overflow and reset (an httpx MockTransport plays the service; the real one is in tests/system)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from shared.client import EventsOverflow, EventsReset, InvalidRequest, ServiceUnreachable, StateClient
from shared.client.sse import SseEvent, SseParser, backoff_s


def frame(seq: int, key: str, kind: str = "order") -> bytes:
    return (b'id: a:%d.0,m:ep.0\nevent: %s\ndata: {"stream":"account","kind":"%s","key":"%s","seq":%d,'
            b'"value":{"key":"%s","status":"OPEN"}}\n\n' % (seq, kind.encode(), kind.encode(), key.encode(),
                                                             seq, key.encode()))


def test_parser_follows_the_whatwg_rules() -> None:
    p = SseParser()
    lines = ["retry: 250", ": a comment", "id: 7", "event: order", "data: {\"a\":", "data: 1}", "",
             "", "data:x", "", "id", "data: y", ""]
    events = [e for e in (p.line(x) for x in lines) if e is not None]
    assert events == [SseEvent("order", '{"a":\n1}', "7"), SseEvent("message", "x", None),
                      SseEvent("message", "y", "")]
    assert p.retry_ms == 250


def test_backoff_is_capped_and_jittered_in_its_upper_half() -> None:
    assert backoff_s(1, rng=lambda: 0.0) == pytest.approx(0.05)
    assert backoff_s(1, rng=lambda: 1.0) == pytest.approx(0.1)
    assert backoff_s(4, rng=lambda: 1.0) == pytest.approx(0.8)
    assert backoff_s(50, rng=lambda: 1.0) == pytest.approx(5.0)


class Service:
    """A scripted /v1/events: one body (or error) per connection; records the requests."""

    def __init__(self, script: list[bytes | int | Exception]) -> None:
        self.script = script
        self.requests: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.script:
            raise httpx.ConnectError("no more connections", request=request)
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        if isinstance(step, int):
            body = {"seq": 0, "error": "bad_kinds", "reason": "unknown kinds ['x']"}
            return httpx.Response(step, json=body)
        return httpx.Response(200, content=step, headers={"content-type": "text/event-stream"})


def client(service: Service) -> StateClient:
    http = httpx.AsyncClient(base_url="http://state", transport=httpx.MockTransport(service.handler))
    return StateClient("http://state", client=http)


async def collect(it: object, n: int) -> list[tuple[str, int]]:
    out = []
    async for ch in it:  # type: ignore[attr-defined]
        out.append((ch.key, ch.seq))
        if len(out) == n:
            break
    return out


def no_sleep() -> tuple[list[float], Callable[[float], object]]:
    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)
    return slept, sleep


async def test_a_dropped_stream_reconnects_with_the_last_id_and_yields_each_change_once() -> None:
    err = httpx.ReadError("peer reset")
    svc = Service([frame(1, "a") + frame(2, "b"), err, frame(3, "c"), frame(4, "d")])
    slept, sleep = no_sleep()
    stream = client(svc).events(["order"])
    stream._sleep = sleep  # type: ignore[assignment]
    assert await collect(stream, 4) == [("a", 1), ("b", 2), ("c", 3), ("d", 4)]
    sent = [r.headers.get("last-event-id") for r in svc.requests]
    assert sent == [None, "a:2.0,m:ep.0", "a:2.0,m:ep.0", "a:3.0,m:ep.0"]
    assert all(r.url.params["kinds"] == "order" for r in svc.requests)
    assert len(slept) == 3 and stream.connections == 3 and stream.last_event_id == "a:4.0,m:ep.0"


async def test_a_refusal_is_raised_at_once_and_not_retried() -> None:
    svc = Service([422])
    with pytest.raises(InvalidRequest, match="unknown kinds"):
        await collect(client(svc).events(["x"]), 1)
    assert len(svc.requests) == 1


async def test_after_seq_is_sent_until_an_id_is_known_and_gives_up_after_max_attempts() -> None:
    svc = Service([frame(9, "a")])
    _, sleep = no_sleep()
    stream = client(svc).events(after_seq=8, max_attempts=2)
    stream._sleep = sleep  # type: ignore[assignment]
    got = []
    with pytest.raises(ServiceUnreachable, match="gave up after 2 reconnects"):
        async for ch in stream:
            got.append(ch.key)
    assert got == ["a"]
    assert svc.requests[0].url.params["after_seq"] == "8"
    assert "after_seq" not in svc.requests[1].url.params
    assert svc.requests[1].headers["last-event-id"] == "a:9.0,m:ep.0"


async def test_overflow_reconnects_from_the_last_event_unless_reconnect_is_off() -> None:
    overflow = b"event: overflow\ndata: {}\n\n"
    svc = Service([frame(1, "a") + overflow, frame(2, "b")])
    _, sleep = no_sleep()
    stream = client(svc).events()
    stream._sleep = sleep  # type: ignore[assignment]
    assert await collect(stream, 2) == [("a", 1), ("b", 2)]
    with pytest.raises(EventsOverflow):
        await collect(client(Service([overflow])).events(reconnect=False), 1)


async def test_reset_raises_with_the_seq_to_reread_or_is_yielded_when_asked() -> None:
    reset = b'event: reset\ndata: {"stream":"account","seq":40,"reason":"too old"}\n\n'
    with pytest.raises(EventsReset) as info:
        await collect(client(Service([reset])).events(last_event_id="a:1.0,m:ep.0"), 1)
    assert info.value.seq == 40
    stream = client(Service([reset + frame(41, "z")])).events(resets="yield")
    got = []
    async for ch in stream:
        got.append((ch.kind, ch.seq))
        if len(got) == 2:
            break
    assert got == [("reset", 40), ("order", 41)]
