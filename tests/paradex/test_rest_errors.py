"""REST error translation and rate-limit headers, from response objects built directly (no server)."""

from __future__ import annotations

import httpx
import pytest

from shared.errors import AuthError, RateLimitedError, TransportError, VenueError
from shared.paradex.rest.errors import error_from_response, error_from_transport
from shared.paradex.rest.ratelimit import (
    AUTH,
    ORDERS_WRITE,
    PRIVATE_READ,
    PUBLIC,
    RateLimit,
    endpoint_family,
    parse_rate_limit,
    parse_retry_after,
)

_REQ = httpx.Request("GET", "http://127.0.0.1:1/v1/orders")


def _response(status: int, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, content=body, headers=headers, request=_REQ)


def test_400_api_error_body_gives_venue_error_with_code_message_and_data() -> None:
    body = b'{"error":"ORDER_IS_CLOSED","message":"order is closed","data":{"id":"17"}}'
    err = error_from_response(_response(400, body))
    assert type(err) is VenueError
    assert (err.status, err.code, err.venue_message, err.data) == (400, "ORDER_IS_CLOSED", "order is closed",
                                                                   {"id": "17"})
    assert not err.retryable


def test_401_gives_auth_error() -> None:
    body = b'{"error":"INVALID_TOKEN","message":"missing or malformed jwt"}'
    err = error_from_response(_response(401, body))
    assert isinstance(err, AuthError)
    assert (err.status, err.code) == (401, "INVALID_TOKEN")


def test_429_gives_rate_limited_error_with_retry_after_from_header() -> None:
    err = error_from_response(_response(429, b'{"error":"RATE_LIMIT","message":"slow down"}',
                                        {"Retry-After": "1.5"}))
    assert isinstance(err, RateLimitedError)
    assert (err.status, err.code, err.retry_after_s) == (429, "RATE_LIMIT", 1.5)
    assert err.retryable


def test_429_without_retry_after_leaves_it_unknown() -> None:
    err = error_from_response(_response(429, b'{"error":"RATE_LIMIT"}'))
    assert isinstance(err, RateLimitedError)
    assert err.retry_after_s is None


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_gives_retryable_venue_error(status: int) -> None:
    err = error_from_response(_response(status, b'{"error":"INTERNAL_ERROR","message":"boom"}'))
    assert type(err) is VenueError
    assert err.status == status and err.code == "INTERNAL_ERROR" and err.retryable


@pytest.mark.parametrize(("status", "body"), [
    (502, b"<html><body>Bad Gateway</body></html>"),
    (503, b""),
    (400, b'{"unexpected": true}'),
    (404, b"not json at all"),
])
def test_non_api_error_body_gives_http_status_code(status: int, body: bytes) -> None:
    err = error_from_response(_response(status, body))
    assert isinstance(err, VenueError)
    assert err.code == f"HTTP_{status}" and err.status == status
    assert err.venue_message  # the body excerpt or the reason phrase


def test_non_json_body_message_is_truncated() -> None:
    err = error_from_response(_response(500, b"x" * 10_000))
    assert len(err.venue_message) <= 200


def test_connect_error_says_not_sent() -> None:
    err = error_from_transport(httpx.ConnectError("refused", request=_REQ), "POST", "/orders")
    assert isinstance(err, TransportError) and "not sent" in str(err) and "POST /orders" in str(err)
    assert err.delivery == "not_sent"


def test_read_timeout_says_outcome_unknown() -> None:
    err = error_from_transport(httpx.ReadTimeout("timed out", request=_REQ), "POST", "/orders")
    assert isinstance(err, TransportError) and "outcome unknown" in str(err)
    assert err.delivery == "unknown"


@pytest.mark.parametrize(("method", "path", "family"), [
    ("GET", "/system/config", PUBLIC),
    ("GET", "/markets/summary", PUBLIC),
    ("GET", "/orderbook/BTC-USD-PERP", PUBLIC),
    ("GET", "/bbo/BTC-USD-PERP", PUBLIC),
    ("POST", "/auth", AUTH),
    ("POST", "/orders", ORDERS_WRITE),
    ("POST", "/orders/batch", ORDERS_WRITE),
    ("PUT", "/orders/123", ORDERS_WRITE),
    ("DELETE", "/orders/by_client_id/c1", ORDERS_WRITE),
    ("GET", "/orders", PRIVATE_READ),
    ("GET", "/orders-history", PRIVATE_READ),
    ("GET", "/fills", PRIVATE_READ),
    ("GET", "/account", PRIVATE_READ),
])
def test_endpoint_family(method: str, path: str, family: str) -> None:
    assert endpoint_family(method, path) == family


def test_rate_limit_headers_are_parsed_case_insensitively() -> None:
    headers = httpx.Headers({"X-RateLimit-Limit": "600", "x-ratelimit-remaining": "599",
                             "x-ratelimit-reset": "1700000000", "X-RATELIMIT-WINDOW": "60"})
    assert parse_rate_limit(headers, 12.5) == RateLimit(limit=600, remaining=599, reset=1700000000.0,
                                                        window=60.0, observed_at=12.5)


def test_rate_limit_absent_headers_give_none_and_malformed_values_none_fields() -> None:
    assert parse_rate_limit(httpx.Headers({}), 0.0) is None
    info = parse_rate_limit(httpx.Headers({"x-ratelimit-limit": "lots", "x-ratelimit-remaining": "3"}), 0.0)
    assert info is not None and info.limit is None and info.remaining == 3 and info.reset is None


@pytest.mark.parametrize(("value", "expected"), [("2", 2.0), ("0.25", 0.25), ("-1", None), ("nan", None),
                                                 ("Wed, 21 Oct 2015 07:28:00 GMT", None)])
def test_retry_after_seconds_only(value: str, expected: float | None) -> None:
    assert parse_retry_after(httpx.Headers({"Retry-After": value})) == expected


def test_a_venue_error_body_is_marked_and_a_foreign_body_is_not() -> None:
    assert error_from_response(_response(400, b'{"error":"X","message":"m"}')).venue_body is True
    assert error_from_response(_response(429, b'{"error":"TOO_MANY_REQUESTS"}')).venue_body is True
    assert error_from_response(_response(401, b'{"error":"INVALID_TOKEN"}')).venue_body is True
    for status, body in [(403, b"<html>Forbidden</html>"), (400, b'{"error":""}'), (429, b"")]:
        assert error_from_response(_response(status, body)).venue_body is False, (status, body)


@pytest.mark.parametrize("exc", [
    httpx.ReadError("reset"), httpx.RemoteProtocolError("server disconnected"), httpx.WriteError("pipe"),
])
def test_a_failure_before_any_write_is_not_sent_whatever_its_type(exc: httpx.HTTPError) -> None:
    assert error_from_transport(exc, "POST", "/orders", written=False).delivery == "not_sent"
    assert error_from_transport(exc, "POST", "/orders", written=True).delivery == "unknown"
