"""Lightweight decoding of JSON order-book pushes for the feed's hot path.

:func:`decode_book_push` reads only what a relay needs from an ``order_book.*`` push frame
(sequence, market, type, timestamp, level sides/prices/sizes as the venue's strings) and keeps
the ``params.data`` JSON untouched as bytes, so the frame can be forwarded without building
Decimals. :func:`key8` turns a plain decimal string into its exact integer in units of 1e-8.

Contract: whatever this accepts, :class:`~shared.paradex.models.BookUpdate` decodes too (the
same required fields and types; level strings are accepted only in the plain ``digits[.digits]``
form, which a Decimal field takes; the optional best levels and spread are decoded with their
real types). Anything else returns ``None`` / raises nothing, and the caller takes the full path
(:func:`shared.paradex.models.decode_frame`).
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from shared.paradex.models.market_data import BookLevel


class LightLevel(msgspec.Struct, frozen=True, gc=False):
    """One level with the venue's strings as sent."""

    side: str
    price: str
    size: str


class LightBook(msgspec.Struct, frozen=True, gc=False):
    """The fields of :class:`BookUpdate` a relay needs; levels keep their strings."""

    seq_no: int
    market: str
    last_updated_at: int
    update_type: str
    inserts: list[LightLevel]
    updates: list[LightLevel]
    deletes: list[LightLevel]
    # not needed by the relay, but decoded with their real types so the contract above holds
    best_bid_api: BookLevel | None = None
    best_ask_api: BookLevel | None = None
    best_bid_interactive: BookLevel | None = None
    best_ask_interactive: BookLevel | None = None
    relative_spread: Decimal | None = None


class _Params(msgspec.Struct, frozen=True, gc=False):
    channel: str
    data: msgspec.Raw


class _Frame(msgspec.Struct, frozen=True, gc=False):
    params: _Params


_FRAME = msgspec.json.Decoder(_Frame)
_BOOK = msgspec.json.Decoder(LightBook)
_PREFIX = b'{"jsonrpc":"2.0","method":"subscription","params":{"channel":"order_book.'


def decode_book_push(frame: bytes) -> tuple[str, LightBook, msgspec.Raw] | None:
    """``(channel, book, data_json)`` of an ``order_book.*`` push in the venue's exact layout,
    else None (not a book push, or anything unusual: take the full path). ``data_json`` is the
    exact JSON text of ``params.data`` (a buffer: ``bytes(data_json)`` or splice it with
    ``b"".join``)."""
    if not frame.startswith(_PREFIX):
        return None
    try:
        params = _FRAME.decode(frame).params
        raw = params.data
        return params.channel, _BOOK.decode(raw), raw
    except msgspec.MsgspecError:
        return None


_CACHE_LIMIT = 1 << 16
_keys: dict[str, int] = {}
_PAD = ["0" * (8 - n) for n in range(9)]


def key8(text: str) -> int | None:
    """``text * 10**8`` as an exact int for a plain decimal string (``"67629.7"`` ->
    ``6762970000000``) with at most 8 decimals and 24 digits before the point (the bound of
    :mod:`shared.paradex.validate`); None for any other form (sign, exponent, more decimals,
    more digits...). Memoised: book prices and sizes repeat heavily."""
    key = _keys.get(text)
    if key is not None:
        return key
    whole, dot, frac = text.partition(".")
    if not (text.isascii() and whole.isdigit() and len(whole) <= 24 and len(frac) <= 8
            and (frac.isdigit() or not dot)):
        return None
    key = int(whole + frac + _PAD[len(frac)])
    if len(_keys) >= _CACHE_LIMIT:
        _keys.clear()
    _keys[text] = key
    return key
