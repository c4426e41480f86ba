"""SBE frame robustness: forward compatibility, truncation, garbage, exact mantissas."""

from __future__ import annotations

import struct
from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import DecodeError
from shared.paradex.models import BookUpdate, Trade
from shared.paradex.sbe import Skipped, decode, encode
from shared.paradex.sbe.layout import BOOK, INT64_MAX, INT64_MIN, TEMPLATES, TRADE
from shared.paradex.sbe.mantissa import MantissaError, dec8, dec12, mantissa, opt_dec8
from shared.paradex.sbe.wire import write_frame
from tests.paradex.test_sbe_codec import SAMPLES

FRAMES = {name: encode(model, seq=5) for name, model in SAMPLES.items()}


def with_longer_block(frame: bytes, extra: bytes) -> bytes:
    """``frame`` as a newer schema version would send it: ``extra`` appended to the fixed block."""
    block_length, rest = struct.unpack_from("<H", frame)[0], frame[2:8]
    end = 8 + block_length
    return struct.pack("<H", block_length + len(extra)) + rest + frame[8:end] + extra + frame[end:]


@pytest.mark.parametrize("name", FRAMES)
def test_frame_with_larger_block_length_still_decodes(name: str) -> None:
    newer = with_longer_block(FRAMES[name], b"\x07" * 13)
    assert decode(newer) == decode(FRAMES[name])


@pytest.mark.parametrize("name", FRAMES)
def test_trailing_unknown_var_data_is_ignored(name: str) -> None:
    assert decode(FRAMES[name] + b"\x03new") == decode(FRAMES[name])


def test_book_group_with_larger_entry_length_is_strided_by_it() -> None:
    values = (1000, 1, 1, *[INT64_MIN] * 9)
    normal = write_frame(BOOK, values, version=2, groups=([(100, 1), (99, 2)], []), data=("M",))
    head = normal[: 8 + BOOK.block.size]
    entries = struct.pack("<qqi", 100, 1, -1) + struct.pack("<qqi", 99, 2, -1)
    wide = head + struct.pack("<HH", 20, 2) + entries + struct.pack("<HH", 16, 0) + b"\x01M"
    assert decode(wide) == decode(normal)


def test_block_shorter_than_version_zero_is_a_decode_error() -> None:
    frame = FRAMES["book_delta"]
    short = struct.pack("<H", 88) + frame[2:8] + frame[8 : 8 + 88] + frame[8 + 89 :]
    with pytest.raises(DecodeError) as info:
        decode(short)
    assert info.value.what == "BookEvent" and "minimum" in info.value.reason


def test_unknown_template_is_skipped_not_failed() -> None:
    frame = struct.pack("<HHHH", 4, 6, 1, 2) + b"\x00" * 4 + b"\x03abc"
    assert decode(frame) == Skipped(template_id=6, version=2, length=len(frame))


def test_heartbeat_is_recognised() -> None:
    frame = struct.pack("<HHHHqq", 16, 40, 1, 2, 123456789, 7)
    assert decode(frame) == SAMPLES["heartbeat"].__class__(ts_us=123456789, seq=7)


def test_wrong_schema_id_is_a_decode_error() -> None:
    frame = bytearray(FRAMES["trade_real"])
    frame[4] = 2
    with pytest.raises(DecodeError, match="schema id 2"):
        decode(bytes(frame))


def test_memoryview_and_bytearray_frames_decode_like_bytes() -> None:
    frame = FRAMES["book_snapshot"]
    assert decode(memoryview(frame)) == decode(bytearray(frame)) == decode(frame)


def test_bad_utf8_market_is_a_decode_error() -> None:
    frame = FRAMES["bbo_real"]
    bad = frame[:-3] + b"\xff\xfe\xfd"
    with pytest.raises(DecodeError, match="UTF-8") as info:
        decode(bad)
    assert info.value.what == "BboEvent"


def test_group_count_too_large_is_a_decode_error() -> None:
    frame = bytearray(FRAMES["book_delta"])
    struct.pack_into("<H", frame, 8 + BOOK.block.size + 2, 60000)
    with pytest.raises(DecodeError, match="runs past"):
        decode(bytes(frame))


def test_null_in_required_price_is_a_decode_error() -> None:
    values = (0, 0, 0, 1, INT64_MIN, 1, 0, 1)
    with pytest.raises(DecodeError) as info:
        decode(write_frame(TRADE, values, version=2, data=("M", "1")))
    assert info.value.field == "price"


@pytest.mark.parametrize("code", [0, 3, 200])
def test_unknown_side_code_is_a_decode_error(code: int) -> None:
    values = (0, 0, 0, code, 1, 1, 0, 1)
    with pytest.raises(DecodeError, match="side"):
        decode(write_frame(TRADE, values, version=2, data=("M", "1")))


def test_non_representable_side_decodes_as_such() -> None:
    decoded = decode(write_frame(TRADE, (0, 0, 0, 254, 1, 1, 0, 254), version=2, data=("M", "1")))
    assert isinstance(decoded, Trade)
    assert decoded.side == decoded.trade_type == "NON_REPRESENTABLE"


def test_unknown_pkg_type_is_a_decode_error() -> None:
    frame = write_frame(BOOK, (0, 0, 2, *[INT64_MIN] * 9), version=2, groups=([], []), data=("M",))
    with pytest.raises(DecodeError, match="pkgType"):
        decode(frame)


def _trade_id_str_boundary(frame: bytes) -> int:
    """Where ``tradeIdStr`` starts in a TradeEvent frame (a prefix ending there is a valid 1:1 layout)."""
    market_at = 8 + TRADE.block.size
    return market_at + 1 + frame[market_at]


@pytest.mark.parametrize("name", FRAMES)
def test_every_truncation_of_a_valid_frame_is_a_decode_error(name: str) -> None:
    frame = FRAMES[name]
    model = SAMPLES[name]
    checked = 0
    for cut in range(len(frame)):
        prefix = frame[:cut]
        if isinstance(model, Trade) and cut == _trade_id_str_boundary(frame):
            decoded = decode(prefix)  # optional trailing var data absent: decodes without it
            assert isinstance(decoded, Trade) and decoded.id != model.id
            continue
        with pytest.raises(DecodeError):
            decode(prefix)
        checked += 1
    assert checked >= len(frame) - 1


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_decode_error(data: bytes) -> None:
    _decode_or_decode_error(data)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(TEMPLATES)), st.integers(0, 300), st.integers(0, 3), st.binary(max_size=400))
def test_random_bodies_behind_valid_headers_raise_only_decode_error(
    template_id: int, block_length: int, version: int, body: bytes
) -> None:
    _decode_or_decode_error(struct.pack("<HHHH", block_length, template_id, 1, version) + body)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(FRAMES)), st.data())
def test_mutated_valid_frames_raise_only_decode_error(name: str, data: st.DataObject) -> None:
    frame = bytearray(FRAMES[name])
    for _ in range(data.draw(st.integers(1, 4))):
        frame[data.draw(st.integers(0, len(frame) - 1))] = data.draw(st.integers(0, 255))
    _decode_or_decode_error(bytes(frame))


def _decode_or_decode_error(frame: bytes) -> Any:
    try:
        return decode(frame)
    except DecodeError as exc:
        assert exc.what and exc.reason
        return None


# --- mantissas ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("m", "text"), [
    (6762970000000, "67629.7"), (100000, "0.001"), (1, "0.00000001"), (-5000000, "-0.05"), (0, "0"),
    (INT64_MAX, "92233720368.54775807"), (INT64_MIN + 1, "-92233720368.54775807"),
])
def test_dec8_is_exact_and_equals_json_decimal(m: int, text: str) -> None:
    assert dec8(m) == D(text)
    assert hash(dec8(m)) == hash(D(text))
    assert mantissa(D(text)) == m


def test_dec12_is_exact() -> None:
    assert dec12(100000013) == D("0.000100000013")
    assert dec12(INT64_MAX) == D("9223372.036854775807")


def test_null_sentinel_decodes_to_none() -> None:
    assert opt_dec8(INT64_MIN) is None


@pytest.mark.parametrize("text", ["1.000000001", "92233720368.54775808", "NaN", "Infinity"])
def test_unrepresentable_decimal_raises_mantissa_error(text: str) -> None:
    with pytest.raises(MantissaError):
        mantissa(D(text))


def test_truncate_drops_extra_digits_toward_zero() -> None:
    assert mantissa(D("0.00010000001298"), truncate=True) == 10000
    assert mantissa(D("-0.00010000001298"), -12, truncate=True) == -100000012


def test_decoding_one_frame_does_not_depend_on_thread_decimal_precision() -> None:
    import decimal

    from shared.paradex.sbe import mantissa as mantissa_module

    mantissa_module._cache8.clear()  # force real conversions, not memoised ones
    with decimal.localcontext() as ctx:
        ctx.prec = 5
        decoded = decode(FRAMES["book_snapshot"])
    assert isinstance(decoded, BookUpdate) and decoded == SAMPLES["book_snapshot"]
