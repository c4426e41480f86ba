"""Errors of the strategy client: every one says what the service answered.

:class:`ServiceError` carries the HTTP ``status``, the service's ``error`` code, the ``rule`` broken
(commands: ``bearer_token``, ``allowed_markets``, ``max_order_notional``, ``venue`` for a venue
rejection...) and the human ``message``. Network failures become :class:`ServiceUnreachable`
(for a command: the outcome is unknown, look the order up by client id, never resend blindly).
"""

from __future__ import annotations


class ClientError(Exception):
    """Base of the client's errors. ``retryable`` says whether trying again can help.

    (Its own base, not the services' ``shared.errors.HubError``: the client installs alone.)
    """

    retryable: bool = False

    def __init__(self, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        if retryable is not None:
            self.retryable = retryable

    def __str__(self) -> str:
        return self.message


class ServiceUnreachable(ClientError):
    """The service did not answer (connection refused, timeout). ``url`` is what was called."""

    retryable = True

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


class ServiceError(ClientError):
    """A non-2xx answer: ``status``, ``error`` code, ``rule`` and ``message`` from the body."""

    def __init__(self, status: int, error: str, rule: str = "", message: str = "", *,
                 body: bytes = b"", retryable: bool | None = None) -> None:
        text = f"HTTP {status} {error}" + (f" ({rule})" if rule else "") + (f": {message}" if message else "")
        super().__init__(text, retryable=retryable if retryable is not None else status >= 500)
        self.status = status
        self.error = error
        self.rule = rule
        self.body = body
        self.detail = message
        #: The body's ``seq``: from the commands service, the ACCOUNT stream sequence of the event a
        #: refused call still published (a venue rejection: the order shows REJECTED as of it); from
        #: the state service, the sequence its answer reflects; 0 when none. Set by the transport.
        self.seq = 0


class NotFound(ServiceError):
    """404: no such order/book/account record (yet)."""


class Unauthorized(ServiceError):
    """401: the bearer token is missing or unknown."""


class Forbidden(ServiceError):
    """403: outside the strategy's limits (market, notional, open orders, position, ownership)."""


class Conflict(ServiceError):
    """409: the client id belongs to another strategy."""


class InvalidRequest(ServiceError):
    """422: a market/system rule or the request schema was broken."""


class RateLimited(ServiceError):
    """429: slow down; ``retry_after_s`` says how long (when the service said)."""

    retryable = True

    def __init__(self, status: int, error: str, rule: str = "", message: str = "", *,
                 body: bytes = b"", retry_after_s: float | None = None) -> None:
        super().__init__(status, error, rule, message, body=body, retryable=True)
        self.retry_after_s = retry_after_s


class Rejected(ServiceError):
    """400: the venue refused the command (``error`` is the venue's code, ``rule`` is ``venue``)."""


class Unavailable(ServiceError):
    """503: the service cannot take the command now (e.g. the bus is down); nothing was sent."""


class EventsOverflow(ClientError):
    """The SSE stream cut this client off because it read too slowly (a reconnecting reader
    resumes from its last event; one that does not reconnect must re-read the state)."""


class EventsReset(ClientError):
    """The state service can no longer replay the events after our last one: re-read the state
    (HTTP), then follow the events with ``after_seq`` = the ``seq`` of that read. ``seq`` is the
    ACCOUNT sequence the service had published when it said so."""

    def __init__(self, seq: int, reason: str = "") -> None:
        super().__init__(f"SSE reset at account seq {seq}: {reason or 're-read the state'}")
        self.seq = seq
        self.reason = reason


_BY_STATUS: dict[int, type[ServiceError]] = {
    400: Rejected, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict, 422: InvalidRequest,
    503: Unavailable,
}


def error_for(status: int, error: str, rule: str, message: str, body: bytes,
              retry_after_s: float | None = None) -> ServiceError:
    """The :class:`ServiceError` subclass for an HTTP status."""
    if status == 429:
        return RateLimited(status, error, rule, message, body=body, retry_after_s=retry_after_s)
    cls = _BY_STATUS.get(status, ServiceError)
    return cls(status, error, rule, message, body=body)
