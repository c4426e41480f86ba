"""Translation of venue error responses and httpx exceptions into the hub's error tree (one place).

* :func:`error_from_response`: a non-2xx ``httpx.Response`` → :class:`AuthError` (401),
  :class:`RateLimitedError` (429, ``retry_after_s`` from ``Retry-After``) or :class:`VenueError`
  (any other status), each carrying the venue code (``ApiError.error``), message, data and status.
  A body that is not an ``ApiError`` (an HTML page from a proxy, an empty 502...) gives the code
  ``HTTP_<status>`` and the start of the body as the message.
* :func:`error_from_transport`: an ``httpx`` exception → :class:`TransportError` whose message says
  whether the request may have reached the venue.
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
    code, message, data = _error_body(response)
    if status == 401:
        return AuthError(status, code, message, data=data)
    if status == 429:
        return RateLimitedError(status, code, message, retry_after_s=parse_retry_after(response.headers),
                                data=data)
    return VenueError(status, code, message, data=data)


def _error_body(response: httpx.Response) -> tuple[str, str, object]:
    body = response.content
    try:
        err = decode(ApiError, body)
    except DecodeError:
        text = body[:_BODY_EXCERPT].decode("utf-8", "replace").strip()
        return f"HTTP_{response.status_code}", text or response.reason_phrase, None
    return err.error, err.message, err.data


def error_from_transport(exc: httpx.HTTPError, method: str, path: str) -> TransportError:
    """A :class:`TransportError` for an httpx failure of ``method path``.

    Connection failures happen before a byte is sent; anything later (write/read timeout,
    dropped connection) leaves the outcome unknown, which the message says so that an order
    POST is resolved by lookup rather than resent.
    """
    delivery: Delivery
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        delivery, what = "not_sent", "not sent"
    else:
        delivery, what = "unknown", "outcome unknown"
    kind = type(exc).__name__
    detail = str(exc) or kind
    return TransportError(f"{method} {path}: {kind} ({what}): {detail}", delivery=delivery)
