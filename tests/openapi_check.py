"""Check a service's real HTTP answers against its own OpenAPI document (no tests here).

:class:`Documented` validates the document (openapi-spec-validator), then for each answer a test
hands it: the status is one the route documents, the content type is the documented one, the
JSON body validates (jsonschema, draft 2020-12 as OpenAPI 3.1 says) against the documented schema
made strict (every object with ``properties`` refuses other fields: the bodies are encoded from
the very Structs the schemas come from, so an undocumented field is a drift), and every response
header the document knows of that the answer carries is declared for that status, with a valid
value. :meth:`Documented.unchecked` names the operations no answer was checked for.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate


def _strict(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _strict(v) for k, v in node.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


def _text(resp: httpx.Response) -> str:
    """The body as text ("" for a stream not read: its content type is still checked)."""
    try:
        return resp.text
    except httpx.ResponseNotRead:
        return ""


class Documented:
    """A validated OpenAPI document and the answers checked against it."""

    def __init__(self, document: dict[str, Any]) -> None:
        validate(copy.deepcopy(document))
        self.document = document
        self.components = _strict(document.get("components", {}))
        self.headers = {h.lower() for path in document["paths"].values() for op in path.values()
                        for r in op.get("responses", {}).values() for h in r.get("headers", {})}
        self.checked: set[tuple[str, str, str]] = set()

    def operation(self, method: str, path: str) -> dict[str, Any]:
        op: dict[str, Any] = self.document["paths"][path][method.lower()]
        return op

    def schema(self, schema: dict[str, Any]) -> Draft202012Validator:
        root = {**_strict(schema), "components": self.components}
        Draft202012Validator.check_schema(root)
        return Draft202012Validator(root)

    def check(self, resp: httpx.Response, method: str, path: str) -> Any:
        """Assert ``resp`` (an answer of ``method path``, ``path`` the template) is documented;
        its decoded JSON body (or text)."""
        where = f"{method} {path} -> {resp.status_code}"
        op = self.operation(method, path)
        status = str(resp.status_code)
        assert status in op["responses"], f"{where}: undocumented status; body {_text(resp)[:300]}"
        reply = op["responses"][status]
        ctype = resp.headers.get("content-type", "").split(";")[0].strip()
        content = reply.get("content", {})
        body: Any = _text(resp)
        if content:
            assert ctype in content, f"{where}: content type {ctype!r}, documented {sorted(content)}"
            if ctype == "application/json":
                body = resp.json()
            errors = sorted(self.schema(content[ctype]["schema"]).iter_errors(body), key=str)
            assert not errors, f"{where}: body does not match its schema: {errors[0].message} at " \
                               f"{list(errors[0].absolute_path)}; body {json.dumps(body)[:400]}"
        declared = {h.lower(): v for h, v in reply.get("headers", {}).items()}
        for name in self.headers & {h.lower() for h in resp.headers}:
            assert name in declared, f"{where}: header {name} is sent but not documented for {status}"
            value: Any = resp.headers[name]
            if declared[name]["schema"].get("type") == "integer":
                value = int(value)
            errors = list(self.schema(declared[name]["schema"]).iter_errors(value))
            assert not errors, f"{where}: header {name}={value!r}: {errors[0].message}"
        self.checked.add((method.lower(), path, status))
        return body

    def unchecked(self) -> list[str]:
        """``METHOD path`` of the operations for which no answer was checked."""
        done = {(m, p) for m, p, _ in self.checked}
        return sorted(f"{m.upper()} {p}" for p, ops in self.document["paths"].items() for m in ops
                      if (m, p) not in done)

    def statuses(self, method: str, path: str) -> set[int]:
        """The statuses checked for one operation."""
        return {int(s) for m, p, s in self.checked if (m, p) == (method.lower(), path)}
