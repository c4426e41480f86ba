"""Reading and correcting stored command outcomes (the idempotency records).

* ``GET /v1/commands/{client_id}``: the stored reply of a place, without placing anything.
* An ``unknown`` place (the venue did not answer) is corrected when the venue's record of it
  arrives on the bus (the reconciler's LookupResult, or a feed/REST OrderEvent; see
  :class:`~services.commands.watch.OrderWatch`): the record becomes 201 ``accepted`` with
  ``"resolved_by": "venue_record"`` and the exchange id gets its owner, so a duplicate, a GET and
  a cancel by exchange id all see the truth. A lookup that finds nothing leaves it ``unknown``
  (absence may be the venue's cache; the state service applies DESIGN rule 5).
"""

from __future__ import annotations

import logging

from services.commands import outcomes
from services.commands.core.strategies import Strategy
from services.commands.metrics import Metrics
from services.commands.store import CommandStore
from services.commands.wire import SEQ_HEADER, Reply, reply, with_seq
from shared.paradex.models.account import Order

log = logging.getLogger("commands.records")


class Records:
    """The commands service's view of its own idempotency records."""

    def __init__(self, store: CommandStore, metrics: Metrics) -> None:
        self.store = store
        self.metrics = metrics

    async def get(self, strategy: Strategy, cid: str) -> Reply:
        """``GET /v1/commands/{client_id}``: 404 if unknown here, 403 if another strategy's."""
        record = await self.store.get(cid)
        if record is None:
            message = f"no command with client_id {cid}"
            return reply(404, {"error": "COMMAND_NOT_FOUND", "rule": "client_id", "message": message})
        if record.s != strategy.name and not strategy.can_cancel_others:
            message = f"client_id {cid} belongs to another strategy"
            return reply(403, {"error": "NOT_ORDER_OWNER", "rule": "client_id", "message": message})
        body = b'{"client_id":%s,"state":"%s","http_status":%d,"reply":%s}' % (
            outcomes.encode_str(cid),
            record.st.encode(),
            record.code,
            bytes(record.body),
        )
        return Reply(200, body, {SEQ_HEADER: str(record.q)} if record.q else {})

    async def resolve(self, strategy: str, order: Order) -> bool:
        """Store the venue's record as the outcome of ``order.client_id`` if its stored reply still
        says ``unknown``; True when corrected. Errors are logged (the record stays unknown)."""
        cid = order.client_id
        try:
            record = await self.store.get(cid)
            if record is None or record.st != "done" or not outcomes.is_unknown(bytes(record.body)):
                return False
            result, _ = outcomes.accepted(strategy, cid, order, resolved_by="venue_record")
            result = with_seq(result, record.q)
            await self.store.finish(strategy, cid, result.status, result.body, order.id, record.q)
        except Exception as exc:
            log.warning("could not store the resolved outcome of %s: %r", cid, exc)
            return False
        self.metrics.resolved.inc()
        return True
