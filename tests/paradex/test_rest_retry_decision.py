"""Which failures of a safe (GET) request are retried, and after how long (pure decision)."""

from __future__ import annotations

import pytest

from shared.errors import AuthError, RateLimitedError, TransportError, VenueError
from shared.paradex.rest.session import retry_delay
from shared.paradex.retry import BackoffPolicy

POLICY = BackoffPolicy(initial_s=0.1, factor=2.0, max_s=1.0)


def _one() -> float:
    return 1.0


@pytest.mark.parametrize("exc", [
    TransportError("GET /orders: ReadTimeout (outcome unknown)"),
    VenueError(500, "INTERNAL_ERROR"),
    VenueError(503, "HTTP_503"),
    RateLimitedError(429, "RATE_LIMIT"),
])
def test_transport_errors_5xx_and_429_are_retried_with_backoff(exc: Exception) -> None:
    assert retry_delay(exc, 0, POLICY, 3, _one) == pytest.approx(0.1)  # type: ignore[arg-type]
    assert retry_delay(exc, 2, POLICY, 3, _one) == pytest.approx(0.4)  # type: ignore[arg-type]


@pytest.mark.parametrize("exc", [
    VenueError(400, "ORDER_ID_NOT_FOUND"), VenueError(404, "NOT_FOUND"), AuthError(401, "INVALID_TOKEN"),
])
def test_client_errors_are_not_retried(exc: VenueError) -> None:
    assert retry_delay(exc, 0, POLICY, 3, _one) is None


def test_retries_stop_after_max_retries() -> None:
    assert retry_delay(VenueError(502, "HTTP_502"), 3, POLICY, 3, _one) is None
    assert retry_delay(VenueError(502, "HTTP_502"), 0, POLICY, 0, _one) is None


def test_429_waits_the_venue_retry_after() -> None:
    assert retry_delay(RateLimitedError(429, "RATE_LIMIT", retry_after_s=0.7), 0, POLICY, 3, _one) == 0.7


def test_429_with_retry_after_beyond_the_cap_gives_up() -> None:
    assert retry_delay(RateLimitedError(429, "RATE_LIMIT", retry_after_s=30.0), 0, POLICY, 3, _one) is None
