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


def _struct_types(t: msgspec.inspect.Type) -> list[type]:
    """The model classes a field type may hold (through unions, lists, tuples, dicts); ``object``
    for an unknown type (``Any``, a generic's parameter), which must be checked at run time."""
    if isinstance(t, msgspec.inspect.StructType):
        return [t.cls]
    if isinstance(t, msgspec.inspect.AnyType):
        return [object]
    if isinstance(t, msgspec.inspect.UnionType):
        return [c for x in t.types for c in _struct_types(x)]
    if isinstance(t, msgspec.inspect.ListType | msgspec.inspect.VarTupleType):
        return _struct_types(t.item_type)
    if isinstance(t, msgspec.inspect.TupleType):
        return [c for x in t.item_types for c in _struct_types(x)]
    if isinstance(t, msgspec.inspect.DictType):
        return _struct_types(t.value_type)
    return []


def _plan(cls: type) -> tuple[tuple[tuple[str, Any], ...], tuple[str, ...]]:
    """(fields whose non-None default msgspec would omit, fields holding models that may need
    the same check). Both empty: msgspec already writes every field of the whole tree."""
    plan = _PLANS.get(cls)
    if plan is None:
        _PLANS[cls] = ((), ())  # provisional, for self-referencing models
        info = msgspec.inspect.type_info(cls)
        assert isinstance(info, msgspec.inspect.StructType)
        risky: list[tuple[str, Any]] = []
        if getattr(cls, "__struct_config__").omit_defaults:  # noqa: B009 (a msgspec class attribute)
            for f in info.fields:
                if f.default_factory is not msgspec.NODEFAULT:
                    risky.append((f.name, f.default_factory()))
                elif f.default is not msgspec.NODEFAULT and f.default is not None:
                    risky.append((f.name, f.default))
        nested = tuple(f.name for f in info.fields
                       if any(c is object or _plan(c) != ((), ()) for c in _struct_types(f.type)))
        plan = _PLANS[cls] = (tuple(risky), nested)
    return plan


def _needs_rebuild(obj: Any) -> bool:
    if isinstance(obj, msgspec.Struct):
        risky, nested = _plan(type(obj))
        for name, default in risky:
            if getattr(obj, name) == default:
                return True
        for name in nested:
            if _needs_rebuild(getattr(obj, name)):
                return True
        return False
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

    Returns ``obj`` itself when msgspec would already write every such field (the usual case:
    decided per model class once, then a check of the few fields whose default is not None),
    else an equivalent dict.
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
