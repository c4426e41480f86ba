"""Fast path for SBE BookEvent frames: the levels as mantissas plus the JSON of the model.

:func:`fast_book` reads a BookEvent frame (template 3, the usual layout) straight into
:class:`FastBook`: sequence, market, type, timestamp, the bid and ask levels as flat
``(price, size, ...)`` int64 mantissa tuples (units of 1e-8), and ``json``: exactly the bytes
``msgspec.json.encode(decode(frame))`` gives (the same :class:`BookUpdate` mapping as
:func:`shared.paradex.sbe.decode.decode_book`, Decimal text memoised per mantissa), without
building a single model or Decimal. Any other or unusual frame (including a level or best level
with a price <= 0 or a negative size, which validation refuses) returns None: decode it with
:func:`shared.paradex.sbe.decode`. So every level of a :class:`FastBook` has a price > 0 and a
size >= 0.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

import msgspec

from shared.paradex.sbe.layout import BOOK, GROUP_HEADER, HEADER, NULL, PKG_DELTA, PKG_SNAPSHOT, SCHEMA_ID
from shared.paradex.sbe.mantissa import dec8
from shared.paradex.sbe.wire import FLAT_CACHE, flat_struct


class FastBook(NamedTuple):
    """A BookEvent frame reduced to what a relay needs."""

    market: str
    seq: int
    snapshot: bool
    ts_ms: int
    bids: tuple[int, ...]
    asks: tuple[int, ...]
    json: bytes


_HEADER = HEADER.unpack_from
_GROUP = GROUP_HEADER.unpack_from
_BLOCK = BOOK.block.unpack_from
_BLOCK_SIZE = BOOK.block.size
_BOOK_ID = BOOK.template_id
_ENC = msgspec.json.encode
_CACHE_LIMIT = 1 << 16
_texts: dict[int, bytes] = {}
_markets: dict[str, bytes] = {}
_ZERO_TEXT = _ENC(Decimal(0))  # a null best size decodes to Decimal(0) (decode._or_zero)


def _text(m: int) -> bytes:
    """The JSON string of ``dec8(m)`` as msgspec writes it (memoised)."""
    text = _texts.get(m)
    if text is None:
        if len(_texts) >= _CACHE_LIMIT:
            _texts.clear()
        text = _texts[m] = _ENC(dec8(m))
    return text


_LEVEL = b'%b%b,"size":%b}'
_BUY = b'{"side":"BUY","price":'
_SELL = b'{"side":"SELL","price":'


def _best(name: bytes, prefix: bytes, price: int, size: int) -> bytes:
    size_text = _ZERO_TEXT if size == NULL else _text(size)
    return b',"%b":%b%b,"size":%b}' % (name, prefix, _text(price), size_text)


def _group(buf: bytes, pos: int, end: int) -> tuple[tuple[int, ...], int] | None:
    if pos + 4 > end:
        return None
    entry_length, count = _GROUP(buf, pos)
    after = pos + 4 + 16 * count
    if entry_length != 16 or after > end:
        return None
    return (FLAT_CACHE.get(count) or flat_struct(count)).unpack_from(buf, pos + 4), after


def fast_book(frame: bytes) -> FastBook | None:
    """The :class:`FastBook` of a BookEvent frame in the usual layout, else None."""
    end = len(frame)
    if end < 8:
        return None
    block_length, template_id, schema_id, _version = _HEADER(frame, 0)
    pos = 8 + block_length
    if template_id != _BOOK_ID or schema_id != SCHEMA_ID or block_length < _BLOCK_SIZE or pos > end:
        return None
    ts, seq, pkg, bb, bbs, ba, bas, spread, bba, bbas, baa, baas = _BLOCK(frame, 8)
    if pkg != PKG_DELTA and pkg != PKG_SNAPSHOT:
        return None
    # a best level with a price <= 0 or a negative size is not the usual layout: the full decode
    # (and validation) decides; NULL means "none" and is the most negative int64
    if (0 >= bb != NULL or 0 >= ba != NULL or 0 >= bba != NULL or 0 >= baa != NULL
            or 0 > bbs != NULL or 0 > bas != NULL or 0 > bbas != NULL or 0 > baas != NULL):
        return None
    got = _group(frame, pos, end)
    if got is None:
        return None
    bids, pos = got
    got = _group(frame, pos, end)
    if got is None:
        return None
    asks, pos = got
    if pos >= end or pos + 1 + frame[pos] > end:
        return None
    try:
        market = str(frame[pos + 1 : pos + 1 + frame[pos]], "utf-8")
    except UnicodeDecodeError:
        return None
    market_json = _markets.get(market)
    if market_json is None:
        if len(_markets) >= 4096:
            _markets.clear()
        market_json = _markets[market] = _ENC(market)
    ts_ms = ts // 1000
    out = [b'{"seq_no":%d,"market":%b,"last_updated_at":%d,"update_type":' % (seq, market_json, ts_ms)]
    get = _texts.get
    if pkg == PKG_SNAPSHOT:
        if (bids and (min(bids) < 0 or 0 in bids[::2])) or (asks and (min(asks) < 0 or 0 in asks[::2])):
            return None  # a price <= 0 or a negative size: the full decode and validation decide
        sets = [_LEVEL % (prefix, get(flat[i]) or _text(flat[i]), get(flat[i + 1]) or _text(flat[i + 1]))
                for prefix, flat in ((_BUY, bids), (_SELL, asks)) for i in range(0, len(flat), 2)]
        out += [b'"s","inserts":[', b",".join(sets), b'],"updates":[],"deletes":[]']
    else:
        sets = []
        deletes: list[bytes] = []  # size 0 = delete; frame order kept within each list
        for prefix, flat in ((_BUY, bids), (_SELL, asks)):
            for i in range(0, len(flat), 2):
                p, q = flat[i], flat[i + 1]
                if p <= 0 or q < 0:
                    return None
                (sets if q else deletes).append(_LEVEL % (prefix, get(p) or _text(p), get(q) or _text(q)))
        out += [b'"d","inserts":[],"updates":[', b",".join(sets), b'],"deletes":[', b",".join(deletes), b"]"]
    if bba != NULL:
        out.append(_best(b"best_bid_api", _BUY, bba, bbas))
    if baa != NULL:
        out.append(_best(b"best_ask_api", _SELL, baa, baas))
    if bb != NULL:
        out.append(_best(b"best_bid_interactive", _BUY, bb, bbs))
    if ba != NULL:
        out.append(_best(b"best_ask_interactive", _SELL, ba, bas))
    if spread != NULL:
        out.append(b',"relative_spread":%b' % _text(spread))
    out.append(b"}")
    return FastBook(market, seq, pkg == PKG_SNAPSHOT, ts_ms, bids, asks, b"".join(out))
