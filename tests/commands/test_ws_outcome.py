"""The outcome class of a JSON-RPC error answer to an ``order.*`` call (pure, ``core.outcome``)."""

from __future__ import annotations

import pytest

from services.commands.core.outcome import NotSent, Rejected, Unknown, batch_item, classify_rpc


def test_a_method_error_with_the_venues_api_error_is_a_definite_rejection_with_its_code() -> None:
    out = classify_rpc(100, "bad sig", {"error": "INVALID_ORDER_SIGNATURE", "message": "signature"})
    assert out == Rejected(code="INVALID_ORDER_SIGNATURE", message="signature", http_status=400)
    not_found = classify_rpc(100, "x", {"error": "ORDER_ID_NOT_FOUND", "message": ""})
    assert isinstance(not_found, Rejected) and not_found.http_status == 404
    assert classify_rpc(100, "no data", None) == Rejected(
        code="METHOD_ERROR", message="no data", http_status=400
    )


def test_a_method_error_naming_a_server_failure_and_an_internal_error_are_ambiguous() -> None:
    assert isinstance(classify_rpc(100, "x", {"error": "INTERNAL_ERROR", "message": "boom"}), Unknown)
    assert isinstance(classify_rpc(100, "x", {"error": "SERVICE_UNAVAILABLE"}), Unknown)
    assert isinstance(classify_rpc(-32603, "internal error", None), Unknown)
    assert isinstance(classify_rpc(12345, "never heard of it", None), Unknown)


def test_rate_limit_is_a_429_rejection_with_retry_after() -> None:
    out = classify_rpc(42901, "Rate limit exceeded", 0.25)
    assert out == Rejected(
        code="TOO_MANY_REQUESTS", message="Rate limit exceeded", http_status=429, retry_after_s=0.25
    )
    assert classify_rpc(42901, "x", "soon") == Rejected(
        code="TOO_MANY_REQUESTS", message="x", http_status=429
    )


@pytest.mark.parametrize("code", [-32700, -32600, -32601, -32602])
def test_a_malformed_request_is_a_definite_rejection(code: int) -> None:
    out = classify_rpc(code, "invalid params", "side: required")
    assert isinstance(out, Rejected) and out.code == "INVALID_REQUEST_PARAMETER" and "side" in out.message


@pytest.mark.parametrize("code", [40110, 40111, 40112, 40300])
def test_an_auth_error_is_not_sent(code: int) -> None:
    assert isinstance(classify_rpc(code, "auth", None), NotSent)


def test_batch_item_errors_keep_the_venue_code_when_it_gives_one() -> None:
    assert batch_item("INSUFFICIENT_MARGIN: not enough") == Rejected(
        code="INSUFFICIENT_MARGIN", message="not enough", http_status=400
    )
    assert batch_item("something: odd") == Rejected(
        code="REJECTED", message="something: odd", http_status=400
    )
    assert batch_item("plain text") == Rejected(code="REJECTED", message="plain text", http_status=400)
