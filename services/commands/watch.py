"""``wait=ws``: wait until the WebSocket feed confirms an order OPEN/UNTRIGGERED/CLOSED.

Choice: a core NATS subscription on the account's ``order`` subject of the ACCOUNT stream (JetStream
delivers stored messages to core subscribers too). Only ``source == "ws"`` OrderEvents count: that
is the venue's WebSocket confirmation, exactly what the state service folds. An IOC or MARKET order
is confirmed only by its CLOSED update (the venue shows it OPEN for an instant before the outcome).
This needs the feed (not the state service) to be running, and costs no Redis polling per waiting
request.

The same subscription (plus one on the account's ``lookup_result`` subject) resolves places whose
outcome is ``unknown``: the first venue record of such a client id (a WS/REST OrderEvent, or a
LookupResult that found it) is handed to ``on_truth`` so the stored idempotency reply can be
corrected. The set of unresolved client ids is in memory: after a restart a stored ``unknown`` stays
unknown (the state service still folds the lookup; the strategy reads the truth there).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from shared.bus import LookupResult, OrderEvent, decode_event
from shared.bus.subjects import account_subject
from shared.errors import DecodeError
from shared.paradex.models.account import Order

log = logging.getLogger("commands.watch")
CONFIRMED = frozenset({"OPEN", "UNTRIGGERED", "CLOSED"})
#: An IOC (or MARKET) order is shown OPEN for an instant before its outcome: wait for the terminal.
TERMINAL_ONLY = frozenset({"CLOSED"})


class OrderWatch:
    """Futures keyed by client id, resolved by the first WS confirmation of that order."""

    def __init__(self, nc: Any, account: str) -> None:
        self.nc = nc
        self.subject = account_subject(account, "order")
        self.lookup_subject = account_subject(account, "lookup_result")
        self.waiters: dict[str, list[tuple[asyncio.Future[Order], frozenset[str]]]] = {}
        #: client id -> strategy of places answered ``unknown``, until the venue's record shows up.
        self.unresolved: dict[str, str] = {}
        #: Called (as a task) with (strategy, order) when an unresolved client id's record arrives.
        self.on_truth: Callable[[str, Order], Awaitable[None]] | None = None
        self._subs: list[Any] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._subs = [
            await self.nc.subscribe(self.subject, cb=self._on_msg),
            await self.nc.subscribe(self.lookup_subject, cb=self._on_msg),
        ]

    async def stop(self) -> None:
        for sub in self._subs:
            await sub.unsubscribe()
        self._subs = []
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)

    def expect(self, client_id: str, statuses: frozenset[str] = CONFIRMED) -> asyncio.Future[Order]:
        """A future for the next WS update of ``client_id`` in one of ``statuses`` (register BEFORE
        sending)."""
        fut: asyncio.Future[Order] = asyncio.get_running_loop().create_future()
        self.waiters.setdefault(client_id, []).append((fut, statuses))
        return fut

    def forget(self, client_id: str, fut: asyncio.Future[Order]) -> None:
        """Stop waiting (timeout, rejection)."""
        futs = self.waiters.get(client_id)
        if futs:
            futs[:] = [w for w in futs if w[0] is not fut]
            if not futs:
                del self.waiters[client_id]
        if not fut.done():
            fut.cancel()

    async def _on_msg(self, msg: Any) -> None:
        if not self.waiters and not self.unresolved:
            return
        try:
            event = decode_event(msg.data)
        except DecodeError as exc:
            log.warning("undecodable order event: %s", exc)
            return
        order = event.order if isinstance(event, OrderEvent | LookupResult) else None
        if order is None:
            return
        if order.client_id in self.unresolved and self.on_truth is not None:
            strategy = self.unresolved.pop(order.client_id)
            task = asyncio.ensure_future(self.on_truth(strategy, order))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if not isinstance(event, OrderEvent) or event.source != "ws":
            return
        futs = self.waiters.get(order.client_id)
        if not futs:
            return
        keep = []
        for fut, statuses in futs:
            if order.status in statuses:
                if not fut.done():
                    fut.set_result(order)
            elif not fut.done():
                keep.append((fut, statuses))
        if keep:
            futs[:] = keep
        else:
            del self.waiters[order.client_id]
