"""Hypothesis strategies derived from msgspec type information (any Struct, including venue models)."""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from typing import Any

import msgspec.inspect as mi
from hypothesis import strategies as st

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
DECIMALS = st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=8,
                       allow_nan=False, allow_infinity=False)
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


def for_type(t: Any) -> st.SearchStrategy[Any]:
    """A strategy producing valid values of the msgspec-described type ``t``."""
    return _for_info(mi.type_info(t))


@cache
def _struct(cls: type) -> st.SearchStrategy[Any]:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    fields = {}
    optional = {}
    for f in info.fields:
        strat = _for_info(f.type)
        if f.required:
            fields[f.name] = strat
        else:
            optional[f.name] = strat
    return st.fixed_dictionaries(fields, optional=optional).map(lambda kw: cls(**kw))


def _for_info(info: mi.Type) -> st.SearchStrategy[Any]:
    if isinstance(info, mi.StructType):
        return st.deferred(lambda: _struct(info.cls))
    if isinstance(info, mi.UnionType):
        return st.one_of([_for_info(t) for t in info.types])
    if isinstance(info, mi.LiteralType):
        return st.sampled_from(info.values)
    if isinstance(info, mi.NoneType):
        return st.none()
    if isinstance(info, mi.BoolType):
        return st.booleans()
    if isinstance(info, mi.IntType):
        return INT64
    if isinstance(info, mi.FloatType):
        return st.floats(allow_nan=False, allow_infinity=False)
    if isinstance(info, mi.DecimalType):
        return DECIMALS
    if isinstance(info, mi.StrType):
        if info.pattern is not None:  # e.g. DecimalText: "" or a decimal
            return st.from_regex(info.pattern, fullmatch=True)
        return TEXT
    if isinstance(info, mi.ListType):
        return st.lists(_for_info(info.item_type), max_size=3)
    if isinstance(info, mi.VarTupleType):
        return st.lists(_for_info(info.item_type), max_size=3).map(tuple)
    if isinstance(info, mi.DictType):
        return st.dictionaries(_for_info(info.key_type), _for_info(info.value_type), max_size=3)
    if isinstance(info, mi.AnyType):
        return st.one_of(st.none(), TEXT, INT64)
    raise NotImplementedError(f"no strategy for {info!r}")
