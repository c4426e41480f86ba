"""shared.openapi_doc on a small app: declared answers, parameters and security are rendered, a
route without a declaration is named and still valid (its path parameters, the default security),
Raw fields are typed, unused components dropped, and the document is built once."""

from __future__ import annotations

from typing import Any

import msgspec
from fastapi import FastAPI, Request
from fastapi.responses import Response
from openapi_spec_validator import validate

from shared.openapi_doc import ApiDoc, Operation, Param, Reply, install, undeclared


class Thing(msgspec.Struct, kw_only=True):
    id: str
    size: int = 0


class Wrapper(msgspec.Struct, kw_only=True):
    inner: msgspec.Raw


class Oops(msgspec.Struct, kw_only=True):
    error: str
    rule: str
    message: str


def _app() -> tuple[FastAPI, ApiDoc]:
    app = FastAPI(title="t", version="1")

    @app.get("/v1/things/{thing_id}")
    async def thing(request: Request) -> Response:
        return Response(b"{}")

    @app.post("/v1/later/{a}/{b}")
    async def later(request: Request) -> Response:  # no declaration (a route added later)
        return Response(b"{}")

    @app.get("/healthz")
    async def healthz(q: int = 1) -> Response:
        return Response(b"{}")

    doc = ApiDoc(
        {"thing": Operation((Reply(200, "the thing", Wrapper, ("X-Seq",)), Reply(404, "none", Oops)),
                            params=(Param("thing_id", "path", schema={"pattern": "^[0-9]+$"}),
                                    Param("depth", type=int, schema={"minimum": 1, "maximum": 1000}))),
         "healthz": Operation((Reply(200, "ok", (Thing, Oops)),),
                              params=(Param("q", schema={"maximum": 9}),), secured=False)},
        scheme=("bearer", {"type": "http", "scheme": "bearer"}),
        unauthorized=Reply(401, "no token", Oops),
        headers={"X-Seq": {"schema": {"type": "integer"}}},
        fields={(Wrapper, "inner"): Thing},
        secured=lambda path: path.startswith("/v1/"),
    )
    install(app, doc)
    return app, doc


def test_declared_answers_parameters_and_security_are_rendered_and_the_document_is_valid() -> None:
    app, _ = _app()
    d: dict[str, Any] = app.openapi()
    validate(d)
    op = d["paths"]["/v1/things/{thing_id}"]["get"]
    assert sorted(op["responses"]) == ["200", "401", "404"] and op["security"] == [{"bearer": []}]
    assert op["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Wrapper"}
    assert op["responses"]["200"]["headers"] == {"X-Seq": {"schema": {"type": "integer"}}}
    params = {p["name"]: p for p in op["parameters"]}
    assert params["thing_id"] == {"name": "thing_id", "in": "path", "required": True,
                                  "schema": {"type": "string", "pattern": "^[0-9]+$"}}
    assert params["depth"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 1000}
    schemas = d["components"]["schemas"]
    assert schemas["Wrapper"]["properties"]["inner"] == {"$ref": "#/components/schemas/Thing"}
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas  # pruned
    health = d["paths"]["/healthz"]["get"]
    assert "security" not in health and "401" not in health["responses"]
    assert health["responses"]["200"]["content"]["application/json"]["schema"] == {"anyOf": [
        {"$ref": "#/components/schemas/Thing"}, {"$ref": "#/components/schemas/Oops"}]}
    q = health["parameters"][0]  # FastAPI's own (from the signature), with the declared limit added
    assert q["schema"]["type"] == "integer" and q["schema"]["maximum"] == 9
    assert d["components"]["securitySchemes"] == {"bearer": {"type": "http", "scheme": "bearer"}}


def test_an_undeclared_route_is_named_and_still_valid_with_its_path_parameters_and_the_default() -> None:
    app, doc = _app()
    assert undeclared(app, doc) == ["later"]
    op = app.openapi()["paths"]["/v1/later/{a}/{b}"]["post"]
    assert [(p["name"], p["in"], p["required"]) for p in op["parameters"]] == [
        ("a", "path", True), ("b", "path", True)]
    assert op["security"] == [{"bearer": []}] and "401" in op["responses"]


def test_the_document_is_built_once() -> None:
    app, _ = _app()
    first = app.openapi()
    assert app.openapi() is first and app.openapi_schema is first
