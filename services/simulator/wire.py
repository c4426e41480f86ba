"""Engine events and wire models as the bytes the venue sends (JSON), on top of ``engine.convert``.

The shared models omit fields equal to their default when encoding (right for the hub's
requests), but the venue writes every field of a response, empty ones included (``"tags": []``,
``"trigger_price": ""``): :func:`complete` turns a model into builtins with every field that has a
value; only ``None`` (the models' "absent") is left out, since the spec allows no JSON null
there. Models whose fields have no defaults (book, trade, order...) encode completely already and
take the fast path.
"""

from __future__ import annotations

from typing import Any

import msgspec

from shared.paradex.models.common import encode

from .engine import VenueEvent, convert

_PLANS: dict[type, tuple[tuple[tuple[str, Any], ...], tuple[str, ...]]] = {}


def _holds_struct(t: msgspec.inspect.Type) -> bool:
    if isinstance(t, msgspec.inspect.StructType):
        return True
    if isinstance(t, msgspec.inspect.UnionType):
        return any(_holds_struct(x) for x in t.types)
    if isinstance(t, msgspec.inspect.ListType | msgspec.inspect.VarTupleType):
        return _holds_struct(t.item_type)
    if isinstance(t, msgspec.inspect.TupleType):
        return any(_holds_struct(x) for x in t.item_types)
    if isinstance(t, msgspec.inspect.DictType):
        return _holds_struct(t.value_type)
    return False


def _plan(cls: type) -> tuple[tuple[tuple[str, Any], ...], tuple[str, ...]]:
    """(fields whose non-None default msgspec would omit, fields that may hold models)."""
    plan = _PLANS.get(cls)
    if plan is None:
        info = msgspec.inspect.type_info(cls)
        assert isinstance(info, msgspec.inspect.StructType)
        risky: list[tuple[str, Any]] = []
        if getattr(cls, "__struct_config__").omit_defaults:  # noqa: B009 (a msgspec class attribute)
            for f in info.fields:
                if f.default_factory is not msgspec.NODEFAULT:
                    risky.append((f.name, f.default_factory()))
                elif f.default is not msgspec.NODEFAULT and f.default is not None:
                    risky.append((f.name, f.default))
        nested = tuple(f.name for f in info.fields if _holds_struct(f.type))
        plan = _PLANS[cls] = (tuple(risky), nested)
    return plan


def _needs_rebuild(obj: Any) -> bool:
    if isinstance(obj, msgspec.Struct):
        risky, nested = _plan(type(obj))
        for name, default in risky:
            if getattr(obj, name) == default:
                return True
        return any(_needs_rebuild(getattr(obj, name)) for name in nested)
    if isinstance(obj, list | tuple):
        return any(_needs_rebuild(x) for x in obj)
    if isinstance(obj, dict):
        return any(_needs_rebuild(x) for x in obj.values())
    return False


def _rebuild(obj: Any) -> Any:
    if isinstance(obj, msgspec.Struct):
        return {name: _rebuild(value) for name in obj.__struct_fields__
                if (value := getattr(obj, name)) is not None}
    if isinstance(obj, list | tuple):
        return [_rebuild(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _rebuild(v) for k, v in obj.items() if v is not None}
    return obj


def complete(obj: Any) -> Any:
    """``obj`` (a model, or lists/dicts of models) with every non-``None`` field, recursively.

    Returns ``obj`` itself when msgspec would already write every such field (the usual case: a
    check of the few fields whose default is not None), else an equivalent dict.
    """
    return _rebuild(obj) if _needs_rebuild(obj) else obj


def account_body(account: Any) -> dict[str, Any]:
    """An account summary (or any model) as a dict of all its fields, to embed in a larger body."""
    body: dict[str, Any] = msgspec.structs.asdict(account)
    return body


def encode_wire(wire: object) -> bytes:
    """JSON of a wire model as the venue writes it (every field with a value)."""
    return encode(complete(wire))


def encode_event(event: VenueEvent) -> bytes:
    """JSON ``data`` of the push for ``event``."""
    return encode_wire(convert.to_wire(event))
