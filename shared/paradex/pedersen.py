"""Starknet's Pedersen hash behind one interface, from the fastest backend present (chosen at import).

``H(a, b) = (P0 + a_low*P1 + a_high*P2 + b_low*P3 + b_high*P4).x`` on the STARK curve, with
``low`` the 248 low bits and ``high`` the 4 bits above (cairo-lang ``pedersen_hash``; the points
are cairo-lang's ``pedersen_params.json``, checked against the committed vectors in the tests).

Backends, best first:

- ``pathfinder``: ``starknet-pathfinder-crypto`` (Rust, ~22 us a hash). Its only release has
  wheels for CPython 3.11 alone, so it is an optional speed-up (installed on 3.11 only).
- ``python``: ours, on every version: fixed-base window tables of the four points with gmpy2
  integers (~50 us a hash), plus a per-``a`` cache for left operands that recur (the typed-data
  chains' cached prefixes), so a Paradex order hash costs ~0.4 ms.

``PDX_PEDERSEN_BACKEND=python|pathfinder`` forces one (an unknown or missing name fails at import,
loudly). :func:`select` switches at run time (the tests run every exact-equality check against
each backend in :data:`BACKENDS`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Protocol

import gmpy2

from shared.errors import ConfigError
from shared.paradex import stark

__all__ = ["BACKENDS", "POINTS", "Backend", "active", "hash", "hash_fixed", "select"]

# cairo-lang's pedersen_params.json: the shift point P0 and the four generators P1..P4.
POINTS: tuple[stark.Affine, ...] = (
    (0x49EE3EBA8C1600700EE1B87EB599F16716B0B1022947733551FDE4050CA6804,
     0x3CA0CFE4B3BC6DDF346D49D06EA0ED34E621062C0E056C1D0405D266E10268A),
    (0x234287DCBAFFE7F969C748655FCA9E58FA8120B6D56EB0C1080D17957EBE47B,
     0x3B056F100F96FB21E889527D41F4E39940135DD7A6C94CC6ED0268EE89E5615),
    (0x4FA56F376C83DB33F9DAB2656558F3399099EC1DE5E3018B7A6932DBA8AA378,
     0x3FA0984C931C9E38113E0C0E47E4401562761F92A7A23B45168F4E80FF5B54D),
    (0x4BA4CC166BE8DEC764910F75B45F74B40C690C74709E90F3AA372F0BD2D6997,
     0x40301CF5C1751F4B971E46C4EDE85FCAC5C59A5CE5AE7C48151F27B24B219C),
    (0x54302DCB0E6CC1C6E44CCA8F61A63BB2CA65048D53FB325D36FF12C49A58202,
     0x1B77B3E37D13504B348046268D8AE25CE98AD783C25561A879DCC77E99C2426),
)
_LOW_BITS = 248
_LOW_MASK = (1 << _LOW_BITS) - 1
_FIXED_CACHE_MAX = 1024
_P = stark.FIELD_PRIME
_GP = gmpy2.mpz(stark.FIELD_PRIME)


class Backend(Protocol):
    """A Pedersen implementation: ``hash(a, b)`` for field elements ``a, b < FIELD_PRIME``."""

    name: str

    def hash(self, a: int, b: int) -> int: ...

    def hash_fixed(self, a: int, b: int) -> int:
        """``hash(a, b)`` for an ``a`` that recurs (a cached prefix): may cache work per ``a``."""
        ...


class NativeBackend:
    """A compiled ``pedersen_hash(a, b)`` (e.g. starknet-pathfinder-crypto)."""

    def __init__(self, name: str, fn: Callable[[int, int], int]) -> None:
        self.name = name
        self._fn = fn

    def hash(self, a: int, b: int) -> int:
        if not (0 <= a < _P and 0 <= b < _P):  # the same error as ours, whatever the library says
            _check(a)
            _check(b)
        return int(self._fn(a, b))

    hash_fixed = hash


class PythonBackend:
    """Ours: window tables (built on first use, ~0.2 s, ~10 MB) and gmpy2 arithmetic."""

    name = "python"

    def __init__(self, low_width: int = 10, right_width: int = 8) -> None:
        self._low_width = low_width
        self._right_width = right_width
        self._tables: tuple[stark.FixedBaseTable, ...] | None = None
        self._fixed: dict[int, stark.Jacobian] = {}

    def _build(self) -> tuple[stark.FixedBaseTable, ...]:
        _, p1, p2, p3, p4 = POINTS
        self._tables = (
            stark.FixedBaseTable(p1, self._low_width, _LOW_BITS),   # a_low: always a full element
            stark.FixedBaseTable(p2, 4, 4),                         # a_high
            stark.FixedBaseTable(p3, self._right_width, _LOW_BITS),  # b_low: often small
            stark.FixedBaseTable(p4, 4, 4),                         # b_high
        )
        return self._tables

    def _left(self, a: int, tables: tuple[stark.FixedBaseTable, ...]) -> stark.Jacobian:
        _check(a)
        p0 = POINTS[0]
        acc = tables[0].accumulate(a & _LOW_MASK, (p0[0], p0[1], 1))
        return tables[1].accumulate(a >> _LOW_BITS, acc)

    def _right(self, start: stark.Jacobian, b: int, tables: tuple[stark.FixedBaseTable, ...]) -> int:
        _check(b)
        acc = tables[2].accumulate(b & _LOW_MASK, start)
        x, _, z = tables[3].accumulate(b >> _LOW_BITS, acc)
        if z == 0:  # P0 is not in the span of P1..P4 with these bounds (cairo-lang asserts it)
            raise ArithmeticError("pedersen hash reached the point at infinity")
        zinv = gmpy2.invert(z, _GP)
        return int(x * zinv * zinv % _GP)  # the affine x alone: y is never needed

    def hash(self, a: int, b: int) -> int:
        tables = self._tables or self._build()
        return self._right(self._left(a, tables), b, tables)

    def hash_fixed(self, a: int, b: int) -> int:
        tables = self._tables or self._build()
        start = self._fixed.get(a)
        if start is None:
            point = stark.to_affine(self._left(a, tables))
            if point is None:
                raise ArithmeticError("pedersen hash reached the point at infinity")
            if len(self._fixed) >= _FIXED_CACHE_MAX:
                self._fixed.clear()
            start = self._fixed[a] = (gmpy2.mpz(point[0]), gmpy2.mpz(point[1]), 1)
        return self._right(start, b, tables)


def _check(v: int) -> None:
    if not 0 <= v < stark.FIELD_PRIME:
        raise ValueError(f"pedersen input is not a field element: {v:#x}")


def _discover() -> dict[str, Backend]:
    found: dict[str, Backend] = {}
    try:
        from starknet_pathfinder_crypto import pedersen_hash as _pathfinder
    except ImportError:
        pass
    else:
        found["pathfinder"] = NativeBackend("pathfinder", _pathfinder)
    found["python"] = PythonBackend()
    return found


BACKENDS: dict[str, Backend] = _discover()
"""Every backend importable here, best first."""

ENV_VAR = "PDX_PEDERSEN_BACKEND"


def _initial() -> Backend:
    wanted = os.environ.get(ENV_VAR, "").strip()
    if not wanted:
        return next(iter(BACKENDS.values()))
    if wanted not in BACKENDS:
        raise ConfigError(ENV_VAR, f"pedersen backend {wanted!r} is not available here "
                                   f"(available: {', '.join(BACKENDS)})")
    return BACKENDS[wanted]


_active: Backend = _initial()


def active() -> Backend:
    """The backend in use."""
    return _active


def select(name: str) -> Backend:
    """Use backend ``name`` from now on (returns the previous one); KeyError if not available."""
    global _active
    previous, _active = _active, BACKENDS[name]
    return previous


def hash(a: int, b: int) -> int:
    """Starknet's Pedersen hash of two field elements, with the active backend."""
    return _active.hash(a, b)


def hash_fixed(a: int, b: int) -> int:
    """:func:`hash` for a left operand that recurs (cached prefixes): faster on the python backend."""
    return _active.hash_fixed(a, b)
