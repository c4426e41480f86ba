"""Lookups: find the venue's record of orders named by id or client id (DESIGN.md rule 5).

By id: the run's own open orders, else ``GET /orders/{id}``. By client id: the run's open
orders, else ``GET /orders/by_client_id/{client_id}``, else ``GET /orders-history?client_id=``
(the venue documents the by-client-id endpoint for open orders only). A not-found answer from
the venue gives ``found=False``; a failure (5xx, timeout, auth...) gives ``found=False`` WITH
the error text, which the state service must not read as "the order does not exist".

With a :class:`~services.reconciler.gate.RecordGate`, an order the venue returned is validated
first: a refused one is dead-lettered and the result carries no order, ``found=False`` and the
refusal as its error (so it is never served, nor read as "not found").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from services.reconciler.fetch import Limiter
from services.reconciler.gate import RecordGate
from shared.bus.events import Event, LookupResult
from shared.errors import BusError, DecodeError, VenueError
from shared.paradex.models.account import Order
from shared.paradex.rest import ParadexRest

log = logging.getLogger("reconciler.lookup")

Publish = Callable[[Event], Awaitable[int]]
CONCURRENCY = 4
"""Lookups in flight at once: a burst of stuck orders is answered in a quarter of the time while
the shared token bucket still paces every request."""


def is_not_found(exc: BaseException) -> bool:
    """True when the venue said the order does not exist (not a failure to answer)."""
    return isinstance(exc, VenueError) and (exc.status == 404 or exc.code.endswith("NOT_FOUND"))


class Lookups:
    """Resolves order ids and client ids against the venue, paced by ``limiter``."""

    def __init__(self, rest: ParadexRest, limiter: Limiter, *, timeout_s: float = 30.0,
                 clock_ns: Callable[[], int] = time.time_ns, gate: RecordGate | None = None) -> None:
        self.rest = rest
        self.gate = gate
        self.limiter = limiter
        self.timeout_s = timeout_s
        self._clock_ns = clock_ns

    async def _get(self, make: Callable[[], Awaitable[Any]], where: str) -> Any:
        await self.limiter.acquire()
        try:
            async with asyncio.timeout(self.timeout_s):
                return await make()
        except DecodeError as exc:
            if self.gate is not None:
                await self.gate.publish([self.gate.undecodable(exc, where)])
            raise

    async def _admit(self, orders: list[Order], where: str) -> tuple[list[Order], str]:
        """The orders that pass validation, and the refusal text when any did not."""
        if self.gate is None:
            return orders, ""
        good, dead = self.gate.admit(orders, where, self._clock_ns())
        if not dead:
            return good, ""
        await self.gate.publish(dead)
        first = dead[0]
        return good, f"refused by validation: {first.reason} at {first.field} ({first.detail})"

    async def _checked(self, order_id: str, client_id: str, order: Order, where: str) -> LookupResult:
        good, refused = await self._admit([order], where)
        return self._result(order_id, client_id, good[0] if good else None, refused)

    def _result(self, order_id: str, client_id: str, order: Order | None, error: str = "") -> LookupResult:
        ts = order.last_updated_at if order is not None else 0
        return LookupResult(source="rest", order_id=order_id, client_id=client_id, found=order is not None,
                            order=order, error=error, venue_ts_ms=ts, recv_ns=self._clock_ns())

    async def by_id(self, order_id: str) -> LookupResult:
        """Look one order up by exchange id."""
        try:
            order = await self._get(lambda: self.rest.order(order_id), "GET /orders/{id}")
        except BusError:
            raise
        except Exception as exc:
            if is_not_found(exc):
                return self._result(order_id, "", None)
            return self._result(order_id, "", None, _text(exc))
        return await self._checked(order_id, "", order, "GET /orders/{id}")

    async def by_client_id(self, client_id: str) -> LookupResult:
        """Look one order up by client id (open first, then the order history)."""
        try:
            order = await self._get(lambda: self.rest.order_by_client_id(client_id),
                                    "GET /orders/by_client_id/{client_id}")
            return await self._checked("", client_id, order, "GET /orders/by_client_id/{client_id}")
        except Exception as exc:
            if not is_not_found(exc):
                return self._result("", client_id, None, _text(exc))
        try:
            page = await self._get(lambda: self.rest.orders_history(client_id=client_id, page_size=10),
                                   "GET /orders-history")
        except Exception as exc:
            if is_not_found(exc):
                return self._result("", client_id, None)
            return self._result("", client_id, None, _text(exc))
        matches, refused = await self._admit([o for o in page.results if o.client_id == client_id],
                                             "GET /orders-history")
        if not matches:
            return self._result("", client_id, None, refused)
        return self._result("", client_id, max(matches, key=lambda o: (o.last_updated_at, o.seq_no)))

    async def resolve(self, order_ids: Sequence[str], client_ids: Sequence[str], open_orders: Sequence[Order],
                      publish: Publish) -> list[LookupResult]:
        """Look every id up (answering from ``open_orders`` when it holds the order), at most
        :data:`CONCURRENCY` at once (each still takes its rate-limit token), and publish each
        result as soon as it is known (results in id order)."""
        by_id = {o.id: o for o in open_orders}
        by_cid = {o.client_id: o for o in open_orders if o.client_id}
        slots = asyncio.Semaphore(CONCURRENCY)

        async def one(oid: str, cid: str) -> LookupResult:
            hit = by_id.get(oid) if oid else by_cid.get(cid)
            if hit is not None:
                result = self._result(oid, cid, hit)
            else:
                async with slots:
                    result = await (self.by_id(oid) if oid else self.by_client_id(cid))
            await publish(result)
            return result

        results = list(await asyncio.gather(*(one(oid, "") for oid in order_ids),
                                            *(one("", cid) for cid in client_ids)))
        for r in results:
            if r.error:
                log.warning("lookup %s%s failed: %s", r.order_id, r.client_id, r.error)
        return results


def _text(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
