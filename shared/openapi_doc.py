"""Typed OpenAPI documents for the services' FastAPI apps, from declarations next to the routes.

The HTTP edges take raw requests and encode msgspec Structs themselves, so FastAPI cannot see
what a route answers. Each service declares, per route name, an :class:`Operation`: every
:class:`Reply` it can give (status, body type(s), headers), its parameters and request body, and
whether it needs the bearer token. :func:`install` makes ``app.openapi()`` render the document
from FastAPI's own (paths, query parameters it derived from signatures) plus those declarations:

- body schemas come from the msgspec types (``msgspec.json.schema_components``: one component per
  Struct, named after the class); a tuple of types is ``anyOf`` (msgspec cannot express a union of
  untagged Structs), ``None`` is a body-less answer;
- path parameters missing from FastAPI's view (raw ``Request`` handlers) are declared from the
  path template, so the document stays valid whatever a later route forgets;
- routes that need a token get the security requirement and the 401 answer of the document
  (unless they declare their own);
- components nothing refers to any more (FastAPI's validation-error shapes we replaced) are
  dropped.

The document is built once, on the first ``GET /openapi.json`` (then cached by FastAPI): nothing of
this runs on a request path. :func:`undeclared` names routes without a declaration (the tests
require none): a route added later is documented by adding its :class:`Operation` to the table.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
from fastapi import FastAPI
from fastapi.routing import APIRoute

JSON = "application/json"
REF = "#/components/schemas/{name}"
_PATH_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")


@dataclass(frozen=True)
class Reply:
    """One answer a route can give: ``body`` a type, a tuple of types (any of them) or None."""

    status: int
    description: str
    body: Any = None
    headers: tuple[str, ...] = ()
    media_type: str = JSON


@dataclass(frozen=True)
class Param:
    """A path, query or header parameter; ``schema`` adds JSON Schema keywords (limits, pattern)."""

    name: str
    where: Literal["path", "query", "header"] = "query"
    type: Any = str
    description: str = ""
    required: bool = False
    schema: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    """What one route takes and answers. ``secured`` None: the document's default for its path."""

    replies: tuple[Reply, ...]
    params: tuple[Param, ...] = ()
    body: Any = None
    secured: bool | None = None
    description: str = ""


@dataclass(frozen=True)
class ApiDoc:
    """Declarations of one app: ``operations`` by route name; ``scheme`` the bearer security scheme
    (name, OpenAPI object); ``unauthorized`` the 401 every secured route gets; ``headers`` the
    response headers :class:`Reply` names; ``fields`` overrides a Struct field's schema (a
    ``msgspec.Raw`` field holding another body, an ``Any``) with a type; ``secured`` the default by
    path."""

    operations: Mapping[str, Operation]
    scheme: tuple[str, Mapping[str, Any]]
    unauthorized: Reply | None = None
    headers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    fields: Mapping[tuple[type, str], Any] = field(default_factory=dict)
    secured: Callable[[str], bool] = lambda _path: True


def _routes(app: FastAPI) -> list[APIRoute]:
    return [r for r in app.routes if isinstance(r, APIRoute) and r.include_in_schema]


def undeclared(app: FastAPI, doc: ApiDoc) -> list[str]:
    """Names of the documented routes of ``app`` that ``doc`` has no :class:`Operation` for."""
    return sorted({r.name for r in _routes(app) if r.name not in doc.operations})


def _flat(body: Any) -> tuple[Any, ...]:
    if body is None:
        return ()
    return body if isinstance(body, tuple) else (body,)


class _Schemas:
    """msgspec schemas of every type a document names, rendered in one call (shared components)."""

    def __init__(self, types: Iterable[Any]) -> None:
        self.types: list[Any] = []
        for t in types:
            if t not in self.types:
                self.types.append(t)
        refs, self.components = msgspec.json.schema_components(self.types, ref_template=REF)
        self.refs = list(refs)

    def of(self, body: Any) -> dict[str, Any]:
        parts = [copy.deepcopy(self.refs[self.types.index(t)]) for t in _flat(body)]
        return parts[0] if len(parts) == 1 else {"anyOf": parts}

    def name(self, t: type) -> str:
        ref: str = self.refs[self.types.index(t)]["$ref"]
        return ref.rsplit("/", 1)[1]


def _types(doc: ApiDoc) -> list[Any]:
    out: list[Any] = []
    replies = [r for op in doc.operations.values() for r in op.replies]
    if doc.unauthorized is not None:
        replies.append(doc.unauthorized)
    for r in replies:
        out += _flat(r.body)
    for op in doc.operations.values():
        out += _flat(op.body)
        out += [p.type for p in op.params]
    for (owner, _name), t in doc.fields.items():
        out.append(owner)
        out += _flat(t)
    return out


def _response(reply: Reply, schemas: _Schemas, headers: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"description": reply.description}
    if reply.body is not None:
        out["content"] = {reply.media_type: {"schema": schemas.of(reply.body)}}
    if reply.headers:
        out["headers"] = {h: dict(headers[h]) for h in reply.headers}
    return out


def _param(p: Param, schemas: _Schemas) -> dict[str, Any]:
    schema = {**schemas.of(p.type), **p.schema}
    out: dict[str, Any] = {"name": p.name, "in": p.where, "required": p.required or p.where == "path",
                           "schema": schema}
    if p.description:
        out["description"] = p.description
    return out


def _parameters(route: APIRoute, current: list[dict[str, Any]], op: Operation | None,
                schemas: _Schemas) -> list[dict[str, Any]]:
    """FastAPI's parameters, updated by the declared ones, plus undeclared path parameters."""
    by_key = {(p["in"], p["name"]): p for p in current}
    for p in op.params if op is not None else ():
        declared = _param(p, schemas)
        old = by_key.get((p.where, p.name))
        if old is not None:  # FastAPI's (from the signature) keeps its type; limits may be added
            declared["schema"] = {**old.get("schema", {}), **p.schema}
            declared = {**old, **declared}
        by_key[(p.where, p.name)] = declared
    for name in _PATH_PARAM.findall(route.path):
        by_key.setdefault(("path", name), {"name": name, "in": "path", "required": True,
                                           "schema": {"type": "string"}})
    return list(by_key.values())


def _refs(node: Any, out: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            out.add(ref.rsplit("/", 1)[1])
        for v in node.values():
            _refs(v, out)
    elif isinstance(node, list):
        for v in node:
            _refs(v, out)


def _prune(document: dict[str, Any]) -> None:
    """Drop the schema components that nothing in the paths refers to, directly or not."""
    components = document.get("components", {}).get("schemas", {})
    seen: set[str] = set()
    _refs(document.get("paths", {}), seen)
    todo = list(seen)
    while todo:
        found: set[str] = set()
        _refs(components.get(todo.pop(), {}), found)
        todo += [n for n in found - seen]
        seen |= found
    for name in list(components):
        if name not in seen:
            del components[name]


def render(app: FastAPI, doc: ApiDoc, base: dict[str, Any]) -> dict[str, Any]:
    """The document of ``app``: FastAPI's ``base`` with ``doc``'s declarations applied."""
    document = copy.deepcopy(base)
    schemas = _Schemas(_types(doc))
    components = document.setdefault("components", {})
    all_schemas = components.setdefault("schemas", {})
    all_schemas.update(copy.deepcopy(schemas.components))
    for (owner, name), t in doc.fields.items():
        prop = all_schemas[schemas.name(owner)]["properties"]
        prop[name] = {**{k: v for k, v in prop[name].items() if k == "description"}, **schemas.of(t)}
    scheme_name, scheme = doc.scheme
    components.setdefault("securitySchemes", {})[scheme_name] = dict(scheme)
    for route in _routes(app):
        op = doc.operations.get(route.name)
        secured = doc.secured(route.path) if op is None or op.secured is None else op.secured
        for method in sorted(route.methods or ()):
            operation = document["paths"][route.path][method.lower()]
            params = _parameters(route, operation.get("parameters", []), op, schemas)
            if params:
                operation["parameters"] = params
            if op is not None:
                if op.body is not None:
                    operation["requestBody"] = {"required": True,
                                                "content": {JSON: {"schema": schemas.of(op.body)}}}
                if op.description:
                    operation["description"] = op.description
                operation["responses"] = {str(r.status): _response(r, schemas, doc.headers)
                                          for r in sorted(op.replies, key=lambda r: r.status)}
            if secured:
                operation["security"] = [{scheme_name: []}]
                no_auth = doc.unauthorized
                if no_auth is not None and str(no_auth.status) not in operation["responses"]:
                    operation["responses"][str(no_auth.status)] = _response(no_auth, schemas, doc.headers)
            else:
                operation.pop("security", None)
    _prune(document)
    result: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(document))  # JSON values only
    return result


def install(app: FastAPI, doc: ApiDoc) -> None:
    """Make ``app.openapi()`` serve the declared document (built once, then cached)."""
    base = app.openapi
    built: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        if not built:
            built.append(render(app, doc, base()))
            app.openapi_schema = built[0]
        return built[0]

    app.openapi = openapi  # type: ignore[method-assign]
