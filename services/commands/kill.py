"""``POST /v1/kill`` and ``POST /v1/resume``: the kill switch.

A kill publishes ``KillSwitch(active=True)`` on the ACCOUNT stream (every replica folds it:
``follow.KillFollower``; the state service shows it in its health), refuses new orders and
modifies at once on this replica (403 ``KILL_SWITCH``), waits (bounded) for the orders this
replica is sending, then cancels everything in scope: the whole account with the admin token
(``COMMANDS_ADMIN_TOKEN``), or the strategy's own live orders with a strategy's token. Cancels are
never refused. A resume publishes ``KillSwitch(active=False)`` for the same scope.

If the bus does not store the event the switch still acts here (refuse, cancel) and the answer is
503 ``KILL_NOT_RECORDED`` (other replicas do not know: send it again).
"""

from __future__ import annotations

import logging
import time

from services.commands.cancels import Cancels
from services.commands.core import answers
from services.commands.core.exposure import ExposureBook
from services.commands.core.kill import KillState
from services.commands.core.messages import Answer, CancelBatch, CommandReply, KillReply, KillRequest
from services.commands.core.strategies import Strategies, Strategy
from services.commands.inflight import Tasks
from services.commands.outbox import Outbox
from shared.bus import KillSwitch

log = logging.getLogger("commands.kill")
ADMIN = Strategy(name="admin", token="", can_cancel_others=True)


class KillSwitches:
    """Kill and resume (see the module docstring)."""

    def __init__(
        self,
        *,
        state: KillState,
        outbox: Outbox,
        cancels: Cancels,
        book: ExposureBook,
        strategies: Strategies,
        sending: Tasks,
        drain_s: float = 1.0,
    ) -> None:
        self.state, self.outbox, self.cancels, self.book = state, outbox, cancels, book
        self.strategies, self.sending, self.drain_s = strategies, sending, drain_s

    def _scope(self, actor: Strategy | None, req: KillRequest) -> str | Answer:
        """The strategy the request acts on ("" = the account), or the refusal."""
        if actor is None:
            if req.strategy and req.strategy not in self.strategies.by_name:
                return answers.error(422, "STRATEGY_NOT_FOUND", "strategy", f"no strategy {req.strategy!r}")
            return req.strategy
        if req.strategy and req.strategy != actor.name:
            return answers.error(
                403,
                "NOT_STRATEGY_OWNER",
                "kill_switch",
                f"strategy {actor.name} may only switch itself (the admin token switches others)",
            )
        return actor.name

    async def kill(self, actor: Strategy | None, req: KillRequest) -> Answer:
        scope = self._scope(actor, req)
        if isinstance(scope, Answer):
            return scope
        by = "admin" if actor is None else actor.name
        event = KillSwitch(
            source="cmd", recv_ns=time.time_ns(), active=True, strategy=scope, by=by, reason=req.reason
        )
        acked = await self.outbox.intents([event])
        self.state.apply(0, event)  # refuse here at once, whatever the bus said
        log.warning("kill switch ON for %s by %s: %s", scope or "the whole account", by, req.reason or "-")
        await self.sending.wait(self.drain_s)  # orders already on their way land first, then go
        if scope:
            own = [o.client_id for o in self.book.exposure.orders.values() if o.owner == scope]
            strategy = self.strategies.by_name.get(scope, ADMIN)
            cancel = await self.cancels.cancel_batch(strategy, CancelBatch(client_ids=own), chunked=True)
        else:
            cancel = await self.cancels.cancel_account(ADMIN, None)
        return self._answer(acked, True, scope, cancel)

    async def resume(self, actor: Strategy | None, req: KillRequest) -> Answer:
        scope = self._scope(actor, req)
        if isinstance(scope, Answer):
            return scope
        by = "admin" if actor is None else actor.name
        event = KillSwitch(
            source="cmd", recv_ns=time.time_ns(), active=False, strategy=scope, by=by, reason=req.reason
        )
        acked = await self.outbox.intents([event])
        if acked is not None:
            self.state.apply(0, event)
            log.warning("kill switch OFF for %s by %s", scope or "the whole account", by)
        return self._answer(acked, False, scope, None)

    def _answer(self, acked: list[int] | None, active: bool, scope: str, cancel: Answer | None) -> Answer:
        body = cancel.body if cancel is not None and isinstance(cancel.body, CommandReply) else None
        if acked is None:
            return answers.unavailable(
                "KILL_NOT_RECORDED",
                "bus",
                "the kill switch event could not be stored: this replica acted, "
                "the others do not know; send it again",
            )
        seq = acked[0]
        reply = KillReply(
            seq=seq, active=active, scope="strategy" if scope else "account", strategy=scope, cancel=body
        )
        return Answer(200, reply, {}, seq)
