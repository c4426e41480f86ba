"""What a venue answer proves about an order write (pure): definite, ambiguous or not sent.

DESIGN.md "Version 2 rules", for place, batch, modify and cancel alike:

* **definite**: the venue's answer proves what happened: a success body (:class:`Accepted`), or a
  4xx with a venue error body (:class:`Rejected`: validation, signature, margin, 401 after the
  one renewal the REST session already made, 403, 429 before execution);
* **ambiguous** (:class:`Unknown`): a 5xx (a 503 is the venue's own 30 s timeout: the order may
  exist), a timeout, a connection lost after the request was written, a 4xx without a venue error
  body (a proxy's page), an unparseable answer. Resolved by a lookup, never by re-sending under a
  new client id;
* **not sent** (:class:`NotSent`): the request failed before any byte was written (refused, DNS,
  TLS, no pooled connection). The venue did not act; the same client id may be sent again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import msgspec

from shared.errors import DecodeError, HubError, RateLimitedError, TransportError, VenueError
from shared.paradex import validate
from shared.paradex.models.account import Order
from shared.paradex.models.rest import ApiError
from shared.paradex.validate import Scope


class Accepted(msgspec.Struct, frozen=True):
    """The venue took the order (its record as answered)."""

    order: Order


class Rejected(msgspec.Struct, frozen=True, kw_only=True):
    """The venue definitely refused: its code, message, HTTP status, and Retry-After for a 429."""

    code: str
    message: str = ""
    http_status: int = 0
    retry_after_s: float | None = None


class Unknown(msgspec.Struct, frozen=True, kw_only=True):
    """The venue may or may not have acted; ``reason`` says why we cannot tell (``invalid``: the
    validation reason when the answer was garbage)."""

    reason: str
    invalid: str = ""


class NotSent(msgspec.Struct, frozen=True, kw_only=True):
    """Nothing reached the venue; ``reason`` names the failure."""

    reason: str


Outcome = Accepted | Rejected | Unknown | NotSent
Failure = Rejected | Unknown | NotSent
Kind = Literal["accepted", "rejected", "unknown", "not_sent"]


def kind_of(outcome: Outcome) -> Kind:
    """The outcome's name, as logged and counted."""
    if isinstance(outcome, Accepted):
        return "accepted"
    if isinstance(outcome, Rejected):
        return "rejected"
    if isinstance(outcome, NotSent):
        return "not_sent"
    return "unknown"


def is_definite_refusal(exc: VenueError) -> bool:
    """A 4xx whose body is the venue's own error body: proof that the venue did not act."""
    return 400 <= exc.status < 500 and exc.venue_body


def classify(exc: BaseException) -> Failure:
    """The outcome class of a failed order write (see the module docstring). Any error that is not
    a typed venue or transport error (an undecodable 2xx answer included) is ambiguous."""
    if isinstance(exc, TransportError):
        if exc.delivery == "not_sent":
            return NotSent(reason=str(exc))
        return Unknown(reason=str(exc))
    if isinstance(exc, VenueError):
        if is_definite_refusal(exc):
            retry = exc.retry_after_s if isinstance(exc, RateLimitedError) else None
            return Rejected(
                code=exc.code, message=exc.venue_message, http_status=exc.status, retry_after_s=retry
            )
        what = "a venue server error" if exc.status >= 500 else "an answer without a venue error body"
        return Unknown(reason=f"{what}: HTTP {exc.status} {exc.code} {exc.venue_message}".rstrip())
    if isinstance(exc, DecodeError):
        return Unknown(reason=f"unparseable venue answer: {exc}", invalid=validate.decode_reason(exc))
    if isinstance(exc, HubError):
        return Unknown(reason=f"unparseable venue answer: {exc}")
    return Unknown(reason=f"{type(exc).__name__}: {exc}")


def match_batch(
    client_ids: Sequence[str], orders: Sequence[Order], errors: Sequence[ApiError]
) -> list[Outcome]:
    """The outcome of each item of a venue batch answer (``orders`` accepted, per-order ``errors``).

    An accepted order is matched by client id; an error by ``data.client_id`` when the venue gives
    it, else in item order among the items not accepted (the venue lists errors in request order).
    An item the answer does not mention is ambiguous."""
    out: dict[str, Outcome] = {}
    for order in orders:
        if order.client_id in client_ids and order.client_id not in out:
            out[order.client_id] = Accepted(order)
    left = [c for c in client_ids if c not in out]
    unnamed: list[ApiError] = []
    for err in errors:
        named = err.data.get("client_id") if isinstance(err.data, dict) else None
        if isinstance(named, str) and named in left:
            out[named] = Rejected(code=err.error, message=err.message, http_status=400)
            left.remove(named)
        else:
            unnamed.append(err)
    for cid, err in zip(list(left), unnamed, strict=False):
        out[cid] = Rejected(code=err.error, message=err.message, http_status=400)
        left.remove(cid)
    missing = Unknown(reason="the batch answer does not mention it")
    return [out.get(c, missing) for c in client_ids]


def checked(outcome: Outcome, client_id: str, scope: Scope, now_ms: int) -> Outcome:
    """An accepted answer validated at the edge (``shared.paradex.validate``: finite bounded
    numbers, known enums, our account, ...) and naming the order we sent: garbage is ambiguous
    (looked up, never published as the order's truth), with the reason."""
    if not isinstance(outcome, Accepted):
        return outcome
    order = outcome.order
    if (bad := validate.check(order, scope, now_ms)) is not None:
        return Unknown(
            reason=f"invalid venue answer: {bad.reason} {bad.field} {bad.detail}".rstrip(), invalid=bad.reason
        )
    if client_id and order.client_id != client_id:
        return Unknown(
            reason=f"the venue answered about another order (client_id {order.client_id[:64]!r})",
            invalid="bad_id",
        )
    return outcome
