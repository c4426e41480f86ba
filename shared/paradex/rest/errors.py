"""Translation of venue error responses and httpx exceptions into the hub's error tree (one place).

* :func:`error_from_response`: a non-2xx ``httpx.Response`` → :class:`AuthError` (401),
  :class:`RateLimitedError` (429, ``retry_after_s`` from ``Retry-After``) or :class:`VenueError`
  (any other status), each carrying the venue code (``ApiError.error``), message, data and status.
  A body that is not an ``ApiError`` (an HTML page from a proxy, an empty 502...) gives the code
  ``HTTP_<status>``, the start of the body as the message and ``venue_body=False`` (such an
  answer does not prove the venue refused anything).
* :func:`error_from_transport`: an ``httpx`` exception → :class:`TransportError` whose typed
  ``delivery`` says whether the request may have reached the venue.
"""

from __future__ import annotations

import httpx

from shared.errors import AuthError, DecodeError, Delivery, RateLimitedError, TransportError, VenueError
from shared.paradex.models.common import decode
from shared.paradex.models.rest import ApiError
from shared.paradex.rest.ratelimit import parse_retry_after

_BODY_EXCERPT = 200


def error_from_response(response: httpx.Response) -> VenueError:
    """The typed error for a non-2xx ``response`` (its body must have been read)."""
    status = response.status_code
    code, message, data, venue_body = _error_body(response)
    if status == 401:
        return AuthError(status, code, message, data=data, venue_body=venue_body)
    if status == 429:
        return RateLimitedError(status, code, message, retry_after_s=parse_retry_after(response.headers),
                                data=data, venue_body=venue_body)
    return VenueError(status, code, message, data=data, venue_body=venue_body)


def _error_body(response: httpx.Response) -> tuple[str, str, object, bool]:
    body = response.content
    try:
        err = decode(ApiError, body)
    except DecodeError:
        text = body[:_BODY_EXCERPT].decode("utf-8", "replace").strip()
        return f"HTTP_{response.status_code}", text or response.reason_phrase, None, False
    return err.error, err.message, err.data, bool(err.error)


def error_from_transport(exc: httpx.HTTPError, method: str, path: str, *,
                         written: bool = True) -> TransportError:
    """A :class:`TransportError` for an httpx failure of ``method path``.

    ``delivery`` is ``not_sent`` when the failure happened before any byte of the request was
    written: a connection that could not be made (refused, DNS, TLS, connect timeout), no pooled
    connection in time, or ``written`` False (the caller's trace saw no write start). Anything
    later (write or read timeout, a connection lost mid-request or mid-answer) is ``unknown``: an
    order write is then resolved by a lookup, never re-sent under a new id.
    """
    delivery: Delivery
    connect = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    if connect or not written:
        delivery, what = "not_sent", "not sent"
    else:
        delivery, what = "unknown", "outcome unknown"
    kind = type(exc).__name__
    detail = str(exc) or kind
    return TransportError(f"{method} {path}: {kind} ({what}): {detail}", delivery=delivery)
