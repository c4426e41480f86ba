"""``wait=ws``: wait until the WebSocket feed confirms an order OPEN/UNTRIGGERED/CLOSED.

Choice: a core NATS subscription on the account's ``order`` subject of the ACCOUNT stream (JetStream
delivers stored messages to core subscribers too). Only ``source == "ws"`` OrderEvents count: that
is the venue's WebSocket confirmation, exactly what the state service folds. An IOC or MARKET order
is confirmed only by its CLOSED update (the venue shows it OPEN for an instant before the outcome).
This needs the feed (not the state service) to be running, and costs no Redis polling per waiting
request.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from shared.bus import OrderEvent, decode_event
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
        self.waiters: dict[str, list[tuple[asyncio.Future[Order], frozenset[str]]]] = {}
        self._sub: Any = None

    async def start(self) -> None:
        self._sub = await self.nc.subscribe(self.subject, cb=self._on_msg)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

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
        if not self.waiters:
            return
        try:
            event = decode_event(msg.data)
        except DecodeError as exc:
            log.warning("undecodable order event: %s", exc)
            return
        if not isinstance(event, OrderEvent) or event.source != "ws":
            return
        order = event.order
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
