"""Walk a payload against its spec schema: JSON Schema validity plus completeness.

The OpenAPI response schemas list no ``required`` fields, yet the venue's examples always carry
every property; AsyncAPI payloads list ``required``. So "complete" here means: every property of
every (nested) object schema is present in the payload, and the payload has no property the
schema does not list, except what :data:`EXEMPT` names with the reason. ``$ref``/``allOf`` are
followed inside the spec document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jsonschema

#: schema component name -> {property: why the simulator leaves it out}.
EXEMPT: dict[str, dict[str, str]] = {
    "responses.MarketResp": {
        "option_type": "options only (the simulator lists perpetuals)",
        "strike_price": "options only",
        "iv_bands_width": "options only",
        "option_cross_margin_params": "options only",
    },
    "responses.FeeWithCap": {
        "fee_cap": "cap/floor apply to option fees only",
        "fee_floor": "cap/floor apply to option fees only",
    },
    "responses.MarketSummaryResp": {
        "mark_iv": "options only", "bid_iv": "options only", "ask_iv": "options only",
        "last_iv": "options only", "forward_rate": "dated options only",
        "risk_free_rate": "options only", "rolling_details": "rolling futures only",
    },
    "ResponsesMarketSummaryResp": {
        "mark_iv": "options only", "bid_iv": "options only", "ask_iv": "options only",
        "last_iv": "options only", "forward_rate": "dated options only",
        "risk_free_rate": "options only", "rolling_details": "rolling futures only",
    },
    "responses.Greeks": {
        "rho": "options only", "theta": "options only", "vanna": "options only", "volga": "options only",
    },
    # An inline (unnamed) schema is named by its path from the enclosing component:
    "ResponsesMarketSummaryResp.greeks": {
        "rho": "options only", "theta": "options only", "vanna": "options only", "volga": "options only",
    },
    "responses.OrderResp": {"request_info": "present only on an order with a modify request"},
    "ResponsesOrderResp": {"request_info": "present only on an order with a modify request"},
    "responses.PriceBookUpdate": {"relative_spread": "interactive feed only"},
    "ResponsesPriceBookUpdate": {"relative_spread": "interactive feed only"},
    "responses.FundingDataResult": {"impact_premium_rate": "cross-venue impact premium: not modelled"},
    "ResponsesFundingDataResult": {"impact_premium_rate": "cross-venue impact premium: not modelled"},
    "responses.ApiError": {"data": "null unless the error carries data (checked separately)"},
    "responses.PaginatedAPIResults": {},
}


@dataclass
class Walk:
    """Findings of one walk: missing and unexpected properties, as JSON paths."""

    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)


class SchemaWalker:
    """Completeness walk over one spec document (``components`` holds the ``$ref`` targets)."""

    def __init__(self, document: dict[str, Any], ref_prefix: str) -> None:
        self.document = document
        self.ref_prefix = ref_prefix  # "#/components/schemas/"

    def resolve(self, schema: dict[str, Any]) -> tuple[dict[str, Any], str]:
        name = ""
        while "$ref" in schema:
            ref: str = schema["$ref"]
            name = ref.removeprefix(self.ref_prefix)
            node: Any = self.document
            for part in ref.removeprefix("#/").split("/"):
                node = node[part]
            schema = node
        return schema, name

    def properties(self, schema: dict[str, Any]) -> tuple[dict[str, Any], set[str], bool]:
        """(properties, exempt names, is-object) of a schema, ``allOf`` merged."""
        schema, name = self.resolve(schema)
        props: dict[str, Any] = dict(schema.get("properties", {}))
        exempt = set(EXEMPT.get(name, {}))
        is_object = schema.get("type") == "object" or "properties" in schema
        for sub in schema.get("allOf", []):
            sub_props, sub_exempt, sub_object = self.properties(sub)
            props.update(sub_props)
            exempt |= sub_exempt
            is_object = is_object or sub_object
        return props, exempt, is_object

    def walk(self, schema: dict[str, Any], instance: Any, path: str = "$", found: Walk | None = None,
             owner: str = "") -> Walk:
        """``owner``: the name an inline schema goes by in :data:`EXEMPT` (``Component.field``)."""
        found = found if found is not None else Walk()
        resolved, name = self.resolve(schema)
        owner = name or owner
        props, exempt, is_object = self.properties(schema)
        exempt |= set(EXEMPT.get(owner, {}))
        if isinstance(instance, dict) and is_object and props:
            for key, sub in props.items():
                if key in instance:
                    self.walk(sub, instance[key], f"{path}.{key}", found, f"{owner}.{key}")
                elif key not in exempt:
                    found.missing.append(f"{path}.{key}")
            found.extra.extend(f"{path}.{key}" for key in instance if key not in props)
        items = resolved.get("items")
        if isinstance(instance, list) and isinstance(items, dict):
            for i, item in enumerate(instance):
                self.walk(items, item, f"{path}[{i}]", found, f"{owner}[]")
        return found

    def check(self, schema: dict[str, Any], instance: Any, what: str,
              nullable: frozenset[str] = frozenset()) -> None:
        """Validate ``instance`` (Draft 7) and assert it is complete. Top-level keys in
        ``nullable`` may be ``null`` (the spec cannot say so): present, but not validated."""
        valid = instance
        if isinstance(instance, dict):
            valid = {k: v for k, v in instance.items() if not (k in nullable and v is None)}
        components = self.document.get("components", {})
        jsonschema.Draft7Validator({**schema, "components": components}).validate(valid)
        found = self.walk(schema, instance)
        assert not found.missing, f"{what}: missing {sorted(set(_generic(p) for p in found.missing))}"
        assert not found.extra, f"{what}: not in the spec {sorted(set(_generic(p) for p in found.extra))}"


def _generic(path: str) -> str:
    """``$.results[3].id`` -> ``$.results[].id`` (one line per field, not per item)."""
    out, depth = [], 0
    for ch in path:
        if ch == "[":
            depth += 1
            out.append("[]")
        elif ch == "]":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)
