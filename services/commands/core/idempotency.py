"""Idempotency records, and how the ACCOUNT stream rebuilds them (pure).

A client id's :class:`Record` says who owns it, whether its request is still pending, and the
answer a duplicate gets. Redis holds the records; the ACCOUNT stream is their authority: every
place publishes ``CmdSubmitted`` before its venue request and its outcome event after, so
:class:`IndexFold` rebuilds, from those events alone, the record each client id had:

* ``CmdSubmitted`` -> pending (a duplicate waits, then is told the outcome is unknown: never sent
  again);
* ``CmdAccepted`` / ``CmdRejected`` / ``CmdUnknown`` -> done, with the answer the first caller got
  (the same bytes: built by ``core.answers`` from the same fields and the CmdSubmitted's ``seq``);
* ``CmdNotSent`` -> no record (nothing reached the venue: the id may be sent again);
* a ``LookupResult`` that found the order -> an ``unknown`` answer becomes ``accepted``
  (``resolved_by: venue_record``), as the live service does.

Not rebuilt: the final answer of a ``wait=ws`` place (200 ``open``, 202 ``pending``) is rebuilt as
its 201 ``accepted``, and a venue 429's Retry-After header is not kept on the stream.
"""

from __future__ import annotations

import msgspec

from services.commands.core import answers
from services.commands.core.answers import REPLAY_HEADER
from services.commands.core.messages import Answer, encode_body
from services.commands.core.outcome import Rejected
from shared.bus import (
    CmdAccepted,
    CmdNotSent,
    CmdRejected,
    CmdSubmitted,
    CmdUnknown,
    Event,
    LookupResult,
)

REBUILT_KINDS = (
    "cmd_submitted",
    "cmd_accepted",
    "cmd_rejected",
    "cmd_unknown",
    "cmd_not_sent",
    "lookup_result",
)
"""The event kinds (ACCOUNT stream subjects) the rebuild reads."""


class Record(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One client id's record: ``st`` pending|done; ``code``/``body``/``h`` the answer when done."""

    s: str
    st: str = "pending"
    at: int = 0
    code: int = 0
    body: msgspec.Raw = msgspec.Raw(b"null")
    h: dict[str, str] = {}
    oid: str = ""
    q: int = 0  # ACCOUNT stream sequence of the command's CmdSubmitted (0: none)
    n: str = ""  # nonce of the claim

    def answer(self) -> Answer:
        """The stored answer as a replay: same status, body bytes and headers, marked replayed."""
        return Answer(self.code, self.body, {**self.h, REPLAY_HEADER: "true"}, self.q)


def done(strategy: str, answer: Answer, at_ms: int, order_id: str = "") -> Record:
    """The record of a finished command (its answer encoded once, headers a replay repeats)."""
    headers = {k: v for k, v in answer.headers.items() if k not in (REPLAY_HEADER, answers.SEQ_HEADER)}
    return Record(
        s=strategy,
        st="done",
        at=at_ms,
        code=answer.status,
        body=msgspec.Raw(encode_body(answer.body)),
        h=headers,
        oid=order_id,
        q=answer.seq,
    )


class _Status(msgspec.Struct):
    status: str = ""


_status = msgspec.json.Decoder(_Status)


def is_unknown(record: Record) -> bool:
    """Whether a record holds an ``unknown`` answer (the only answer ever replaced)."""
    if record.st != "done":
        return False
    try:
        return _status.decode(bytes(record.body)).status == "unknown"
    except (msgspec.ValidationError, msgspec.DecodeError):
        return False


class IndexFold:
    """Records (and exchange-id owners) folded from the command events of the ACCOUNT stream."""

    def __init__(self) -> None:
        self.records: dict[str, Record] = {}
        self.owners: dict[str, tuple[str, str]] = {}  # order id -> (strategy, client id)
        self.seq = 0
        self.events = 0

    def apply(self, seq: int, event: Event) -> None:
        """Fold one event stored at ``seq`` (events of other kinds are ignored)."""
        self.seq = max(self.seq, seq)
        self.events += 1
        at_ms = event.recv_ns // 1_000_000
        if isinstance(event, CmdSubmitted):
            self.records[event.client_id] = Record(s=event.strategy, at=at_ms, q=seq)
            return
        if isinstance(event, LookupResult):
            self._resolved(event, at_ms)
            return
        cid = getattr(event, "client_id", "")
        rec = self.records.get(cid)
        if rec is None:
            return
        if isinstance(event, CmdNotSent):
            del self.records[cid]
        elif isinstance(event, CmdAccepted) and event.order is not None:
            self.records[cid] = done(rec.s, answers.accepted(cid, event.order, rec.q), at_ms, event.order_id)
            self.owners[event.order_id] = (rec.s, cid)
        elif isinstance(event, CmdRejected):
            failure = Rejected(code=event.code, message=event.message, http_status=event.http_status)
            self.records[cid] = done(rec.s, answers.rejected(cid, failure, rec.q), at_ms)
        elif isinstance(event, CmdUnknown):
            self.records[cid] = done(rec.s, answers.unknown(cid, event.reason, rec.q), at_ms)

    def _resolved(self, event: LookupResult, at_ms: int) -> None:
        order = event.order
        if not event.found or order is None or not order.client_id:
            return
        rec = self.records.get(order.client_id)
        if rec is not None and is_unknown(rec):
            answer = answers.accepted(order.client_id, order, rec.q, resolved_by="venue_record")
            self.records[order.client_id] = done(rec.s, answer, at_ms, order.id)
            self.owners[order.id] = (rec.s, order.client_id)
