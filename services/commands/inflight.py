"""Requests in flight in this process: the answer futures duplicates wait on, and the background
tasks (venue sends after ``wait=none``) that must never die unnoticed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from services.commands.core.messages import Answer

log = logging.getLogger("commands.inflight")


class Inflight:
    """One future per client id being sent; duplicates in this process await it."""

    def __init__(self) -> None:
        self._futures: dict[str, asyncio.Future[Answer]] = {}

    def open(self, client_id: str) -> None:
        """Register ``client_id`` as being sent (before its intent event is published)."""
        self._futures[client_id] = asyncio.get_running_loop().create_future()

    def get(self, client_id: str) -> asyncio.Future[Answer] | None:
        return self._futures.get(client_id)

    def __contains__(self, client_id: object) -> bool:
        return client_id in self._futures

    def resolve(self, client_id: str, answer: Answer) -> None:
        """Hand ``answer`` to the duplicates waiting on ``client_id`` (if any)."""
        fut = self._futures.pop(client_id, None)
        if fut is not None and not fut.done():
            fut.set_result(answer)

    def fail(self, client_id: str, exc: BaseException) -> None:
        """The request of ``client_id`` died: its waiters see the error."""
        fut = self._futures.pop(client_id, None)
        if fut is not None and not fut.done():
            fut.set_exception(exc)
            fut.exception()  # nobody may be waiting: mark it retrieved


class Tasks:
    """Background tasks: tracked, their failures logged with the traceback, awaited on stop."""

    def __init__(self) -> None:
        self.running: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self.running.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    async def wait(self, timeout_s: float) -> None:
        """Wait (bounded) for the tasks still running."""
        if self.running:
            await asyncio.wait(list(self.running), timeout=timeout_s)
