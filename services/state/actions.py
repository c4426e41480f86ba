"""Turns the core's actions into ReconcileRequests on ``RECONCILE_REQUEST``, coalescing repeats."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from services.state.core import Action
from shared.bus.requests import ReconcileRequest, encode_request
from shared.bus.subjects import RECONCILE_REQUEST

log = logging.getLogger("state.actions")


def to_requests(actions: Iterable[Action]) -> list[ReconcileRequest]:
    """One request per distinct reconcile reason, one per lookup reason naming every order."""
    out: dict[str, ReconcileRequest] = {}
    lookups: dict[str, tuple[list[str], list[str]]] = {}
    for a in actions:
        if a.kind == "reconcile":
            out.setdefault(a.reason, ReconcileRequest(reason=a.reason))
        else:
            ids, cids = lookups.setdefault(a.reason, ([], []))
            if a.order_id and a.order_id not in ids:
                ids.append(a.order_id)
            if a.client_id and a.client_id not in cids:
                cids.append(a.client_id)
    reqs = list(out.values())
    reqs += [ReconcileRequest(reason=r, order_ids=tuple(i), client_ids=tuple(c))
             for r, (i, c) in lookups.items()]
    return reqs


class ReconcileRequester:
    """Publishes requests, dropping one identical to a request sent less than ``coalesce_s`` ago."""

    def __init__(self, nc: Any, coalesce_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.nc = nc
        self.coalesce_s = coalesce_s
        self.clock = clock
        self._recent: dict[ReconcileRequest, float] = {}
        self.sent = 0
        self.coalesced = 0
        self.failed = 0

    async def perform(self, actions: Iterable[Action]) -> None:
        """Send the requests the actions call for."""
        for req in to_requests(actions):
            await self.send(req)

    async def send(self, req: ReconcileRequest) -> bool:
        """Publish ``req`` unless an identical one went out recently; True when sent."""
        now = self.clock()
        last = self._recent.get(req)
        if last is not None and now - last < self.coalesce_s:
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
