"""Turns the core's actions into ReconcileRequests on ``RECONCILE_REQUEST``, coalescing repeats."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from services.state.core import Action
from services.state.core.model import LOOKUP_LATER
from shared.bus.requests import ReconcileRequest, encode_request
from shared.bus.subjects import RECONCILE_REQUEST

log = logging.getLogger("state.actions")


FULL = frozenset({"open_orders", "order_history", "positions", "account", "balances", "fills"})


def to_requests(actions: Iterable[Action]) -> list[ReconcileRequest]:
    """One request per distinct reconcile reason (the union of its parts, fills from the earliest
    ``since_ms``; no parts, or all of them, is a full snapshot), one per lookup reason naming
    every order."""
    parts: dict[str, set[str] | None] = {}
    since: dict[str, int] = {}
    lookups: dict[str, tuple[list[str], list[str]]] = {}
    for a in actions:
        if a.kind == "reconcile":
            full = not a.parts or FULL <= set(a.parts)
            held = parts.get(a.reason, set())
            parts[a.reason] = None if full or held is None else held | set(a.parts)
            if a.since_ms and (a.reason not in since or a.since_ms < since[a.reason]):
                since[a.reason] = a.since_ms
        else:
            ids, cids = lookups.setdefault(a.reason, ([], []))
            if a.order_id and a.order_id not in ids:
                ids.append(a.order_id)
            if a.client_id and a.client_id not in cids:
                cids.append(a.client_id)
    reqs = [ReconcileRequest(reason=r, parts=tuple(sorted(p)), since_ms=since.get(r, 0))
            if p else ReconcileRequest(reason=r) for r, p in parts.items()]
    reqs += [ReconcileRequest(reason=r, order_ids=tuple(i), client_ids=tuple(c))
             for r, (i, c) in lookups.items()]
    return reqs


class ReconcileRequester:
    """Publishes requests, dropping one identical to a request sent less than ``coalesce_s`` ago."""

    def __init__(self, nc: Any, coalesce_s: float = 1.0, clock: Callable[[], float] = time.monotonic,
                 later_s: float = 0.5) -> None:
        self.nc = nc
        self.coalesce_s = coalesce_s
        self.later_s = later_s  # lookups with the reason LOOKUP_LATER wait this long (the lookup grace)
        self._later: set[asyncio.Task[None]] = set()
        self.clock = clock
        self._recent: dict[ReconcileRequest, float] = {}
        self.sent = 0
        self.coalesced = 0
        self.failed = 0

    async def perform(self, actions: Iterable[Action]) -> None:
        """Send the requests the actions call for (lookups of :data:`LOOKUP_LATER` after
        ``later_s``, in the background)."""
        for req in to_requests(actions):
            if req.reason == LOOKUP_LATER and self.later_s > 0:
                task = asyncio.ensure_future(self._send_later(req))
                self._later.add(task)
                task.add_done_callback(self._later.discard)
            else:
                await self.send(req)

    async def _send_later(self, req: ReconcileRequest) -> None:
        await asyncio.sleep(self.later_s)
        await self.send(req)

    def cancel_later(self) -> None:
        """Drop the lookups still waiting (shutdown)."""
        for task in list(self._later):
            task.cancel()

    async def send(self, req: ReconcileRequest, *, force: bool = False) -> bool:
        """Publish ``req`` unless an identical one went out recently (``force``: a timed retry,
        sent anyway); True when sent."""
        now = self.clock()
        last = self._recent.get(req)
        if not force and last is not None and now - last < self.coalesce_s:
            self.coalesced += 1
            return False
        if len(self._recent) > 1000:
            self._recent = {r: t for r, t in self._recent.items() if now - t < self.coalesce_s}
        self._recent[req] = now
        try:
            await self.nc.publish(RECONCILE_REQUEST, encode_request(req))
        except Exception as exc:  # NATS down: the reconciler's periodic run covers it
            self.failed += 1
            log.error("reconcile request %s not sent: %r", req, exc)
            return False
        self.sent += 1
        log.info("reconcile requested: %s", req)
        return True
