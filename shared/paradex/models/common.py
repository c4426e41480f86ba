"""Shared base, decode helpers and known venue constants for the Paradex wire models.

Every model derives from :class:`Model`: a frozen, keyword-only msgspec Struct that tolerates
unknown fields (msgspec's default), omits fields equal to their default when encoding (so optional
request fields are left out instead of sent as ``null``) and is not tracked by the garbage
collector (the models hold only strings, numbers and other models, so no cycles can form; this
saves measurable time when decoding thousands of pushes per second).

Numbers: prices, sizes and money are ``decimal.Decimal``; msgspec decodes them from the venue's
decimal strings and encodes them back as strings (``decimal_format="string"`` is the default).
A few venue fields may hold ``""`` where a number is expected (``avg_fill_price``,
``liquidation_price``, ``trigger_price``...). msgspec cannot map ``""`` to ``None`` for a Decimal
field (a ``dec_hook`` result is type-checked, and a union may hold only one string-like type), so
those fields stay ``str`` exactly as sent and expose a ``*_value`` property returning
``Decimal | None`` through :func:`opt_decimal`. Keeping them ``str`` is also the cheapest decode.
The same holds for the book-dependent prices of ``bbo``/``markets_summary`` (an empty book side)
and ``Fill.underlying_price``; those are typed :data:`DecimalText` so a value that is neither
``""`` nor a decimal is still rejected at decode time (a C regex check, no Decimal built).

Models whose spec lists every field as required and which carry a tolerant default (``Bbo``,
``Account``) set ``omit_defaults=False``: the default exists only so a payload *missing* the
field still decodes; encoding always writes it (the spec requires it on the wire).

Enumerations in *responses* are plain ``str`` so a new venue value never breaks the feed; the known
values are listed in the constant classes below. Request models use ``Literal`` types so bad input
is rejected at decode time.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Final, TypeVar

import msgspec

from shared.errors import DecodeError

T = TypeVar("T")

DecimalText = Annotated[str, msgspec.Meta(pattern=r"^(?:[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)?$")]
"""A number the venue may leave empty: ``""`` or a decimal string, kept as sent (see above)."""


class Model(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """Base of every Paradex wire model (configuration is inherited by subclasses)."""


_PATH = re.compile(r" - at `(\$[^`]*)`$")
_MISSING = re.compile(r"^Object missing required field `([^`]*)`")


def validation_error(what: str, exc: msgspec.MsgspecError) -> DecodeError:
    """Translate a msgspec error into :class:`DecodeError`, with ``field`` set to the JSON path.

    msgspec reports the path as ``"... - at `$.params.data.price`"``; that suffix becomes
    ``field`` and the rest the ``reason``. For a missing required field the path names the missing
    field itself (``$.data.size``). Parse errors (not JSON) carry no path.
    """
    text = str(exc)
    match = _PATH.search(text)
    reason, path = (text, None) if match is None else (text[: match.start()], match.group(1))
    if isinstance(exc, msgspec.ValidationError):
        missing = _MISSING.match(reason)
        if missing is not None:
            path = f"{path or '$'}.{missing.group(1)}"
    return DecodeError(what, reason, field=path)


_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}


def decoder(type_: Any) -> msgspec.json.Decoder[Any]:
    """The JSON decoder for ``type_``, built once and cached."""
    dec = _DECODERS.get(type_)
    if dec is None:
        dec = _DECODERS[type_] = msgspec.json.Decoder(type_)
    return dec


def decode(type_: type[T], data: bytes | str) -> T:
    """Decode JSON ``data`` into ``type_``; raise :class:`DecodeError` naming the bad field."""
    try:
        result: T = decoder(type_).decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise validation_error(_name(type_), exc) from exc
    return result


def convert(type_: type[T], obj: Any) -> T:
    """Convert already-parsed JSON (dicts, lists, strings) into ``type_``; errors as :func:`decode`."""
    try:
        return msgspec.convert(obj, type_)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise validation_error(_name(type_), exc) from exc


_ENCODER = msgspec.json.Encoder()


def encode(obj: Any) -> bytes:
    """Encode a model (or builtins) to JSON bytes in the venue's format (decimals as strings)."""
    return _ENCODER.encode(obj)


def _name(type_: Any) -> str:
    return getattr(type_, "__name__", None) or str(type_)


def opt_decimal(text: str) -> Decimal | None:
    """``Decimal(text)``, or ``None`` for the venue's empty string; raise DecodeError if malformed."""
    if not text:
        return None
    try:
        return Decimal(text)
    except InvalidOperation as exc:
        raise DecodeError("decimal", f"not a decimal: {text!r}") from exc


# --- known values of venue enumerations (responses accept any string) -----------------------------


class Side:
    BUY: Final = "BUY"
    SELL: Final = "SELL"


class PositionSide:
    LONG: Final = "LONG"
    SHORT: Final = "SHORT"


class OrderStatus:
    NEW: Final = "NEW"
    UNTRIGGERED: Final = "UNTRIGGERED"
    OPEN: Final = "OPEN"
    CLOSED: Final = "CLOSED"


class OrderType:
    MARKET: Final = "MARKET"
    LIMIT: Final = "LIMIT"
    STOP_LIMIT: Final = "STOP_LIMIT"
    STOP_MARKET: Final = "STOP_MARKET"
    TAKE_PROFIT_LIMIT: Final = "TAKE_PROFIT_LIMIT"
    TAKE_PROFIT_MARKET: Final = "TAKE_PROFIT_MARKET"
    STOP_LOSS_MARKET: Final = "STOP_LOSS_MARKET"
    STOP_LOSS_LIMIT: Final = "STOP_LOSS_LIMIT"


class Instruction:
    GTC: Final = "GTC"
    POST_ONLY: Final = "POST_ONLY"
    IOC: Final = "IOC"
    RPI: Final = "RPI"


class Stp:
    EXPIRE_MAKER: Final = "EXPIRE_MAKER"
    EXPIRE_TAKER: Final = "EXPIRE_TAKER"
    EXPIRE_BOTH: Final = "EXPIRE_BOTH"


class OrderFlag:
    REDUCE_ONLY: Final = "REDUCE_ONLY"
    STOP_CONDITION_BELOW_TRIGGER: Final = "STOP_CONDITION_BELOW_TRIGGER"
    STOP_CONDITION_ABOVE_TRIGGER: Final = "STOP_CONDITION_ABOVE_TRIGGER"
    INTERACTIVE: Final = "INTERACTIVE"
    TARGET_STRATEGY_VWAP: Final = "TARGET_STRATEGY_VWAP"
    MMP: Final = "MMP"  # seen in paradex-py 0.8.2, not in the OpenAPI enum


class FillType:
    FILL: Final = "FILL"
    LIQUIDATION: Final = "LIQUIDATION"
    UNWIND_TRANSFER: Final = "UNWIND_TRANSFER"
    SETTLE_MARKET: Final = "SETTLE_MARKET"
    RPI: Final = "RPI"
    BLOCK_TRADE: Final = "BLOCK_TRADE"


class Liquidity:
    TAKER: Final = "TAKER"
    MAKER: Final = "MAKER"


class BookUpdateType:
    SNAPSHOT: Final = "s"
    DELTA: Final = "d"


class SystemStatus:
    OK: Final = "ok"
    MAINTENANCE: Final = "maintenance"
    CANCEL_ONLY: Final = "cancel_only"
    POST_ONLY: Final = "post_only"


class CancelStatus:
    QUEUED_FOR_CANCELLATION: Final = "QUEUED_FOR_CANCELLATION"
    ALREADY_CLOSED: Final = "ALREADY_CLOSED"
    NOT_FOUND: Final = "NOT_FOUND"
