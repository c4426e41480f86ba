"""Exact conversion between SBE int64 mantissas and ``Decimal``.

``Price8``/``Qty8``/``Value8``/``Rate8`` carry ``value = mantissa * 10**-8``; ``Rate12`` uses
``10**-12``. Decoding multiplies by a constant in a private 40-digit context (an int64 has at most
19 digits, so the product is always exact, whatever the caller's thread context says); results are
memoised in a bounded dict because book prices and sizes repeat heavily (a dict hit costs ~30 ns,
the multiplication ~140 ns). The decoded Decimal keeps exponent -8 (``"67629.70000000"``): it is
``==`` (and hashes equal) to the JSON value ``Decimal("67629.7")``.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Context, Decimal, InvalidOperation

from shared.paradex.sbe.layout import INT64_MAX, INT64_MIN, NULL

_CTX = Context(prec=40)
_E8 = Decimal("1E-8")
_E12 = Decimal("1E-12")
_CACHE_LIMIT = 1 << 16
_cache8: dict[int, Decimal] = {}
_multiply = _CTX.multiply

memo8 = _cache8.get
"""Memo lookup for hot loops: ``memo8(m) or dec8(m)`` (a miss, or the falsy zero, falls through)."""


def dec8(mantissa: int) -> Decimal:
    """``mantissa * 10**-8`` exactly (memoised)."""
    value = _cache8.get(mantissa)
    if value is None:
        if len(_cache8) >= _CACHE_LIMIT:
            _cache8.clear()
        value = _cache8[mantissa] = _multiply(Decimal(mantissa), _E8)
    return value


def opt_dec8(mantissa: int) -> Decimal | None:
    """:func:`dec8`, or ``None`` for the INT64_MIN null sentinel."""
    return None if mantissa == NULL else dec8(mantissa)


def text8(mantissa: int) -> str:
    """``mantissa * 10**-8`` as the venue's decimal text: plain notation, no trailing zeros
    (``6762970000000`` → ``"67629.7"``, ``0`` → ``"0"``); ``""`` for the null sentinel.

    The text form of fields the JSON feed may send as ``""`` (an empty book side): an SBE null
    decodes to the same ``""``.
    """
    if mantissa == NULL:
        return ""
    sign = "-" if mantissa < 0 else ""
    whole, frac = divmod(-mantissa if mantissa < 0 else mantissa, 100_000_000)
    if not frac:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:08d}".rstrip("0")


def text_mantissa(text: str) -> int:
    """The int64 mantissa (exponent -8, exact) of a decimal text; the null sentinel for ``""``."""
    if not text:
        return NULL
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise MantissaError(f"{text!r} is not a decimal") from exc
    return mantissa(value)


def dec12(mantissa: int) -> Decimal:
    """``mantissa * 10**-12`` exactly (Rate12)."""
    return _multiply(Decimal(mantissa), _E12)


def opt_dec12(mantissa: int) -> Decimal | None:
    """:func:`dec12`, or ``None`` for the null sentinel."""
    return None if mantissa == NULL else dec12(mantissa)


class MantissaError(ValueError):
    """A Decimal cannot be carried by an SBE mantissa (too many decimals, out of int64 range)."""


def mantissa(value: Decimal, exponent: int = -8, *, truncate: bool = False, saturate: bool = False) -> int:
    """The int64 mantissa of ``value`` at ``exponent``.

    Exact by default: a value with more decimals than the exponent allows raises
    :class:`MantissaError`. ``truncate`` instead drops the extra digits toward zero, which is what
    the venue does for funding rates (schema: "Rate8 truncates them"). ``saturate`` clamps to the
    int64 range, as the venue does for ``totalVolume``.
    """
    if not value.is_finite():
        raise MantissaError(f"{value} is not a finite number")
    scaled = value.scaleb(-exponent, _CTX)
    integral = scaled.to_integral_value(rounding=ROUND_DOWN, context=_CTX)
    if integral != scaled and not truncate:
        raise MantissaError(f"{value} has more than {-exponent} decimals")
    result = int(integral)
    if not INT64_MIN < result <= INT64_MAX:
        if not saturate:
            raise MantissaError(f"{value} does not fit an int64 mantissa at exponent {exponent}")
        result = INT64_MAX if result > 0 else INT64_MIN + 1
    return result


def opt_mantissa(value: Decimal | None, exponent: int = -8, *, truncate: bool = False) -> int:
    """:func:`mantissa`, with ``None`` encoded as the null sentinel."""
    return NULL if value is None else mantissa(value, exponent, truncate=truncate)


def quantize(value: Decimal, exponent: int = -8, *, saturate: bool = False) -> Decimal:
    """``value`` as it comes back from the wire after a truncating (and saturating) encode."""
    m = mantissa(value, exponent, truncate=True, saturate=saturate)
    return dec8(m) if exponent == -8 else _multiply(Decimal(m), Decimal(1).scaleb(exponent))
