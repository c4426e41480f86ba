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


#: JSON-RPC error codes of the venue's WebSocket (PROTOCOL 2.3, openrpc.json).
RPC_METHOD_ERROR = 100
RPC_RATE_LIMITED = 42901
RPC_INTERNAL = -32603
RPC_REQUEST_ERRORS = frozenset({-32700, -32600, -32601, -32602})
RPC_AUTH_ERRORS = frozenset({40110, 40111, 40112, 40300})
#: Venue codes inside a method error that mean the venue's side failed (a REST 5xx): ambiguous.
SERVER_CODES = frozenset({"INTERNAL_ERROR", "SERVICE_UNAVAILABLE"})


def _status_of(code: str) -> int:
    """The HTTP status REST would have carried with ``code`` (our answers map 404 and 429)."""
    if code.endswith("NOT_FOUND"):
        return 404
    return 429 if code == "TOO_MANY_REQUESTS" else 400


def classify_rpc(code: int, message: str, data: object) -> Failure:
    """The outcome class of a JSON-RPC error answer to an ``order.*`` call (same rules as REST):

    * a method error (100) carrying the venue's ApiError ``{"error", "message"}``, a rate limit
      (42901, ``data`` = retry-after seconds), a malformed request (-32700/-32600/-32601/-32602):
      the venue refused before acting, **definite** (:class:`Rejected`);
    * an auth error (40110/40111/40112/40300): refused before acting, and the connection is the
      problem, not the order: **not sent** (the transport falls back to REST);
    * an internal error (-32603), a method error naming a server failure, any other code:
      **ambiguous** (:class:`Unknown`).
    """
    if code == RPC_METHOD_ERROR:
        venue = data.get("error") if isinstance(data, dict) else None
        text = data.get("message") if isinstance(data, dict) else None
        venue_code = venue if isinstance(venue, str) and venue else "METHOD_ERROR"
        detail = text if isinstance(text, str) and text else message
        if venue_code in SERVER_CODES:
            return Unknown(reason=f"a venue server error: RPC {code} {venue_code} {detail}".rstrip())
        return Rejected(code=venue_code, message=detail, http_status=_status_of(venue_code))
    if code == RPC_RATE_LIMITED:
        retry = float(data) if isinstance(data, int | float) and not isinstance(data, bool) else None
        return Rejected(code="TOO_MANY_REQUESTS", message=message, http_status=429, retry_after_s=retry)
    if code in RPC_REQUEST_ERRORS:
        detail = f"{message}: {data}" if isinstance(data, str) and data else message
        return Rejected(code="INVALID_REQUEST_PARAMETER", message=detail, http_status=400)
    if code in RPC_AUTH_ERRORS:
        return NotSent(reason=f"websocket not authenticated: RPC {code} {message}".rstrip())
    return Unknown(reason=f"a venue error answer: RPC {code} {message}".rstrip())


def batch_item(item_error: str) -> Rejected:
    """A refused item of an ``order.create_batch`` answer (``"error"`` is a text, the venue's
    ``"CODE: message"`` or a message alone)."""
    head, sep, rest = item_error.partition(": ")
    if sep and head and head.replace("_", "").isalnum() and head.upper() == head:
        return Rejected(code=head, message=rest, http_status=_status_of(head))
    return Rejected(code="REJECTED", message=item_error, http_status=400)
