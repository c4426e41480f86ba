"""Helpers for the feed's integration tests: read the bus, wait for a condition."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from shared.bus import decode_event
from shared.bus.events import AnyEvent


async def until(done: Callable[[], bool], timeout_s: float = 5.0, what: str = "condition") -> None:
    """Poll ``done`` every 10 ms; AssertionError naming ``what`` after ``timeout_s``."""
    for _ in range(int(timeout_s / 0.01)):
        if done():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def read_stream(js: Any, subject_filter: str, *, expect: int, timeout_s: float = 5.0
                      ) -> list[tuple[AnyEvent, dict[str, str]]]:
    """Events stored on ``subject_filter`` (ordered consumer from the start) with their headers:
    reads until ``expect`` arrived or nothing came for 0.5 s after the deadline."""
    sub = await js.subscribe(subject_filter, ordered_consumer=True)
    out: list[tuple[AnyEvent, dict[str, str]]] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while len(out) < expect and loop.time() < deadline:
            try:
                msg = await sub.next_msg(timeout=0.5)
            except Exception:  # nats TimeoutError: nothing yet
                continue
            out.append((decode_event(msg.data), dict(msg.headers or {})))
    finally:
        await sub.unsubscribe()
    return out


class BusTap:
    """Core NATS subscriptions that collect every event the feed publishes (JetStream publishes
    are delivered to core subscribers too), with subjects and headers."""

    def __init__(self) -> None:
        self.items: list[tuple[str, AnyEvent, dict[str, str]]] = []
        self.raw: list[tuple[str, bytes]] = []
        self._subs: list[Any] = []

    async def start(self, nc: Any, *subject_filters: str) -> BusTap:
        async def on_msg(msg: Any) -> None:
            self.raw.append((msg.subject, msg.data))
            try:
                self.items.append((msg.subject, decode_event(msg.data), dict(msg.headers or {})))
            except Exception:
                pass  # not a bus event (e.g. a reconcile request)

        for f in subject_filters:
            self._subs.append(await nc.subscribe(f, cb=on_msg))
        return self

    async def stop(self) -> None:
        for sub in self._subs:
            await sub.unsubscribe()

    def of(self, cls: type) -> list[Any]:
        """Events of type ``cls`` in arrival order."""
        return [e for _, e, _ in self.items if isinstance(e, cls)]
