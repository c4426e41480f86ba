"""The one exception tree of paradex-hub.

Every error raised by our code derives from :class:`HubError`. Subclasses say *what* failed and
carry the data needed to act on it (venue code, HTTP status, field, subject) plus whether a retry
can help. Third-party exceptions are translated at the edge (REST client, bus, decoders) and
re-raised ``from`` the original.
"""

from __future__ import annotations

from typing import Literal


class HubError(Exception):
    """Base of every paradex-hub error. ``retryable`` says whether trying again can help."""

    retryable: bool = False

    def __init__(self, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        if retryable is not None:
            self.retryable = retryable

    def __str__(self) -> str:
        return self.message


class ConfigError(HubError):
    """A setting is missing or malformed; names the environment variable."""

    def __init__(self, variable: str, reason: str) -> None:
        super().__init__(f"setting {variable}: {reason}")
        self.variable = variable
        self.reason = reason


class DecodeError(HubError):
    """A payload could not be decoded into its model. ``field`` is the JSON path, if known."""

    def __init__(self, what: str, reason: str, *, field: str | None = None) -> None:
        where = f" at {field}" if field else ""
        super().__init__(f"malformed {what}{where}: {reason}")
        self.what = what
        self.reason = reason
        self.field = field


class SigningError(HubError):
    """A message could not be signed or a signature could not be checked (bad key, bad value)."""


Delivery = Literal["not_sent", "unknown"]


class TransportError(HubError):
    """The venue could not be reached or did not answer in time.

    ``delivery`` says what the venue may have seen, as a typed field (never parse the message):

    * ``"not_sent"``: the failure happened before any byte of the request was written
      (connection refused, DNS, TLS, no pooled connection): the venue did not act, and the same
      request may be sent again with the same client id;
    * ``"unknown"``: the request may have reached the venue (a timeout after writing, a connection
      lost mid-answer): the outcome is ambiguous and is resolved by a lookup, never by re-sending
      under a new id.
    """

    retryable = True

    def __init__(self, message: str, *, delivery: Delivery = "unknown",
                 retryable: bool | None = None) -> None:
        super().__init__(message, retryable=retryable)
        self.delivery: Delivery = delivery


class VenueError(HubError):
    """The venue answered with an error status (``{"error": CODE, "message": ...}``).

    ``venue_body`` is False when the body was not a venue error body (an HTML page of a proxy, an
    empty 502): such an answer proves nothing about what the venue did.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str = "",
        *,
        data: object = None,
        retryable: bool | None = None,
        venue_body: bool = True,
    ) -> None:
        super().__init__(
            f"venue error {status} {code}: {message}" if message else f"venue error {status} {code}",
            retryable=retryable if retryable is not None else status >= 500,
        )
        self.status = status
        self.code = code
        self.venue_message = message
        self.data = data
        self.venue_body = venue_body


class AuthError(VenueError):
    """401 from the venue, or an auth request it refused."""


class RateLimitedError(VenueError):
    """429 from the venue. ``retry_after_s`` is how long to wait, when the venue said."""

    retryable = True

    def __init__(self, status: int, code: str, message: str = "", *, retry_after_s: float | None = None,
                 data: object = None, venue_body: bool = True) -> None:
        super().__init__(status, code, message, data=data, retryable=True, venue_body=venue_body)
        self.retry_after_s = retry_after_s


class BusError(HubError):
    """Publishing to or consuming from NATS failed. ``subject`` names where."""

    retryable = True

    def __init__(self, subject: str, reason: str) -> None:
        super().__init__(f"bus {subject}: {reason}")
        self.subject = subject
        self.reason = reason
