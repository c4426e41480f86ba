"""Fast path for SBE BookEvent frames: the levels as mantissas plus the JSON of the model.

:func:`fast_book` reads a BookEvent frame (template 3, the usual layout) straight into
:class:`FastBook`: sequence, market, type, timestamp, the bid and ask levels as flat
``(price, size, ...)`` int64 mantissa tuples (units of 1e-8) in application order (a delta's
levels of size > 0 in frame order, then its deletes, size 0, in frame order: as the model's
``updates`` then ``deletes``), and ``json``: exactly the bytes
``msgspec.json.encode(decode(frame))`` gives (the same :class:`BookUpdate` mapping as
:func:`shared.paradex.sbe.decode.decode_book`, Decimal text memoised per mantissa), without
building a single model or Decimal. Any other or unusual frame (including a level or best level
with a price <= 0 or a negative size, which validation refuses) returns None: decode it with
:func:`shared.paradex.sbe.decode`. So every level of a :class:`FastBook` has a price > 0 and a
size >= 0.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from decimal import Decimal
from operator import itemgetter
from typing import NamedTuple

import msgspec

from shared.paradex.sbe.layout import BOOK, GROUP_HEADER, HEADER, NULL, PKG_DELTA, PKG_SNAPSHOT, SCHEMA_ID
from shared.paradex.sbe.mantissa import dec8


class FastBook(NamedTuple):
    """A BookEvent frame reduced to what a relay needs."""

    market: str
    seq: int
    snapshot: bool
    ts_ms: int
    bids: tuple[int, ...]
    asks: tuple[int, ...]
    json: bytes
    deletes: bool = False  # a delta with a level of size 0


_HEADER = HEADER.unpack_from
_GROUP = GROUP_HEADER.unpack_from
_BLOCK_SIZE = BOOK.block.size
_BOOK_ID = BOOK.template_id
_ENC = msgspec.json.encode
_CACHE_LIMIT = 1 << 16
_texts: dict[int, bytes] = {}
_markets: dict[bytes, tuple[str, bytes]] = {}  # raw market -> (market, its JSON)
_new = tuple.__new__
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


_SHAPES: dict[tuple[int, int, int, int], tuple[bytes, bytes]] = {}
_SET = b'%b,"size":%b}'


def _shape(shape: tuple[int, int, int, int]) -> tuple[bytes, bytes]:
    """The %-templates, closed (no best levels follow) and open (up to the best levels), of a
    delta with ``shape`` = (bid set entries, ask set entries, bid deletes, ask deletes) (entries:
    2 per set level, 1 per delete): ``%d`` seq, ``%b`` market JSON, ``%d`` time, then one ``%b``
    text per value in that order."""
    set_bids, set_asks, del_bids, del_asks = shape
    zero = _text(0)
    sets = [_BUY + _SET] * (set_bids // 2) + [_SELL + _SET] * (set_asks // 2)
    deleted = b'%b,"size":' + zero + b"}"
    deletes = [_BUY + deleted] * del_bids + [_SELL + deleted] * del_asks
    template = b"".join((b'{"seq_no":%d,"market":%b,"last_updated_at":%d,"update_type":"d","inserts":[],'
                         b'"updates":[', b",".join(sets), b'],"deletes":[', b",".join(deletes), b"]"))
    templates = (template + b"}", template)
    if len(_SHAPES) < 4096:
        _SHAPES[shape] = templates
    return templates


def _plan(block_length: int, bids: int, asks: int) -> tuple[struct.Struct, bytes, bytes]:
    """The layout of a frame with ``bids`` and ``asks`` levels: one struct reading it from its
    block (offset 8) through both level groups (the 12 block fields, then the flat (price, size)
    entries, group headers skipped), and the closed and open %-templates of its delta without
    deletes (one lookup per frame for both)."""
    fmt = (f"<{BOOK.block.format.lstrip('<')}{block_length - _BLOCK_SIZE}x4x{2 * bids}q4x{2 * asks}q")
    shape = (2 * bids, 2 * asks, 0, 0)
    plan = (struct.Struct(fmt), *(_SHAPES.get(shape) or _shape(shape)))
    if len(_PLANS) < 4096:
        _PLANS[block_length, bids, asks] = plan
    return plan


_PLANS: dict[tuple[int, int, int], tuple[struct.Struct, bytes, bytes]] = {}
Pick = Callable[[tuple[int, ...]], tuple[int, ...]]


def _picker(indices: list[int]) -> Pick:
    """The values at ``indices`` as a tuple (itemgetter, which returns a bare value for one index)."""
    if not indices:
        return lambda values: ()
    if len(indices) == 1:
        i = indices[0]
        return lambda values: (values[i],)
    return itemgetter(*indices)


def _order(key: tuple[int, ...]) -> tuple[bytes, bytes, Pick, Pick, Pick]:
    """How to reorder the flat levels of a delta with deletes; ``key``: the bid count, then per
    level (frame order) whether its size is > 0. The closed and open %-templates of its shape and
    pickers of the texts (set levels' price and size, bids then asks, then deleted prices), the
    bids and the asks in application order (sets, then deletes with their size 0)."""
    nbids, live = key[0], key[1:]
    set_b = [2 * j for j in range(nbids) if live[j]]
    del_b = [2 * j for j in range(nbids) if not live[j]]
    set_a = [2 * j for j in range(nbids, len(live)) if live[j]]
    del_a = [2 * j for j in range(nbids, len(live)) if not live[j]]

    def pairs(prices: list[int]) -> list[int]:
        return [k for p in prices for k in (p, p + 1)]

    shape = (2 * len(set_b), 2 * len(set_a), len(del_b), len(del_a))
    closed, open_ = _SHAPES.get(shape) or _shape(shape)
    order = (closed, open_, _picker(pairs(set_b) + pairs(set_a) + del_b + del_a),
             _picker(pairs(set_b) + pairs(del_b)), _picker(pairs(set_a) + pairs(del_a)))
    if len(_ORDERS) < 4096:
        _ORDERS[key] = order
    return order


_ORDERS: dict[tuple[int, ...], tuple[bytes, bytes, Pick, Pick, Pick]] = {}
_USUAL = struct.Struct(f"<HHHH{_BLOCK_SIZE}xHH").unpack_from  # the header and the bid group's, usual block
_USUAL_END = 8 + _BLOCK_SIZE + 4


def fast_book(frame: bytes) -> FastBook | None:
    """The :class:`FastBook` of a BookEvent frame in the usual layout, else None."""
    end = len(frame)
    if end < _USUAL_END:  # shorter than a header, the usual block and one group header: not a book
        return None
    # header and bid group header in one unpack (the group header re-read if the block is longer)
    block_length, template_id, schema_id, _version, entry_length, nbids = _USUAL(frame, 0)
    pos = 8 + block_length
    if template_id != _BOOK_ID or schema_id != SCHEMA_ID or block_length < _BLOCK_SIZE or pos + 4 > end:
        return None
    if block_length != _BLOCK_SIZE:
        entry_length, nbids = _GROUP(frame, pos)
    # the ask group's header, then everything up to the market in one unpack
    pos += 4 + 16 * nbids
    if entry_length != 16 or pos + 4 > end:
        return None
    entry_length, nasks = _GROUP(frame, pos)
    pos += 4 + 16 * nasks
    if entry_length != 16 or pos >= end or pos + 1 + frame[pos] > end:
        return None
    plan, closed, open_ = _PLANS.get((block_length, nbids, nasks)) or _plan(block_length, nbids, nasks)
    values = plan.unpack_from(frame, 8)
    ts, seq, pkg, bb, bbs, ba, bas, spread, bba, bbas, baa, baas = values[:12]
    if pkg != PKG_DELTA and pkg != PKG_SNAPSHOT:
        return None
    split = 12 + 2 * nbids
    bids = values[12:split]
    asks = values[split:]
    raw_market = frame[pos + 1 : pos + 1 + frame[pos]]
    known = _markets.get(raw_market)
    if known is None:
        try:
            market = str(raw_market, "utf-8")
        except UnicodeDecodeError:
            return None
        if len(_markets) >= 4096:
            _markets.clear()
        known = _markets[raw_market] = (market, _ENC(market))
    market, market_json = known
    ts_ms = ts // 1000
    get = _texts.get
    if pkg == PKG_SNAPSHOT:
        if (bids and (min(bids) < 0 or 0 in bids[::2])) or (asks and (min(asks) < 0 or 0 in asks[::2])):
            return None  # a price <= 0 or a negative size: the full decode and validation decide
        sets = [_LEVEL % (prefix, get(flat[i]) or _text(flat[i]), get(flat[i + 1]) or _text(flat[i + 1]))
                for prefix, flat in ((_BUY, bids), (_SELL, asks)) for i in range(0, len(flat), 2)]
        out = [b'{"seq_no":%d,"market":%b,"last_updated_at":%d,"update_type":"s","inserts":[' % (
            seq, market_json, ts_ms), b",".join(sets), b'],"updates":[],"deletes":[]']
        has_deletes = False
    else:
        # one precompiled template per shape (sets and deletes per side) filled by one % with the
        # memoised texts: no per-level formatting (a delta is 1-4 levels; this is the hot path)
        levels = values[12:]
        if not levels or min(levels) > 0:  # every price and size > 0: the layout's own template
            has_deletes = False
            texts = levels
        elif min(levels) < 0 or 0 in levels[::2]:
            return None  # a price <= 0 or a negative size: the full decode and validation decide
        else:  # size 0 = delete: the sets first, then the deletes, frame order kept per side
            has_deletes = True
            # one cached reordering per pattern of deleted levels (no per-level Python step)
            key = (nbids, *map(bool, levels[1::2]))
            closed, open_, pick_texts, pick_bids, pick_asks = _ORDERS.get(key) or _order(key)
            texts = pick_texts(levels)
            bids = pick_bids(levels)  # application order for the book
            asks = pick_asks(levels)
        nobest = bba == NULL and baa == NULL and bb == NULL and ba == NULL and spread == NULL
        template = closed if nobest else open_
        try:
            head = template % (seq, market_json, ts_ms, *map(get, texts))
        except TypeError:  # a text not memoised yet (a None): write every text
            head = template % (seq, market_json, ts_ms, *map(_text, texts))
        if nobest:
            return _new(FastBook, (market, seq, False, ts_ms, bids, asks, head, has_deletes))
        out = [head]
    # a best level with a price <= 0 or a negative size (NULL, the most negative int64, is "none"
    # for a size) is not the usual layout: the full decode and validation decide
    if bba != NULL:
        if bba <= 0 or 0 > bbas != NULL:
            return None
        out.append(_best(b"best_bid_api", _BUY, bba, bbas))
    if baa != NULL:
        if baa <= 0 or 0 > baas != NULL:
            return None
        out.append(_best(b"best_ask_api", _SELL, baa, baas))
    if bb != NULL:
        if bb <= 0 or 0 > bbs != NULL:
            return None
        out.append(_best(b"best_bid_interactive", _BUY, bb, bbs))
    if ba != NULL:
        if ba <= 0 or 0 > bas != NULL:
            return None
        out.append(_best(b"best_ask_interactive", _SELL, ba, bas))
    if spread != NULL:
        out.append(b',"relative_spread":%b' % _text(spread))
    out.append(b"}")
    return _new(FastBook, (market, seq, pkg == PKG_SNAPSHOT, ts_ms, bids, asks, b"".join(out), has_deletes))
