"""The state service's ``/v1/events`` as an async iterator that reconnects and resumes by itself.

Each event's ``id`` names the position of both streams after it; on a dropped connection (the
service restarted, a proxy timed out, a keepalive missed) the reader reconnects with capped,
jittered backoff and sends ``Last-Event-ID``: the service replays exactly what was missed, so the
iterator yields every change once, in order, across reconnects. When the service can no longer
replay that far it says ``reset``: :class:`~shared.client.errors.EventsReset` is raised (or, with
``resets="yield"``, a :class:`Change` of kind ``reset`` is yielded): re-read the state, then follow
with ``after_seq`` set to the ``seq`` of that read.

Refusals (401 token, 422 unknown kinds) are raised at once; they would not change on a retry.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable
from typing import Literal

import httpx
import msgspec

from shared.client.errors import EventsOverflow, EventsReset, ServiceError, ServiceUnreachable
from shared.client.http import Transport, raise_for
from shared.client.models import Change

log = logging.getLogger("shared.client.sse")

_change = msgspec.json.Decoder(Change)


class _Reset(msgspec.Struct):
    seq: int = 0
    stream: str = "account"
    reason: str = ""


class SseEvent(msgspec.Struct, frozen=True):
    """One dispatched Server-Sent Event."""

    event: str
    data: str
    id: str | None  # None: the event had no id field (the last id stays)


class SseParser:
    """The Server-Sent Events line protocol (WHATWG HTML 9.2.6), one line at a time (pure)."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None
        self.retry_ms: int | None = None

    def line(self, line: str) -> SseEvent | None:
        """Feed one line (without its end of line); an event when ``line`` is the blank one ending it."""
        if not line:
            if not self._data and not self._event:
                self._id = None
                return None
            ev = SseEvent(self._event or "message", "\n".join(self._data), self._id)
            self._event, self._data, self._id = "", [], None
            return ev
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None


def backoff_s(attempt: int, *, initial_s: float = 0.1, max_s: float = 5.0, rng: Callable[[], float]
              = random.random) -> float:
    """Delay before reconnect ``attempt`` (1, 2, ...): capped exponential, full jitter above half."""
    cap: float = min(max_s, initial_s * 2.0 ** (attempt - 1))
    return cap / 2 + rng() * cap / 2


class EventStream:
    """Async iterator over the state's changes (see the module docstring)."""

    def __init__(self, http: Transport, kinds: Iterable[str] | None = None, *, after_seq: int | None = None,
                 last_event_id: str | None = None, reconnect: bool = True, max_attempts: int | None = None,
                 read_timeout_s: float = 60.0, resets: Literal["raise", "yield"] = "raise",
                 backoff: Callable[[int], float] = backoff_s,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.http = http
        self.kinds = ",".join(kinds) if kinds else None
        self.after_seq = after_seq
        #: The id of the last event yielded: resume from it (also after this iterator ended).
        self.last_event_id = last_event_id
        self.reconnect = reconnect
        self.max_attempts = max_attempts
        self.read_timeout_s = read_timeout_s
        self.resets = resets
        self._backoff = backoff
        self._sleep = sleep
        #: Connections made (1 + reconnects).
        self.connections = 0

    def __aiter__(self) -> AsyncGenerator[Change, None]:
        return self._run()

    async def _run(self) -> AsyncGenerator[Change, None]:
        failures = 0
        while True:
            try:
                async for change in self._connection():
                    failures = 0
                    yield change
                reason = "the service closed the stream"
            except EventsOverflow:
                if not self.reconnect:
                    raise
                reason = "cut off for reading too slowly"
            except ServiceError as exc:
                if exc.status < 500 or not self.reconnect:
                    raise
                reason = str(exc)
            except ServiceUnreachable as exc:
                if not self.reconnect:
                    raise
                reason = exc.reason
            if not self.reconnect:
                return
            failures += 1
            if self.max_attempts is not None and failures > self.max_attempts:
                raise ServiceUnreachable(f"{self.http.base_url}/v1/events",
                                         f"gave up after {self.max_attempts} reconnects: {reason}")
            delay = self._backoff(failures)
            log.warning("SSE %s/v1/events: %s; reconnecting in %.2f s from %s", self.http.base_url, reason,
                        delay, self.last_event_id or "now")
            await self._sleep(delay)

    async def _connection(self) -> AsyncIterator[Change]:
        params: dict[str, str | int] = {}
        if self.kinds:
            params["kinds"] = self.kinds
        headers: dict[str, str] = {}
        if self.last_event_id:
            headers["Last-Event-ID"] = self.last_event_id
        elif self.after_seq is not None:
            params["after_seq"] = self.after_seq
        timeout = httpx.Timeout(10.0, read=self.read_timeout_s)
        parser = SseParser()
        try:
            async with self.http.client.stream("GET", "/v1/events", params=params, headers=headers,
                                               timeout=timeout) as resp:
                if resp.status_code >= 300:
                    await resp.aread()
                    raise_for(resp)
                self.connections += 1
                async for line in resp.aiter_lines():
                    ev = parser.line(line)
                    if ev is None:
                        continue
                    if ev.event == "overflow":
                        raise EventsOverflow("the state service cut this SSE client off (too slow)")
                    if ev.event == "reset":
                        reset = msgspec.json.decode(ev.data, type=_Reset)
                        self.after_seq, self.last_event_id = reset.seq, None
                        if self.resets == "raise":
                            raise EventsReset(reset.seq, reset.reason)
                        yield Change(kind="reset", key=reset.stream, seq=reset.seq,
                                     value=msgspec.Raw(b"null"), stream=reset.stream)
                        continue
                    change = _change.decode(ev.data)
                    if ev.id:
                        self.last_event_id = ev.id
                        change = msgspec.structs.replace(change, event_id=ev.id)
                    yield change
        except httpx.TransportError as exc:
            raise ServiceUnreachable(f"{self.http.base_url}/v1/events", f"{type(exc).__name__}: {exc}") \
                from exc
