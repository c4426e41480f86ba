"""What the commands service tells the rest of the system: command events on the ACCOUNT stream
and lookup requests to the reconciler. One narrow dependency for the place, cancel and modify
paths, so none of them holds a NATS client."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from shared.bus import EventPublisher, subjects
from shared.bus.events import Event
from shared.bus.requests import ReconcileRequest, encode_request
from shared.errors import BusError

log = logging.getLogger("commands.outbox")


class Outbox:
    """Publishes command events (JetStream, acked) and reconcile requests (core NATS)."""

    def __init__(self, publisher: EventPublisher, nc: Any) -> None:
        self.publisher = publisher
        self.nc = nc

    async def intents(self, events: Sequence[Event]) -> list[int] | None:
        """Publish intent events, all acked: their stream sequences, or None when the bus did not
        store them all (the command must then not be sent)."""
        try:
            if len(events) == 1:  # one order: no task of its own (gather's costs a loop turn)
                return [await self.publisher.publish(events[0])]
            return list(await asyncio.gather(*(self.publisher.publish(ev) for ev in events)))
        except BusError as exc:
            log.error("intent events not stored, nothing sent: %s", exc)
            return None

    async def outcomes(self, events: Sequence[Event]) -> None:
        """Publish outcome events; a bus failure is logged (the state's in-flight check looks the
        orders up, so a lost outcome event delays the truth but never falsifies it)."""
        if not events:
            return
        try:
            if len(events) == 1:
                await self.publisher.publish(events[0])
                return
            await asyncio.gather(*(self.publisher.publish(ev) for ev in events))
        except BusError as exc:
            log.error("%d outcome events not stored: %s", len(events), exc)

    async def lookup(
        self,
        reason: str,
        order_ids: Sequence[str] = (),
        client_ids: Sequence[str] = (),
        *,
        snapshot: bool = False,
    ) -> None:
        """Ask the reconciler to look these orders up (a full snapshot if ``snapshot``)."""
        oids = tuple(o for o in order_ids if o)
        cids = tuple(c for c in client_ids if c)
        if not (oids or cids or snapshot):
            return
        request = ReconcileRequest(reason=reason, order_ids=oids, client_ids=cids)
        try:
            await self.nc.publish(subjects.RECONCILE_REQUEST, encode_request(request))
        except Exception as exc:  # core NATS publish fails only when disconnected
            log.error("reconcile request %s not sent: %r", reason, exc)
