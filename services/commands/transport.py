"""How order writes reach the venue: one seam, so a second transport (WebSocket order entry) can
sit beside REST with the same outcome rules.

An :class:`OrderTransport` never raises for a venue failure: every answer is turned into an
outcome by ``core.outcome`` (definite, ambiguous, not sent). A place of one order uses the venue's
single-order endpoint; more go through its batch endpoint (the pipeline sends at most
``VENUE_BATCH_MAX`` per call). ``venue_ms`` of the last call is kept for the audit log.

A venue answer that fails validation (``core.outcome.checked``) is ambiguous; with a
:class:`~shared.bus.gate.RecordGate` the refused record is also dead-lettered on
``pdx.dlq.commands`` (the record, the reason, the path) and logged at a bounded rate. A batch
cancel answer with an item that fails validation (an unknown status...) is ambiguous as a whole:
an unknown status must never read as a definite refusal.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from typing import Protocol, TypeVar

from services.commands.core.outcome import Accepted, Failure, Outcome, Unknown, checked, classify, match_batch
from shared.bus.gate import RecordGate
from shared.paradex import validate
from shared.paradex.models.account import Order
from shared.paradex.models.requests import ModifyOrderRequest, OrderRequest
from shared.paradex.models.rest import CancelBatchResponse
from shared.paradex.rest import ParadexRest
from shared.paradex.validate import Scope

log = logging.getLogger("commands.transport")

T = TypeVar("T")
VENUE_MS: ContextVar[float | None] = ContextVar("venue_ms", default=None)
"""The venue latency (ms) of the last cancel/modify call made in this task (for the audit line)."""


async def timed(call: Callable[[], Awaitable[T]]) -> T:
    started = time.perf_counter()
    try:
        return await call()
    finally:
        VENUE_MS.set((time.perf_counter() - started) * 1000)


class OrderTransport(Protocol):
    """Order writes to the venue, each answer classified."""

    name: str

    async def place(self, orders: Sequence[OrderRequest]) -> tuple[list[Outcome], float]:
        """One outcome per order, in order, and the venue's latency in ms."""
        ...

    async def cancel(self, order_id: str) -> Failure | None: ...

    async def cancel_by_client_id(self, client_id: str, market: str | None) -> Failure | None: ...

    async def cancel_all(self, market: str | None) -> Failure | None: ...

    async def cancel_batch(
        self, order_ids: Sequence[str], client_ids: Sequence[str]
    ) -> CancelBatchResponse | Failure: ...

    async def modify(self, body: ModifyOrderRequest) -> Order | Failure: ...


class RestTransport:
    """Order writes through the REST client (sent once; a 401 is re-sent once by the session)."""

    name = "rest"

    def __init__(
        self,
        rest: ParadexRest,
        scope: Scope | None = None,
        on_invalid: Callable[[str], None] | None = None,
        gate: RecordGate | None = None,
    ) -> None:
        self.rest = rest
        self.scope = scope or Scope()
        self.on_invalid = on_invalid
        self.gate = gate

    async def _dead_letter(self, records: Sequence[object], where: str) -> bool:
        """Dead-letter the records of an answer that fail validation (the gate logs them at a
        bounded rate); False when none did (nothing was logged either)."""
        if self.gate is None:
            return False
        _, dead = self.gate.admit(records, where, time.time_ns())
        await self.gate.publish(dead)
        return bool(dead)

    async def checked(
        self, outcomes: list[Outcome], orders: Sequence[OrderRequest], where: str = ""
    ) -> list[Outcome]:
        """``outcomes`` validated at the edge (``core.outcome.checked``; refused records
        dead-lettered as coming from ``where``). Any transport's place answers go through here."""
        now_ms = int(time.time() * 1000)
        out = [
            checked(o, r.client_id or "", self.scope, now_ms) for o, r in zip(outcomes, orders, strict=True)
        ]
        where = where or ("POST /orders" if len(orders) == 1 else "POST /orders/batch")
        for before, o in zip(outcomes, out, strict=True):
            if isinstance(o, Unknown) and o.invalid:
                if not (isinstance(before, Accepted) and await self._dead_letter([before.order], where)):
                    log.warning("venue answer refused at the edge: %s", o.reason)
                if self.on_invalid is not None:
                    self.on_invalid(o.invalid)
        return out

    async def place(self, orders: Sequence[OrderRequest]) -> tuple[list[Outcome], float]:
        started = time.perf_counter()
        try:
            if len(orders) == 1:
                result: list[Outcome] = [Accepted(await self.rest.create_order(orders[0]))]
            else:
                answer = await self.rest.create_orders(orders)
                result = match_batch([o.client_id or "" for o in orders], answer.orders, answer.errors)
        except Exception as exc:  # every failure is classified, none escapes
            result = [classify(exc)] * len(orders)
        return await self.checked(result, orders), (time.perf_counter() - started) * 1000

    async def cancel(self, order_id: str) -> Failure | None:
        return await timed(lambda: self._none(self.rest.cancel_order(order_id)))

    async def cancel_by_client_id(self, client_id: str, market: str | None) -> Failure | None:
        return await timed(lambda: self._none(self.rest.cancel_order_by_client_id(client_id, market)))

    async def cancel_all(self, market: str | None) -> Failure | None:
        return await timed(lambda: self._none(self.rest.cancel_all_orders(market)))

    async def cancel_batch(
        self, order_ids: Sequence[str], client_ids: Sequence[str]
    ) -> CancelBatchResponse | Failure:
        answer = await timed(lambda: self._value(self.rest.cancel_orders(order_ids, client_ids)))
        return await self.checked_cancels(answer, "DELETE /orders/batch")

    async def checked_cancels(
        self, answer: CancelBatchResponse | Failure, where: str
    ) -> CancelBatchResponse | Failure:
        """A batch cancel answer validated at the edge: one bad item makes it ambiguous."""
        if isinstance(answer, CancelBatchResponse):
            now_ms = int(time.time() * 1000)
            for item in answer.results:
                if (bad := validate.check(item, self.scope, now_ms)) is not None:
                    if self.on_invalid is not None:
                        self.on_invalid(bad.reason)
                    if not await self._dead_letter(answer.results, where):
                        log.warning("venue batch cancel answer refused at the edge: %s", bad)
                    why = f"invalid venue answer: {bad.reason} {bad.field} {bad.detail}".rstrip()
                    return Unknown(reason=why, invalid=bad.reason)
        return answer

    async def modify(self, body: ModifyOrderRequest) -> Order | Failure:
        result = await timed(lambda: self._value(self.rest.modify_order(body)))
        return await self.checked_modify(result, body, "PUT /orders/{id}")

    async def checked_modify(
        self, result: Order | Failure, body: ModifyOrderRequest, where: str
    ) -> Order | Failure:
        """A modify answer validated at the edge and naming the order modified."""
        if isinstance(result, Order):
            bad = validate.check(result, self.scope, int(time.time() * 1000))
            if bad is not None or result.id != body.id:
                why = (
                    f"{bad.reason} {bad.field} {bad.detail}" if bad else f"another order ({result.id[:64]!r})"
                )
                if not await self._dead_letter([result], where):
                    log.warning("venue modify answer refused at the edge: %s", why)
                if self.on_invalid is not None:
                    self.on_invalid(bad.reason if bad else "bad_id")
                return Unknown(
                    reason=f"invalid venue answer: {why}".rstrip(), invalid=bad.reason if bad else "bad_id"
                )
        return result

    @staticmethod
    async def _none(call: Awaitable[None]) -> Failure | None:
        try:
            await call
        except Exception as exc:  # every failure is classified, none escapes
            return classify(exc)
        return None

    @staticmethod
    async def _value(call: Awaitable[T]) -> T | Failure:
        try:
            return await call
        except Exception as exc:  # classified
            return classify(exc)
