"""Supervision of the feed's long-running tasks: none can die unnoticed.

Each task (the connection reader, the account, market and dead-letter publishers, the status
ticker) runs under :meth:`Supervisor.spawn`. An unexpected exception is logged with its
traceback and counted (``feed_task_restarts_total{task}``), and the task is started again after
a short, growing pause. A task that fails ``max_restarts`` times within ``window_s`` is declared
dead: logged as CRITICAL, reported by ``/healthz`` (503), and :attr:`Supervisor.failed` is set,
which makes ``python -m services.feed`` exit non-zero so that its own supervisor (compose,
systemd, Kubernetes) restarts the process. A task that returns normally is ``stopped``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

log = logging.getLogger("feed.supervise")

TaskState = Literal["running", "restarting", "dead", "stopped"]


@dataclass(slots=True)
class TaskInfo:
    """What ``/healthz`` reports of one supervised task."""

    name: str
    state: TaskState = "running"
    restarts: int = 0
    last_error: str = ""
    failures: list[float] = field(default_factory=list)  # monotonic times within the window


class Supervisor:
    """Runs named coroutine factories, restarting them on failure (see the module docstring).
    ``on_failure(name)`` is called for every failure (a metric)."""

    def __init__(self, *, max_restarts: int = 5, window_s: float = 60.0, pause_s: float = 0.1,
                 max_pause_s: float = 5.0, on_failure: Callable[[str], None] | None = None) -> None:
        self.max_restarts = max_restarts
        self.window_s = window_s
        self.pause_s = pause_s
        self.max_pause_s = max_pause_s
        self.on_failure = on_failure
        self.tasks: dict[str, TaskInfo] = {}
        self.failed = asyncio.Event()
        self._running: dict[str, asyncio.Task[None]] = {}

    def spawn(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        """Run ``factory()`` as task ``name`` until it returns or :meth:`stop`."""
        self.tasks[name] = info = TaskInfo(name)
        self._running[name] = asyncio.create_task(self._run(info, factory), name=f"feed-{name}")

    @property
    def healthy(self) -> bool:
        """No task is dead or restarting."""
        return all(t.state in ("running", "stopped") for t in self.tasks.values())

    def report(self) -> dict[str, dict[str, object]]:
        """Per task: state, restarts, last error."""
        return {n: {"state": t.state, "restarts": t.restarts, "last_error": t.last_error}
                for n, t in self.tasks.items()}

    async def wait(self, name: str, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for task ``name`` to end; True when it did."""
        task = self._running.get(name)
        if task is None:
            return True
        done, _ = await asyncio.wait({task}, timeout=timeout_s)
        return bool(done)

    async def stop(self, *names: str) -> None:
        """Cancel the named tasks (all when none is named) and wait for them."""
        for name in names or tuple(self._running):
            task = self._running.pop(name, None)
            if task is None:
                continue
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            info = self.tasks[name]
            if info.state != "dead":
                info.state = "stopped"

    async def _run(self, info: TaskInfo, factory: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await factory()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the point of supervision: log, count, restart or give up
                now = time.monotonic()
                info.failures = [t for t in info.failures if now - t < self.window_s] + [now]
                info.last_error = f"{type(exc).__name__}: {exc}"[:300]
                if self.on_failure is not None:
                    self.on_failure(info.name)
                if len(info.failures) > self.max_restarts:
                    info.state = "dead"
                    log.critical("task %s failed %d times in %.0f s; giving up (the process should be "
                                 "restarted): %s", info.name, len(info.failures), self.window_s,
                                 info.last_error, exc_info=exc)
                    self.failed.set()
                    return
                pause = min(self.max_pause_s, self.pause_s * 2 ** (len(info.failures) - 1))
                info.state = "restarting"
                info.restarts += 1
                log.error("task %s failed; restarting in %.2f s", info.name, pause, exc_info=exc)
                await asyncio.sleep(pause)
                info.state = "running"
                continue
            info.state = "stopped"
            return
