"""CPU work in a child process, one JSON line per request, so an event loop stays free meanwhile.

Used where one request's pure-Python CPU would otherwise hold a busy event loop on one core while
the machine's other core idles: the commands service signs orders in one
(``services.commands.signproc``), the simulator checks order signatures in one
(``services.simulator.verifyproc``).

Protocol (the child's stdin and stdout): the parent writes one JSON object first, the child's
configuration (secrets never appear in its command line), then one JSON array per request,
``[id, *args]``; the child answers each with ``[id, 1, value]`` or ``[id, 0, "error text"]``
(:func:`serve`). A child that died, hung or never started only costs speed: :meth:`submit`
returns None then, a pending answer that does not come within ``timeout_s`` is abandoned, and the
caller does the work itself (the same function, so the same result). A child that died or hung
is started again after ``restart_s`` (doubling up to ``restart_max_s`` while restarts keep
failing; ``restarts`` counts them), so one crash does not cost the speed for the rest of the
process's life.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("shared.linechild")


class ChildRefused(Exception):
    """The child answered a request with an error (the caller redoes it and meets the same one)."""


class ChildDown(ConnectionError):
    """The child died, hung or was stopped before it answered."""


class LineChild:
    """One child process, ``python -m <module>``, answering requests (module docstring).

    ``check`` runs after each start: it sends probe requests (:meth:`send`) and raises when an
    answer differs from what this process computes (a child that is not what we think is never
    used). An error answer is raised as ``refused`` (default :class:`ChildRefused`)."""

    def __init__(
        self,
        module: str,
        config: dict[str, Any],
        *,
        name: str,
        check: Callable[[LineChild], Awaitable[None]] | None = None,
        refused: type[Exception] = ChildRefused,
        timeout_s: float = 0.5,
        restart_s: float = 1.0,
        restart_max_s: float = 60.0,
    ) -> None:
        self.module, self.name = module, name
        self._config = config
        self._check = check
        self._refused = refused
        self.timeout_s = timeout_s
        self.restart_s, self.restart_max_s = restart_s, restart_max_s
        self._restart_wait = restart_s
        self._restarting: asyncio.Task[None] | None = None
        self._stopped = False
        self.restarts = 0  #: children started again after one died or hung
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self.ready = False  #: started and checked: requests go to the child
        self._live = False  #: the child's pipes are up
        self.answered = 0  #: requests the child answered
        self.fallbacks = 0  #: requests the caller had to do itself

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.returncode is None else None

    async def start(self, timeout_s: float = 10.0) -> bool:
        """Start the child and run the check; whether it is ready (when not, callers do the work)."""
        try:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", self.module,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            )
            assert self._proc.stdin is not None
            self._proc.stdin.write(json.dumps(self._config).encode() + b"\n")
            self._reader = asyncio.ensure_future(self._read())
            self._live = True
            if self._check is not None:
                await asyncio.wait_for(self._check(self), timeout_s)
            self.ready = True
        except Exception as exc:
            log.warning("%s process not used (the work is done in this process): %r", self.name, exc)
            await self._close()
            return False
        log.info("%s process ready (pid %d)", self.name, self._proc.pid)
        return True

    def submit(self, *args: Any) -> asyncio.Future[Any] | None:
        """Send one request: the future of its answer, or None when the child is not there."""
        return self.send(*args) if self.ready else None

    def send(self, *args: Any) -> asyncio.Future[Any] | None:
        """:meth:`submit` before the child is checked (the check's own probes)."""
        proc = self._proc
        if not self._live or proc is None or proc.stdin is None or proc.stdin.is_closing():
            return None
        request_id = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = fut
        try:
            proc.stdin.write(json.dumps([request_id, *args]).encode() + b"\n")  # now, when the pipe has room
        except Exception as exc:
            self._pending.pop(request_id, None)
            self._down(f"write failed: {exc!r}")
            return None
        return fut

    async def result(self, fut: asyncio.Future[Any]) -> Any:
        """The child's answer to ``fut``; raises :class:`ChildRefused` for an error answer and
        :class:`ChildDown` when it died or did not answer within ``timeout_s`` (then it is
        stopped and started again later). Either way the caller does the work itself."""
        try:
            if not fut.done():
                # asyncio.timeout, not wait_for(shield(...)): on Python 3.11 those add two loop
                # turns to every answer. A timeout cancels ``fut``; the reader skips a done future.
                async with asyncio.timeout(self.timeout_s):
                    await fut
            return fut.result()
        except TimeoutError:
            self.fallbacks += 1
            self._down(f"no answer in {self.timeout_s} s")
            if self._proc is not None and self._proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    self._proc.kill()
            raise ChildDown(f"{self.name} process did not answer") from None
        except Exception:
            self.fallbacks += 1
            raise

    def view(self) -> dict[str, Any]:
        """For /healthz."""
        return {"ready": self.ready, "answered": self.answered, "fallbacks": self.fallbacks,
                "restarts": self.restarts}

    async def _read(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        try:
            while line := await proc.stdout.readline():
                request_id, ok, value = json.loads(line)
                fut = self._pending.pop(request_id, None)
                if fut is None or fut.done():
                    continue
                if ok:
                    self.answered += 1
                    fut.set_result(value)
                else:
                    fut.set_exception(self._refused(str(value)))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._down(f"bad answer: {exc!r}")
            return
        self._down("exited")

    def _down(self, why: str) -> None:
        was_ready = self.ready
        if was_ready:
            log.error("%s process down (%s): the work is done in this process; restarting it in %.1f s",
                      self.name, why, self._restart_wait)
        self.ready = self._live = False
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(ChildDown(f"{self.name} process down: {why}"))
        if was_ready and not self._stopped and (self._restarting is None or self._restarting.done()):
            self._restarting = asyncio.get_running_loop().create_task(self._restart())

    async def _restart(self) -> None:
        while not self._stopped:
            await asyncio.sleep(self._restart_wait)
            if self._stopped:
                return
            await self._close()
            self.restarts += 1
            if await self.start():
                self._restart_wait = self.restart_s
                return
            self._restart_wait = min(self.restart_max_s, self._restart_wait * 2)

    async def stop(self) -> None:
        """Stop the child for good (pending requests are done by their callers)."""
        self._stopped = True
        if self._restarting is not None:
            self._restarting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._restarting
        await self._close()

    async def _close(self) -> None:
        self.ready = False
        self._down("stopped")
        proc = self._proc
        if proc is not None and proc.returncode is None:
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 2.0)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        reader, self._reader = self._reader, None
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader


def serve(setup: Callable[[dict[str, Any]], Callable[..., Any]], *, batch: bool = True) -> None:
    """The child's main loop: ``setup(config)`` returns the handler; every request line's
    arguments go to it, and its value (or its exception's text) is answered, until stdin closes.

    The child runs as ``SCHED_BATCH``: woken by a request, it never preempts the parent on its
    core (it did: a write to the commands signer's pipe took 2 ms at p90 on a busy machine, 70 us
    with this)."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    if batch:
        with contextlib.suppress(OSError, AttributeError):
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    handle = setup(json.loads(stdin.readline()))
    for line in stdin:
        request_id, *args = json.loads(line)
        try:
            answer = [request_id, 1, handle(*args)]
        except Exception as exc:
            answer = [request_id, 0, str(exc)]
        stdout.write(json.dumps(answer).encode() + b"\n")
        stdout.flush()
