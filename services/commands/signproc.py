"""Order signing in a child process, so the event loop is free while an order is signed.

Signing an order (typed-data hash and ECDSA, ~0.4-0.7 ms of CPU) was the largest piece of the
place path's own work, and pure CPU under the GIL: overlapping it with the claim's and the
intent's round trips only moved it around on the same core. The child (``python -m
services.commands.signproc``) signs on the other core while this process claims the client id
and publishes the intent; the pipeline awaits the signature just before the venue request.

What is signed is exactly what the inline path signs: :func:`unsigned` runs the REST client's own
:func:`~shared.paradex.rest.orders.build_order` (the body, its Decimal conversions, price 0 for
MARKET types) and records the six values it hands to the signer; the child signs those values
with :meth:`~shared.paradex.signer.OrderSigner.sign_order` for the same key, account and chain
(checked at start: the child's first signature must equal the inline one, byte for byte).

Protocol (pipes, one JSON line each): the parent writes ``{"key", "account", "chain_id"}`` first
(the key never appears in the command line), then ``[id, market, side, type, size, price, ts]``;
the child answers ``[id, signature]`` or ``[id, null, error]``. A child that died, hung or never
started only costs speed: :meth:`SignerProcess.submit` returns None then, and a pending signature
that does not come within ``timeout_s`` is abandoned; the caller signs inline (the same values, so
the same signature). A child that died or hung is started again after ``restart_s`` (doubling up
to ``restart_max_s`` while restarts keep failing; ``restarts`` counts them), so one crash does not
cost the speed for the rest of the process's life.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import sys
from decimal import Decimal
from typing import Any, cast

import msgspec

from shared.errors import SigningError
from shared.paradex.models.requests import OrderRequest
from shared.paradex.rest.orders import build_order
from shared.paradex.signer import OrderSigner

log = logging.getLogger("commands.signproc")

Values = tuple[str, str, str, Decimal, Decimal, int]
"""What an order signature covers: market, side, type, size, price, timestamp (ms)."""


class _Capture:
    """Stands in for the signer inside ``build_order``: records what it would sign."""

    values: Values | None = None

    def sign_order(
        self, market: str, side: str, order_type: str, size: Decimal, price: Decimal, timestamp_ms: int
    ) -> str:
        self.values = (market, side, order_type, size, price, timestamp_ms)
        return ""


def unsigned(**order: Any) -> tuple[OrderRequest, Values]:
    """The order body ``build_order(**order)`` makes (signature empty) and the values to sign."""
    capture = _Capture()
    body = build_order(cast(OrderSigner, capture), **order)
    if capture.values is None:  # build_order always signs; a body without values is a bug here
        raise SigningError("build_order returned without signing")
    return body, capture.values


def signed(body: OrderRequest, signature: str) -> OrderRequest:
    """``body`` with its signature."""
    return msgspec.structs.replace(body, signature=signature)


class SignerProcess:
    """One child process signing orders for one account (module docstring)."""

    def __init__(
        self,
        signer: OrderSigner,
        private_key: str,
        *,
        timeout_s: float = 0.5,
        restart_s: float = 1.0,
        restart_max_s: float = 60.0,
    ) -> None:
        self.signer = signer
        self._key = private_key
        self.timeout_s = timeout_s
        self.restart_s, self.restart_max_s = restart_s, restart_max_s
        self._restart_wait = restart_s
        self._restarting: asyncio.Task[None] | None = None
        self._stopped = False
        self.restarts = 0  #: children started again after one died or hung
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[str]] = {}
        self._ids = itertools.count(1)
        self.ready = False  #: started and checked: orders go to the child
        self._live = False  #: the child's pipes are up
        self.signed = 0  #: signatures made by the child
        self.fallbacks = 0  #: signatures the caller had to make itself

    async def start(self, timeout_s: float = 10.0) -> bool:
        """Start the child and check it signs as this process does; whether it is ready (when
        not, every order is signed inline)."""
        try:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "services.commands.signproc",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            assert self._proc.stdin is not None
            config = {"key": self._key, "account": self.signer.account, "chain_id": self.signer.chain_id}
            self._proc.stdin.write(json.dumps(config).encode() + b"\n")
            self._reader = asyncio.ensure_future(self._read())
            self._live = True
            probe: Values = ("BTC-USD-PERP", "BUY", "LIMIT", Decimal("0.001"), Decimal("1"), 1)
            fut = self._submit(probe)
            got = await asyncio.wait_for(fut, timeout_s) if fut is not None else None
            if got != self.signer.sign_order(*probe):
                raise RuntimeError(f"the child's probe signature differs: {got!r}")
            self.ready = True
        except Exception as exc:
            log.warning("signer process not used (orders are signed inline): %r", exc)
            await self._close()
            return False
        log.info("signer process ready (pid %d)", self._proc.pid)
        return True

    async def _restart(self) -> None:
        """Start a new child after the last one died (the caller signs inline meanwhile)."""
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

    def view(self) -> dict[str, Any]:
        """For /healthz."""
        return {
            "ready": self.ready,
            "signed": self.signed,
            "fallbacks": self.fallbacks,
            "restarts": self.restarts,
        }

    def submit(self, values: Values) -> asyncio.Future[str] | None:
        """Send ``values`` to the child: the future of its signature, or None when the child is
        not there (sign inline)."""
        return self._submit(values) if self.ready else None

    def _submit(self, values: Values) -> asyncio.Future[str] | None:
        proc = self._proc
        if not self._live or proc is None or proc.stdin is None or proc.stdin.is_closing():
            return None
        request_id = next(self._ids)
        market, side, order_type, size, price, ts = values
        line = json.dumps([request_id, market, side, order_type, str(size), str(price), ts])
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = fut
        try:
            proc.stdin.write(line.encode() + b"\n")  # written now when the pipe has room
        except Exception as exc:
            self._pending.pop(request_id, None)
            self._down(f"write failed: {exc!r}")
            return None
        return fut

    async def sign(self, values: Values, fut: asyncio.Future[str] | None) -> str:
        """The signature of ``values``: the child's (``fut``), else made here (a child that does
        not answer within ``timeout_s`` is stopped: every order is signed inline from then on)."""
        if fut is not None:
            try:
                if not fut.done():
                    await asyncio.wait_for(asyncio.shield(fut), self.timeout_s)
                return fut.result()
            except TimeoutError:
                self._down(f"no answer in {self.timeout_s} s")
                if self._proc is not None and self._proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        self._proc.kill()
            except Exception:  # the child refused or died: the same values signed here
                pass
        self.fallbacks += 1
        return self.signer.sign_order(*values)

    async def _read(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        try:
            while line := await proc.stdout.readline():
                answer = json.loads(line)
                fut = self._pending.pop(answer[0], None)
                if fut is None or fut.done():
                    continue
                if answer[1] is None:  # the caller signs inline and meets the same error
                    fut.set_exception(SigningError(str(answer[2])))
                else:
                    self.signed += 1
                    fut.set_result(answer[1])
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._down(f"bad answer: {exc!r}")
            return
        self._down("exited")

    def _down(self, why: str) -> None:
        was_ready = self.ready
        if was_ready:
            log.error(
                "signer process down (%s): orders are signed inline; restarting it in %.1f s",
                why,
                self._restart_wait,
            )
        self.ready = self._live = False
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError(f"signer process down: {why}"))
        if was_ready and not self._stopped and (self._restarting is None or self._restarting.done()):
            self._restarting = asyncio.get_running_loop().create_task(self._restart())

    async def stop(self) -> None:
        """Stop the child for good (pending signatures are made inline by their callers)."""
        self._stopped = True
        if self._restarting is not None:
            self._restarting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._restarting
        await self._close()

    async def _close(self) -> None:
        """Stop the current child and its reader."""
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


def main() -> None:
    """The child: sign every request line until stdin closes."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    # SCHED_BATCH: woken by a request, the child never preempts the service on its core (it did:
    # a write to its pipe took 2 ms at p90 on a busy machine, 70 us with this).
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    config = json.loads(stdin.readline())
    signer = OrderSigner(config.pop("key"), config["account"], config["chain_id"])
    for line in stdin:
        request_id, market, side, order_type, size, price, ts = json.loads(line)
        answer: list[Any]
        try:
            signature = signer.sign_order(market, side, order_type, Decimal(size), Decimal(price), ts)
            answer = [request_id, signature]
        except Exception as exc:  # the caller signs inline and gets the same error
            answer = [request_id, None, str(exc)]
        stdout.write(json.dumps(answer).encode() + b"\n")
        stdout.flush()


if __name__ == "__main__":
    main()
