"""The outcome classes of an order write (pure): only a 4xx with a venue error body is a rejection."""

from __future__ import annotations

import pytest

from services.commands.core.outcome import NotSent, Rejected, Unknown, classify, kind_of
from shared.errors import AuthError, DecodeError, RateLimitedError, TransportError, VenueError


@pytest.mark.parametrize(
    "exc",
    [
        VenueError(400, "VALIDATION_ERROR", "bad size"),
        VenueError(403, "NO_ACCESS_TO_MARKET"),
        AuthError(401, "INVALID_TOKEN", "after one renewal"),
        RateLimitedError(429, "TOO_MANY_REQUESTS", retry_after_s=2.0),
        VenueError(404, "ORDER_ID_NOT_FOUND"),
    ],
)
def test_a_4xx_with_a_venue_error_body_is_a_definite_rejection(exc: VenueError) -> None:
    out = classify(exc)
    assert isinstance(out, Rejected) and (out.code, out.http_status) == (exc.code, exc.status)
    assert kind_of(out) == "rejected"


def test_a_venue_429_carries_its_retry_after() -> None:
    out = classify(RateLimitedError(429, "TOO_MANY_REQUESTS", retry_after_s=2.5))
    assert isinstance(out, Rejected) and out.retry_after_s == 2.5


@pytest.mark.parametrize(
    "exc",
    [
        VenueError(500, "INTERNAL_ERROR"),
        VenueError(503, "SERVICE_UNAVAILABLE", "request timed out"),
        VenueError(502, "HTTP_502", "<html>", venue_body=False),
        VenueError(400, "HTTP_400", "<html>proxy</html>", venue_body=False),
        RateLimitedError(429, "HTTP_429", "", venue_body=False),
        TransportError("read timeout", delivery="unknown"),
        DecodeError("Order", "expected an object"),
        RuntimeError("anything else"),
    ],
)
def test_5xx_timeouts_foreign_bodies_and_garbage_are_ambiguous(exc: Exception) -> None:
    out = classify(exc)
    assert isinstance(out, Unknown) and out.reason and kind_of(out) == "unknown"


def test_a_failure_before_any_write_is_not_sent() -> None:
    out = classify(TransportError("POST /orders: ConnectError (not sent)", delivery="not_sent"))
    assert isinstance(out, NotSent) and "ConnectError" in out.reason and kind_of(out) == "not_sent"
