"""How order writes reach the venue: one seam, so a second transport (WebSocket order entry) can
sit beside REST with the same outcome rules.

An :class:`OrderTransport` never raises for a venue failure: every answer is turned into an
outcome by ``core.outcome`` (definite, ambiguous, not sent). A place of one order uses the venue's
single-order endpoint; more go through its batch endpoint (the pipeline sends at most
``VENUE_BATCH_MAX`` per call). ``venue_ms`` of the last call is kept for the audit log.

With a :class:`~shared.bus.gate.RecordGate`, the venue's success answers are validated before
they become events (:mod:`shared.paradex.validate`: our account, finite bounded numbers, known
enums...). A 2xx whose order record is garbage proves nothing: it is dead-lettered
(``pdx.dlq.commands``), counted, and the outcome is ambiguous (:class:`Unknown`, resolved by a
lookup like any unparseable answer); a batch cancel answer with a refused item is ambiguous as a
whole.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

from services.commands.core.outcome import Accepted, Failure, Outcome, Unknown, classify, match_batch
from shared.bus.gate import RecordGate
from shared.paradex.models.account import Order
from shared.paradex.models.requests import ModifyOrderRequest, OrderRequest
from shared.paradex.models.rest import CancelBatchResponse
from shared.paradex.rest import ParadexRest


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

    def __init__(self, rest: ParadexRest, gate: RecordGate | None = None) -> None:
        self.rest = rest
        self.gate = gate

    async def _refused(self, records: Sequence[object], where: str) -> str:
        """``""`` when every record passes validation, else why not (the refused ones are
        dead-lettered)."""
        if self.gate is None:
            return ""
        _, dead = self.gate.admit(records, where, time.time_ns())
        if not dead:
            return ""
        await self.gate.publish(dead)
        d = dead[0]
        return f"venue answer refused by validation: {d.reason} at {d.field} ({d.detail})"

    async def _checked(self, outcome: Outcome, where: str) -> Outcome:
        if isinstance(outcome, Accepted):
            refused = await self._refused([outcome.order], where)
            if refused:
                return Unknown(reason=refused)
        return outcome

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
        where = "POST /orders" if len(orders) == 1 else "POST /orders/batch"
        result = [await self._checked(o, where) for o in result]
        return result, (time.perf_counter() - started) * 1000

    async def cancel(self, order_id: str) -> Failure | None:
        try:
            await self.rest.cancel_order(order_id)
        except Exception as exc:  # classified
            return classify(exc)
        return None

    async def cancel_by_client_id(self, client_id: str, market: str | None) -> Failure | None:
        try:
            await self.rest.cancel_order_by_client_id(client_id, market)
        except Exception as exc:  # classified
            return classify(exc)
        return None

    async def cancel_all(self, market: str | None) -> Failure | None:
        try:
            await self.rest.cancel_all_orders(market)
        except Exception as exc:  # classified
            return classify(exc)
        return None

    async def cancel_batch(
        self, order_ids: Sequence[str], client_ids: Sequence[str]
    ) -> CancelBatchResponse | Failure:
        try:
            answer = await self.rest.cancel_orders(order_ids, client_ids)
        except Exception as exc:  # classified
            return classify(exc)
        refused = await self._refused(answer.results, "DELETE /orders/batch")
        return Unknown(reason=refused) if refused else answer

    async def modify(self, body: ModifyOrderRequest) -> Order | Failure:
        try:
            order = await self.rest.modify_order(body)
        except Exception as exc:  # classified
            return classify(exc)
        refused = await self._refused([order], "PUT /orders/{id}")
        return Unknown(reason=refused) if refused else order
