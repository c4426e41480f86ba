"""``PUT /v1/orders/{order_id}``: modify an order's size/price.

Same rules and limits as a new order (minus the open-order count; the size the order already has
left is taken away from the position check), a signed ``ModifyOrder``, CmdModifyRequested before
the venue call. A modify keeps the order's market, side and type: a request that changes one is
refused with 422 (``MODIFY_SIDE_MISMATCH``/``MODIFY_TYPE_MISMATCH``/``MODIFY_MARKET_MISMATCH``)
before the venue, judged from the stored accepted answer of the order's client id (else the
live-order view).

Venue failures: a definite refusal (and not-sent, code ``NOT_SENT``) publishes
``CmdModifyFailed`` (the state clears PENDING_MODIFY at once); an ambiguous one publishes
``CmdModifyUnknown`` and a lookup of the order.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from services.commands.budget import Budget
from services.commands.core import answers, events
from services.commands.core.exposure import ExposureBook
from services.commands.core.messages import Answer, CommandReply, ModifyOrder
from services.commands.core.outcome import NotSent, Unknown
from services.commands.core.risk import check_cancel, check_limits
from services.commands.core.rules import (
    ZERO,
    Intent,
    Violation,
    check_modify,
    check_numbers,
    check_order,
    check_order_id,
    check_system,
)
from services.commands.core.strategies import Strategy
from services.commands.metrics import Metrics
from services.commands.outbox import Outbox
from services.commands.ownership import Ownership
from services.commands.transport import OrderTransport
from services.commands.venue import VenueView
from shared.bus import CmdModifyRequested
from shared.paradex.models.account import Order
from shared.paradex.rest import ParadexRest


class Modifies:
    """The modify command."""

    def __init__(
        self,
        *,
        outbox: Outbox,
        transport: OrderTransport,
        signer: ParadexRest,
        ownership: Ownership,
        book: ExposureBook,
        venue: VenueView,
        budget: Budget,
        metrics: Metrics,
        killed: Callable[[Strategy], Violation | None] = lambda _s: None,
    ) -> None:
        self.outbox, self.transport, self.signer, self.ownership = outbox, transport, signer, ownership
        self.book, self.venue, self.budget, self.metrics = book, venue, budget, metrics
        self.killed = killed

    async def modify(self, strategy: Strategy, order_id: str, req: ModifyOrder) -> Answer:
        """See the module docstring."""
        if (v := check_order_id(order_id)) is not None:
            return answers.violation(v)
        owner, cid = await self.ownership.of_order(order_id)
        if (v := check_cancel(strategy, owner)) is not None:
            return answers.violation(v)
        intent = Intent(
            market=req.market,
            side=req.side,
            type=req.type,
            size=req.size,
            price=req.price,
            client_id=cid,
            trigger_price=req.trigger_price,
        )
        if (v := check_numbers(intent) or self.killed(strategy)) is not None:
            return answers.violation(v)
        market, side, type_ = await self.ownership.shape(cid)
        exposure = self.book.exposure
        v = (
            check_modify(market, side, type_, intent)
            or check_system(self.venue.system_status, intent)
            or check_order(
                intent,
                self.venue.markets.get(req.market),
                int(time.time() * 1000),
                exposure.prices.get(req.market),
            )
        )
        if v is None:
            current = exposure.orders.get(cid)
            replaces = current.remaining if current is not None else ZERO
            v = check_limits(strategy, intent, exposure, replaces=replaces, new_order=False)
        if v is not None:
            self.metrics.refused.labels(v.error).inc()
            return answers.violation(v)
        wait_s = await self.budget.take(1)
        if wait_s > 0:
            self.metrics.rate_limited.inc()
            return answers.rate_limited(wait_s)
        body = self.signer.sign_modify(
            order_id=order_id,
            market=req.market,
            side=req.side,
            type=req.type,
            size=req.size,
            price=req.price,
            trigger_price=req.trigger_price,
        )
        acked = await self.outbox.intents(
            [
                CmdModifyRequested(
                    source="cmd",
                    recv_ns=time.time_ns(),
                    client_id=cid,
                    strategy=strategy.name,
                    order_id=order_id,
                    size=str(req.size),
                    price=str(req.price or ZERO),
                )
            ]
        )
        if acked is None:
            await self.budget.refund(1)
            return answers.unavailable(*answers.BUS_DOWN)
        seq = acked[0]
        result = await self.transport.modify(body)
        if isinstance(result, Order):
            reply = CommandReply(seq=seq, status="modify_requested", order_id=result.id, order=result)
            return Answer(200, reply, {}, seq)
        await self.outbox.outcomes(
            [events.modify_failure(strategy.name, cid, order_id, result, time.time_ns())]
        )
        if isinstance(result, Unknown):
            self.metrics.unknown.inc()
            await self.outbox.lookup("modify_unknown", [order_id], [cid])
            return answers.venue_unsure("modify", result.reason, seq, order_id=order_id)
        if isinstance(result, NotSent):
            self.metrics.not_sent.inc()
            return answers.venue_unreached("modify", result.reason, seq, order_id=order_id)
        return answers.venue_refused(result, seq, order_id=order_id)
