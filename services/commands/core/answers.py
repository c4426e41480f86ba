"""Answers of the commands API, one builder per kind (pure): the HTTP status, the typed body and
the headers each outcome gets. The shell never spells a status code or a body field itself.
"""

from __future__ import annotations

import math

import msgspec

from services.commands.core.messages import Answer, CommandReply, ErrorReply
from services.commands.core.outcome import Accepted, NotSent, Outcome, Rejected, Unknown
from services.commands.core.rules import Violation
from shared.paradex.models.account import Order

REPLAY_HEADER = "Idempotent-Replay"
SEQ_HEADER = "X-Stream-Seq"


def retry_after(seconds: float) -> str:
    """A ``Retry-After`` value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))


def error(
    status: int,
    code: str,
    rule: str,
    message: str,
    headers: dict[str, str] | None = None,
    retry_after_s: float | None = None,
) -> Answer:
    """A refusal before the venue: ``{"error", "rule", "message"}``."""
    body = ErrorReply(error=code, rule=rule, message=message, retry_after_s=retry_after_s)
    return Answer(status, body, headers or {})


def violation(v: Violation) -> Answer:
    """The answer to a broken rule or limit (422/403...)."""
    return error(v.status, v.error, v.rule, v.message)


def rate_limited(
    wait_s: float, rule: str = "rate_limit", what: str = "client-side order rate limit"
) -> Answer:
    """429 with Retry-After: a bucket is empty for ``wait_s`` more seconds."""
    return error(
        429,
        "RATE_LIMITED",
        rule,
        f"{what}; retry in {wait_s:.3f} s",
        {"Retry-After": retry_after(wait_s)},
        retry_after_s=round(wait_s, 3),
    )


def unavailable(code: str, rule: str, message: str, retry_s: float = 1.0) -> Answer:
    """503 with Retry-After: a dependency (bus, Redis, the idempotency index) is not available."""
    return error(503, code, rule, message, {"Retry-After": retry_after(retry_s)})


BUS_DOWN = ("BUS_UNAVAILABLE", "bus", "the command could not be recorded; nothing was sent")


def with_seq(answer: Answer, seq: int) -> Answer:
    """``answer`` carrying ``seq`` in its body (a CommandReply) and as ``X-Stream-Seq``."""
    if not seq:
        return answer
    body = answer.body
    if isinstance(body, CommandReply):
        body = msgspec.structs.replace(body, seq=seq)
    return Answer(answer.status, body, answer.headers, seq)


def replayed(answer: Answer) -> Answer:
    """``answer`` marked ``Idempotent-Replay: true`` (a duplicate, or a waiter on one in flight)."""
    return Answer(answer.status, answer.body, {**answer.headers, REPLAY_HEADER: "true"}, answer.seq)


# ------------------------------------------------------------------------------------ places


def accepted(cid: str, order: Order, seq: int = 0, resolved_by: str = "") -> Answer:
    """201 ``accepted`` with the exchange id and the venue's record."""
    body = CommandReply(
        seq=seq, status="accepted", client_id=cid, order_id=order.id, order=order, resolved_by=resolved_by
    )
    return Answer(201, body, {}, seq)


def rejected(cid: str, failure: Rejected, seq: int = 0) -> Answer:
    """400 ``rejected`` (429 with Retry-After when the venue rate-limited us)."""
    headers = {}
    if failure.retry_after_s is not None:
        headers["Retry-After"] = retry_after(failure.retry_after_s)
    body = CommandReply(
        seq=seq,
        status="rejected",
        client_id=cid,
        error=failure.code,
        message=failure.message,
        http_status=failure.http_status,
    )
    return Answer(429 if failure.http_status == 429 else 400, body, headers, seq)


def unknown(cid: str, reason: str, seq: int = 0) -> Answer:
    """202 ``unknown``: the venue's answer proves nothing; resolved by lookup, never by resending."""
    message = f"the venue's answer does not say whether it acted ({reason}); resolved by lookup"
    return Answer(202, CommandReply(seq=seq, status="unknown", client_id=cid, message=message), {}, seq)


def not_sent(cid: str, reason: str, seq: int = 0) -> Answer:
    """503 ``not_sent`` with Retry-After: nothing reached the venue; the same client id may be sent
    again (its idempotency record was released)."""
    message = (
        f"the order did not reach the venue ({reason}); nothing was placed: send it again "
        "with the same client_id"
    )
    body = CommandReply(seq=seq, status="not_sent", client_id=cid, error="VENUE_NOT_REACHED", message=message)
    return Answer(503, body, {"Retry-After": "1"}, seq)


def submitted(cid: str, seq: int) -> Answer:
    """202 ``submitted`` (``wait=none``): the intent is on the stream, the venue request leaves."""
    return Answer(202, CommandReply(seq=seq, status="submitted", client_id=cid), {}, seq)


def of_outcome(cid: str, outcome: Outcome, seq: int) -> Answer:
    """The answer to a place whose venue outcome is ``outcome``."""
    if isinstance(outcome, Accepted):
        return accepted(cid, outcome.order, seq)
    if isinstance(outcome, Rejected):
        return rejected(cid, outcome, seq)
    if isinstance(outcome, NotSent):
        return not_sent(cid, outcome.reason, seq)
    assert isinstance(outcome, Unknown)
    return unknown(cid, outcome.reason, seq)


def confirmed(cid: str, order: Order, seq: int) -> Answer:
    """200 with the WebSocket's status of the order (``wait=ws``)."""
    body = CommandReply(seq=seq, status=order.status.lower(), client_id=cid, order_id=order.id, order=order)
    return Answer(200, body, {}, seq)


def wait_timed_out(acked: Answer) -> Answer:
    """202 ``pending`` with ``Wait-Timeout: true``: accepted, no WebSocket confirmation in time."""
    body = acked.body
    assert isinstance(body, CommandReply)
    return Answer(
        202,
        msgspec.structs.replace(body, status="pending"),
        {**acked.headers, "Wait-Timeout": "true"},
        acked.seq,
    )


def never_finished(cid: str) -> Answer:
    """202 ``unknown``: a claim whose request never finished (a process died mid-request)."""
    message = (
        "a request with this client_id was claimed but never finished (service restart?); "
        "its outcome is resolved by lookup"
    )
    return Answer(202, CommandReply(status="unknown", client_id=cid, message=message))


# ------------------------------------------------------------------------ cancels and modifies


def venue_refused(failure: Rejected, seq: int, *, order_id: str = "", client_id: str = "") -> Answer:
    """A cancel/modify the venue definitely refused: 400, 404 for an unknown order, 429."""
    headers = {}
    if failure.retry_after_s is not None:
        headers["Retry-After"] = retry_after(failure.retry_after_s)
    status = 429 if failure.http_status == 429 else (404 if failure.http_status == 404 else 400)
    body = CommandReply(
        seq=seq,
        status="rejected",
        order_id=order_id,
        client_id=client_id,
        error=failure.code,
        message=failure.message,
        http_status=failure.http_status,
    )
    return Answer(status, body, headers, seq)


def venue_unsure(what: str, reason: str, seq: int, *, order_id: str = "", client_id: str = "") -> Answer:
    """202 ``unknown``: a cancel/modify whose outcome is ambiguous (the order is looked up)."""
    message = (
        f"the venue's answer to the {what} does not say whether it acted ({reason}); the order is looked up"
    )
    body = CommandReply(seq=seq, status="unknown", order_id=order_id, client_id=client_id, message=message)
    return Answer(202, body, {}, seq)


def venue_unreached(what: str, reason: str, seq: int, *, order_id: str = "", client_id: str = "") -> Answer:
    """503 ``not_sent``: a cancel/modify that never reached the venue (nothing changed)."""
    message = f"the {what} did not reach the venue ({reason}); nothing changed: safe to send again"
    body = CommandReply(
        seq=seq,
        status="not_sent",
        order_id=order_id,
        client_id=client_id,
        error="VENUE_NOT_REACHED",
        message=message,
    )
    return Answer(503, body, {"Retry-After": "1"}, seq)
