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
