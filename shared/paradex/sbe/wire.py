"""Low-level SBE frame reading and writing: header, fixed block, groups, var strings.

Pure functions over ``bytes``/``memoryview``. Readers take the frame and a position and return the
value(s) plus the next position; every bounds problem becomes a :class:`DecodeError` naming the
template, so a truncated or hostile frame never escapes as ``IndexError``/``struct.error``.

Forward compatibility rules (schema 1:2 comment, "read blockLength from the header"):

- the fixed block is read with the *received* block length: longer blocks (a newer version appended
  fields) are skipped over; shorter ones (an older version) leave the appended fields null;
- group entries are strided by the group's own block length;
- var data missing at the very end of the frame is absent (``None``), and bytes after the last
  var-data field we know are ignored.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from shared.errors import DecodeError
from shared.paradex.sbe.layout import GROUP_HEADER, HEADER, LEVEL, SCHEMA_ID, Template

Buffer = bytes | bytearray | memoryview

_unpack_header = HEADER.unpack_from
_unpack_group = GROUP_HEADER.unpack_from
_unpack_level = LEVEL.unpack_from
_LEVEL_SIZE = LEVEL.size


def read_header(buf: Buffer) -> tuple[int, int, int]:
    """``(block_length, template_id, version)`` of a frame; checks length and schema id."""
    if len(buf) < 8:
        raise DecodeError("sbe frame", f"{len(buf)} bytes, shorter than the 8-byte header")
    block_length, template_id, schema_id, version = _unpack_header(buf, 0)
    if schema_id != SCHEMA_ID:
        raise DecodeError("sbe frame", f"schema id {schema_id}, expected {SCHEMA_ID}")
    return block_length, template_id, version


def read_block(buf: Buffer, tpl: Template, block_length: int) -> tuple[int, ...]:
    """The fixed-block values of ``tpl`` (frame header already read); absent appended fields are null."""
    end = 8 + block_length
    if end > len(buf):
        raise DecodeError(tpl.name, f"block of {block_length} bytes runs past the frame end ({len(buf)})")
    full = tpl.block.size
    if block_length >= full:
        return tpl.block.unpack_from(buf, 8)
    if block_length < tpl.min_block_length:
        raise DecodeError(tpl.name, f"block length {block_length} < minimum {tpl.min_block_length}")
    # Older version: keep the fields that fit entirely, fill the rest with their null sentinels.
    keep = 0
    for f in tpl.fields:
        if keep + f.size > block_length:
            break
        keep += f.size
    return tpl.block.unpack(bytes(buf[8 : 8 + keep]) + tpl.null_block[keep:])


def flat_struct(count: int) -> struct.Struct:
    """The packer of ``count`` flattened (price, size) entries (memoised for counts up to 256)."""
    packer = FLAT_CACHE.get(count)
    if packer is None:
        packer = struct.Struct(f"<{2 * count}q")
        if count <= 256:
            FLAT_CACHE[count] = packer
    return packer


FLAT_CACHE: dict[int, struct.Struct] = {}


def read_levels(buf: Buffer, pos: int, what: str) -> tuple[tuple[int, ...], int]:
    """A ``(price, size)`` repeating group at ``pos``, flattened: ``(p0, s0, p1, s1, ...)``.

    Returns the flat tuple and the position after the group (one C-level unpack for the usual
    16-byte entries; strided reads when a newer version widened the entries).
    """
    if pos + 4 > len(buf):
        raise DecodeError(what, f"group header at {pos} runs past the frame end ({len(buf)})")
    entry_length, count = _unpack_group(buf, pos)
    pos += 4
    end = pos + entry_length * count
    if end > len(buf):
        raise DecodeError(what, f"group of {count} x {entry_length} bytes runs past the frame end")
    if entry_length == _LEVEL_SIZE:
        return flat_struct(count).unpack_from(buf, pos), end
    if count == 0:
        return (), end
    if entry_length < _LEVEL_SIZE:
        raise DecodeError(what, f"group entry length {entry_length} < {_LEVEL_SIZE}")
    return tuple(v for p in range(pos, end, entry_length) for v in _unpack_level(buf, p)), end


def read_string(buf: Buffer, pos: int, what: str) -> tuple[str | None, int]:
    """A ``varString8`` at ``pos``; ``None`` when the frame ends exactly at ``pos`` (absent var data)."""
    if pos >= len(buf):
        return None, pos
    end = pos + 1 + buf[pos]
    if end > len(buf):
        raise DecodeError(what, f"string of {buf[pos]} bytes at {pos} runs past the frame end")
    try:
        return str(buf[pos + 1 : end], "utf-8"), end
    except UnicodeDecodeError as exc:
        raise DecodeError(what, f"string at {pos} is not UTF-8: {exc.reason}") from exc


def write_header(tpl: Template, block_length: int, version: int) -> bytes:
    """The 8-byte message header."""
    return HEADER.pack(block_length, tpl.template_id, SCHEMA_ID, version)


def write_levels(levels: Sequence[tuple[int, int]]) -> bytes:
    """A ``(price, size)`` repeating group: header plus entries."""
    if len(levels) > 0xFFFF:
        raise ValueError(f"{len(levels)} levels do not fit a uint16 group count")
    pack = LEVEL.pack
    try:
        return GROUP_HEADER.pack(_LEVEL_SIZE, len(levels)) + b"".join([pack(p, s) for p, s in levels])
    except struct.error as exc:
        raise ValueError(f"group level: {exc}") from exc


def write_string(value: str) -> bytes:
    """A ``varString8``: u8 length then UTF-8 bytes (at most 255)."""
    raw = value.encode()
    if len(raw) > 255:
        raise ValueError(f"string of {len(raw)} bytes does not fit varString8: {value[:40]!r}...")
    return bytes((len(raw),)) + raw


def write_frame(
    tpl: Template,
    values: Sequence[int],
    *,
    version: int,
    groups: Sequence[Sequence[tuple[int, int]]] = (),
    data: Sequence[str | None] = (),
) -> bytes:
    """A whole frame of ``tpl`` at ``version``.

    ``values`` are all fixed fields in layout order (fields newer than ``version`` are dropped);
    ``data`` the var strings in order, ``None`` ending the frame there (absent trailing var data).
    """
    if len(values) != len(tpl.fields):
        raise ValueError(f"{tpl.name}: {len(values)} values for {len(tpl.fields)} fields")
    block_struct = tpl.block_at(version)
    try:
        block = block_struct.pack(*values[: len(tpl.fields_at(version))])
    except struct.error as exc:
        raise ValueError(f"{tpl.name}: {exc}") from exc
    parts = [write_header(tpl, len(block), version), block]
    parts += [write_levels(g) for g in groups]
    for value in data[: len(tpl.data_at(version))]:
        if value is None:
            break
        parts.append(write_string(value))
    return b"".join(parts)
