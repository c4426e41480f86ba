"""REST error bodies are ApiErrors with documented codes (success bodies: ``test_spec_walk_rest``).

Schemas come from ``openapi.json`` (via ``tests/spec.py``: skipped when the spec is absent). The
spec marks nothing nullable, yet the venue writes ``"data": null``: checked, then left out.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from tests.simfixture import SimHandle
from tests.spec import load_spec

pytestmark = pytest.mark.spec

ERRORS = [
    ("GET", "/orders/{order_id}", "/orders/1", None, 404, "ORDER_ID_NOT_FOUND"),
    ("POST", "/orders", "/orders", {"market": "BTC-USD-PERP"}, 400, "VALIDATION_ERROR"),
    ("GET", "/bbo/{market}", "/bbo/NOPE", None, 404, "MARKET_NOT_FOUND"),
    ("GET", "/account", "/account", None, 401, "INVALID_TOKEN"),
]


@pytest.mark.parametrize(("method", "spec_path", "url", "body", "status", "code"), ERRORS)
async def test_error_bodies_are_api_errors_with_documented_codes(
    simulator: SimHandle, method: str, spec_path: str, url: str, body: Any, status: int, code: str
) -> None:
    spec = load_spec("openapi.json")
    api_error = {"$ref": "#/components/schemas/responses.ApiError", "components": spec["components"]}
    async with simulator.authed() as c:
        if status == 401:
            del c.headers["Authorization"]
        resp = await c.request(method, url, json=body)
    assert (resp.status_code, resp.json()["error"]) == (status, code)
    assert resp.json()["data"] is None
    payload = {k: v for k, v in resp.json().items() if v is not None}
    jsonschema.Draft7Validator(api_error).validate(payload)
    assert code in spec["components"]["schemas"]["responses.ErrorCode"]["enum"]
