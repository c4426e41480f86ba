"""Reading and correcting stored command outcomes (the idempotency records).

* ``GET /v1/commands/{client_id}``: the stored answer of a place, without placing anything.
* An ``unknown`` place (the venue's answer proved nothing) is corrected when the venue's record
  of it arrives on the bus (the reconciler's LookupResult, or a feed/REST OrderEvent; see
  :class:`~services.commands.watch.OrderWatch`): the record becomes 201 ``accepted`` with
  ``"resolved_by": "venue_record"`` and the exchange id gets its owner, so a duplicate, a GET and
  a cancel by exchange id all see the truth. A lookup that finds nothing leaves it ``unknown``
  (absence may be the venue's cache; the state service applies DESIGN rule 5). ``unknown`` is the
  only stored answer ever replaced: it is a placeholder, not an outcome.
"""

from __future__ import annotations

import logging

import msgspec

from services.commands.core import answers
from services.commands.core.messages import Answer, RecordReply
from services.commands.core.rules import check_client_id
from services.commands.core.strategies import Strategy
from services.commands.metrics import Metrics
from services.commands.store import CommandStore
from shared.paradex.models.account import Order

log = logging.getLogger("commands.records")


class _Status(msgspec.Struct):
    status: str = ""


_status = msgspec.json.Decoder(_Status)


def is_unknown(body: bytes) -> bool:
    """Whether a stored answer body is an ``unknown`` outcome."""
    try:
        return _status.decode(body).status == "unknown"
    except (msgspec.ValidationError, msgspec.DecodeError):
        return False


class Records:
    """The commands service's view of its own idempotency records."""

    def __init__(self, store: CommandStore, metrics: Metrics) -> None:
        self.store = store
        self.metrics = metrics

    async def get(self, strategy: Strategy, cid: str) -> Answer:
        """``GET /v1/commands/{client_id}``: 422 for a malformed id, 404 if unknown here, 403 if
        another strategy's."""
        if (v := check_client_id(cid)) is not None:
            return answers.violation(v)
        record = await self.store.get(cid)
        if record is None:
            return answers.error(404, "COMMAND_NOT_FOUND", "client_id", f"no command with client_id {cid}")
        if record.s != strategy.name and not strategy.can_cancel_others:
            return answers.error(
                403, "NOT_ORDER_OWNER", "client_id", f"client_id {cid} belongs to another strategy"
            )
        body = RecordReply(client_id=cid, state=record.st, http_status=record.code, reply=record.body)
        return Answer(200, body, {}, record.q)

    async def resolve(self, strategy: str, order: Order) -> bool:
        """Store the venue's record as the outcome of ``order.client_id`` if its stored answer
        still says ``unknown``; True when corrected. Errors are logged (the record stays unknown)."""
        cid = order.client_id
        try:
            record = await self.store.get(cid)
            if record is None or record.st != "done" or not is_unknown(bytes(record.body)):
                return False
            result = answers.accepted(cid, order, record.q, resolved_by="venue_record")
            await self.store.finish(strategy, [(cid, result, order.id)])
        except Exception as exc:
            log.warning("could not store the resolved outcome of %s: %r", cid, exc)
            return False
        self.metrics.resolved.inc()
        return True
