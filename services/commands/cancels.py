"""Cancels: by exchange id, by client id, batch, all. Ownership check, intent event, one venue call.

Ids are checked against the venue's format first (an exchange id is digits, a client id
``[A-Za-z0-9_.:-]{1,64}``; 422 naming the rule) and sent URL-encoded; a batch larger than the
venue's cancel batch (100 ids) is 422 before anything is published.

Every venue failure is classified (``core.outcome``), as for places:

* a definite refusal (4xx with a venue error body) publishes ``CmdCancelFailed`` with the venue's
  code, so the state clears PENDING_CANCEL at once (the order keeps its venue status); the answer
  is 400 (404 for an unknown order, 429 with Retry-After) ``status: rejected``. A cancel of an
  order the venue does not know (``ORDER_ID_NOT_FOUND``/``CLIENT_ORDER_ID_NOT_FOUND``) also asks
  for a lookup, so the state settles it from the venue's record (closed, or absent per DESIGN
  rule 5). No CmdRejected: that event means "this ORDER was refused" and would mark a live or
  filled order REJECTED;
* an ambiguous one (5xx, timeout, connection lost after writing, garbage) publishes
  ``CmdCancelUnknown`` and one lookup request (a full snapshot for a cancel-all): 202 ``unknown``;
* not sent (nothing reached the venue) publishes ``CmdCancelFailed`` with code ``NOT_SENT`` (the
  venue did not act) and answers 503 ``not_sent`` with Retry-After: safe to send again.

A batch cancel's per-item refusals (``ALREADY_CLOSED``, ``NOT_FOUND``) publish CmdCancelFailed with
that code; the NOT_FOUND ones are looked up.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection

from services.commands.budget import Budget
from services.commands.core import answers, events
from services.commands.core.exposure import ExposureBook
from services.commands.core.messages import Answer, CancelBatch, CancelResult, CommandReply
from services.commands.core.outcome import Failure, NotSent, Rejected, Unknown
from services.commands.core.risk import check_cancel
from services.commands.core.rules import check_client_id, check_order_id
from services.commands.core.strategies import Strategy
from services.commands.metrics import Metrics
from services.commands.outbox import Outbox
from services.commands.ownership import Ownership
from services.commands.transport import OrderTransport
from shared.bus import CmdCancelRequested
from shared.paradex.models.rest import CancelBatchResponse

CANCEL_BATCH_MAX = 100
"""Ids per venue ``DELETE /orders/batch`` (order ids and client ids together)."""

Target = tuple[str, str]
"""(client_id, order_id) of one order a cancel is about; either may be ""."""


def not_found(failure: Rejected) -> bool:
    """The venue does not know the order (``ORDER_ID_NOT_FOUND``, ``CLIENT_ORDER_ID_NOT_FOUND``)."""
    return failure.http_status == 404 or failure.code.endswith("NOT_FOUND")


def _intent(strategy: Strategy, cid: str, order_id: str = "", market: str = "") -> CmdCancelRequested:
    return CmdCancelRequested(
        source="cmd",
        recv_ns=time.time_ns(),
        client_id=cid,
        strategy=strategy.name,
        order_id=order_id,
        market=market,
    )


class Cancels:
    """The cancel commands. Dependencies: what they use, nothing more."""

    def __init__(
        self,
        *,
        outbox: Outbox,
        transport: OrderTransport,
        ownership: Ownership,
        book: ExposureBook,
        budget: Budget,
        metrics: Metrics,
        markets: Callable[[], Collection[str]] = tuple,
    ) -> None:
        self.outbox, self.transport, self.ownership = outbox, transport, ownership
        self.book, self.budget, self.metrics = book, budget, metrics
        self.markets = markets

    def _market(self, market: str | None) -> Answer | None:
        """422 for a ``?market=`` that is not one of the venue's markets."""
        known = self.markets()
        if market is not None and known and market not in known:
            return answers.error(422, "MARKET_NOT_FOUND", "market", f"unknown market {market[:64]!r}")
        return None

    async def _budget(self) -> Answer | None:
        wait_s = await self.budget.take(1)
        if wait_s > 0:
            self.metrics.rate_limited.inc()
            return answers.rate_limited(wait_s)
        return None

    async def _failed(
        self, strategy: Strategy, targets: list[Target], failure: Failure, *, snapshot: bool = False
    ) -> None:
        """Publish what a failed cancel request means for each target (and look ambiguous ones up)."""
        now = time.time_ns()
        await self.outbox.outcomes(
            [events.cancel_failure(strategy.name, c, o, failure, now) for c, o in targets]
        )
        if isinstance(failure, Unknown):
            self.metrics.unknown.inc(max(1, len(targets)))
            await self.outbox.lookup(
                "cancel_unknown", [o for _, o in targets], [c for c, _ in targets], snapshot=snapshot
            )
        elif isinstance(failure, NotSent):
            self.metrics.not_sent.inc(len(targets))

    def _failure_answer(self, what: str, failure: Failure, seq: int, **ids: str) -> Answer:
        if isinstance(failure, Unknown):
            return answers.venue_unsure(what, failure.reason, seq, **ids)
        if isinstance(failure, NotSent):
            return answers.venue_unreached(what, failure.reason, seq, **ids)
        return answers.venue_refused(failure, seq, **ids)

    async def cancel(self, strategy: Strategy, order_id: str) -> Answer:
        """``DELETE /v1/orders/{order_id}``."""
        if (v := check_order_id(order_id)) is not None:
            return answers.violation(v)
        owner, cid = await self.ownership.of_order(order_id)
        if (v := check_cancel(strategy, owner)) is not None:
            return answers.violation(v)
        return await self._one(strategy, cid, order_id, "", lambda: self.transport.cancel(order_id))

    async def cancel_by_client_id(self, strategy: Strategy, client_id: str, market: str | None) -> Answer:
        """``DELETE /v1/orders/by_client_id/{client_id}``."""
        if (v := check_client_id(client_id)) is not None:
            return answers.violation(v)
        if (bad := self._market(market)) is not None:
            return bad
        owner = await self.ownership.of_client_id(client_id)
        if (v := check_cancel(strategy, owner)) is not None:
            return answers.violation(v)
        return await self._one(
            strategy,
            client_id,
            "",
            market or "",
            lambda: self.transport.cancel_by_client_id(client_id, market),
        )

    async def _one(
        self,
        strategy: Strategy,
        cid: str,
        order_id: str,
        market: str,
        call: Callable[[], Awaitable[Failure | None]],
    ) -> Answer:
        if (limited := await self._budget()) is not None:
            return limited
        acked = await self.outbox.intents([_intent(strategy, cid, order_id, market)])
        if acked is None:
            await self.budget.refund(1)
            return answers.unavailable(*answers.BUS_DOWN)
        seq = acked[0]
        failure = await call()
        if failure is None:
            body = CommandReply(seq=seq, status="cancel_requested", order_id=order_id, client_id=cid)
            return Answer(202, body, {}, seq)
        await self._failed(strategy, [(cid, order_id)], failure)
        if isinstance(failure, Rejected) and not_found(failure):
            await self.outbox.lookup("cancel_not_found", [order_id], [cid])
        return self._failure_answer("cancel", failure, seq, order_id=order_id, client_id=cid)

    async def cancel_all(self, strategy: Strategy, market: str | None) -> Answer:
        """``DELETE /v1/orders[?market=]``: every order of the account if the strategy may cancel
        others; otherwise the strategy's own live orders, by client id, through the batch cancel."""
        if (bad := self._market(market)) is not None:
            return bad
        if market is not None and not strategy.allows_market(market) and not strategy.can_cancel_others:
            return answers.error(
                403,
                "MARKET_NOT_ALLOWED",
                "allowed_markets",
                f"strategy {strategy.name} may not trade {market}",
            )
        live = [o for o in self.book.exposure.orders.values() if market in (None, o.market)]
        if not strategy.can_cancel_others:
            own = [o.client_id for o in live if o.owner == strategy.name]
            return await self.cancel_batch(strategy, CancelBatch(client_ids=own), chunked=True)
        return await self.cancel_account(strategy, market)

    async def cancel_account(
        self, strategy: Strategy, market: str | None, *, scope: str = "account"
    ) -> Answer:
        """Every open order of the account (of ``market``): the venue's cancel-all."""
        if (limited := await self._budget()) is not None:
            return limited
        named = [
            o
            for o in self.book.exposure.orders.values()
            if market in (None, o.market) and not o.client_id.startswith("id:")
        ]
        acked = await self.outbox.intents([_intent(strategy, o.client_id, market=o.market) for o in named])
        if acked is None:
            await self.budget.refund(1)
            return answers.unavailable(*answers.BUS_DOWN)
        seq = max(acked, default=0)
        failure = await self.transport.cancel_all(market)
        if failure is None:
            body = CommandReply(seq=seq, status="cancel_requested", scope=scope, market=market or "")
            return Answer(202, body, {}, seq)
        await self._failed(strategy, [(o.client_id, "") for o in named], failure, snapshot=True)
        return self._failure_answer("cancel-all", failure, seq)

    async def cancel_batch(self, strategy: Strategy, req: CancelBatch, *, chunked: bool = False) -> Answer:
        """``DELETE /v1/orders/batch``: owned items go to the venue in one call (``chunked``: in
        calls of 100, for a cancel-all of a strategy's own orders); others are FORBIDDEN."""
        total = len(req.order_ids) + len(req.client_ids)
        if total > CANCEL_BATCH_MAX and not chunked:
            return answers.error(
                422,
                "BATCH_SIZE_OUT_OF_RANGE",
                "batch_size",
                f"a cancel batch holds at most {CANCEL_BATCH_MAX} ids (got {total})",
            )
        for oid in req.order_ids:
            if (v := check_order_id(oid)) is not None:
                return answers.violation(v)
        for cid in req.client_ids:
            if (v := check_client_id(cid)) is not None:
                return answers.violation(v)
        results: list[CancelResult] = []
        client_ids: list[str] = []
        order_ids: list[str] = []
        owners = await self.ownership.of_client_ids(list(req.client_ids))
        for cid in req.client_ids:
            if check_cancel(strategy, owners.get(cid)) is None:
                client_ids.append(cid)
            else:
                results.append(CancelResult(client_id=cid, status="FORBIDDEN"))
        for oid in req.order_ids:
            owner, _ = await self.ownership.of_order(oid)
            if check_cancel(strategy, owner) is None:
                order_ids.append(oid)
            else:
                results.append(CancelResult(id=oid, status="FORBIDDEN"))
        targets = [(c, "") for c in client_ids] + [("", o) for o in order_ids]
        seq = 0
        for k in range(0, len(targets), CANCEL_BATCH_MAX):
            part = targets[k : k + CANCEL_BATCH_MAX]
            answer = await self._batch_part(strategy, part, results)
            if isinstance(answer, Answer):
                return answer
            seq = max(seq, answer)
        return Answer(200, CommandReply(seq=seq, results=results), {}, seq)

    async def _batch_part(
        self, strategy: Strategy, targets: list[Target], results: list[CancelResult]
    ) -> int | Answer:
        """One venue batch cancel: its intent events' max seq (``results`` extended), or the
        answer that ends the request (rate-limited, bus down, a failed venue call)."""
        if (limited := await self._budget()) is not None:
            return limited
        acked = await self.outbox.intents([_intent(strategy, c, o) for c, o in targets])
        if acked is None:
            await self.budget.refund(1)
            return answers.unavailable(*answers.BUS_DOWN)
        seq = max(acked, default=0)
        answer = await self.transport.cancel_batch([o for _, o in targets if o], [c for c, _ in targets if c])
        if not isinstance(answer, CancelBatchResponse):
            await self._failed(strategy, targets, answer)
            failed = self._failure_answer("batch cancel", answer, seq)
            body = failed.body
            if isinstance(body, CommandReply) and not isinstance(answer, Rejected):
                body = CommandReply(
                    seq=body.seq, status=body.status, error=body.error, message=body.message, results=results
                )
            return Answer(failed.status, body, failed.headers, seq)
        refused = [r for r in answer.results if r.status != "QUEUED_FOR_CANCELLATION"]
        if refused:
            now = time.time_ns()
            await self.outbox.outcomes(
                [
                    events.cancel_failure(strategy.name, r.client_id, r.id, Rejected(code=r.status), now)
                    for r in refused
                ]
            )
            lost = [r for r in refused if r.status == "NOT_FOUND"]
            await self.outbox.lookup("cancel_not_found", [r.id for r in lost], [r.client_id for r in lost])
        results.extend(CancelResult(id=r.id, client_id=r.client_id, status=r.status) for r in answer.results)
        return seq
