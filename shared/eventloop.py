"""The event loop a service runs on: ``uvloop`` (when installed) or the stock ``asyncio`` loop.

Each service's settings carry ``event_loop`` (``FEED_EVENT_LOOP``, ``STATE_EVENT_LOOP``,
``COMMANDS_EVENT_LOOP``); its ``__main__`` runs through :func:`run`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, Literal

log = logging.getLogger("eventloop")

EventLoop = Literal["uvloop", "asyncio"]


def run(coro: Coroutine[Any, Any, int], loop: str) -> int:
    """Run ``coro`` to completion on ``loop`` (``uvloop`` falls back to asyncio, with a warning,
    when uvloop is not installed); its result is the exit code."""
    if loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            log.warning("uvloop not installed: using the asyncio event loop")
        else:
            return uvloop.run(coro)
    return asyncio.run(coro)
