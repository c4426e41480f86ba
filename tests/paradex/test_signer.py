"""Paradex order/auth hashing and signing: the PROTOCOL 4.2 vector and committed starknet-py values."""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import ConfigError, SigningError
from shared.log import redact
from shared.paradex import pedersen, stark
from shared.paradex import signer as sg
from shared.paradex.typed_data import encode_short_string, hash_on_elements
from shared.settings import Secret
from tests.paradex.reference import backend, n, order_args, vectors

__all__ = ["backend"]  # the fixture: every hashing test runs once per Pedersen backend present

CHAIN = "PRIVATE_SN_PARACLEAR_MAINNET"
# PROTOCOL.md 4.2 prints this account truncated (0x49ddd7a5...0ec3); the full address is the one
# in ccxt's Paradex sample responses (ts/src/paradex.ts, fetchOrder/fetchPositions comments).
VECTOR_ACCOUNT = "0x49ddd7a564c978f6e4089ff8355b56a42b7e2d48ba282cb5aad60f04bea0ec3"
VECTOR_HASH = 0x3B31F32272BD43BCDF4666FC6C4CA3AE5A341ED0B1C0F49FFA1654BD769C1F7


def test_every_backend_equals_the_reference_pedersen_on_edge_and_random_inputs(backend: str) -> None:
    cases = vectors()["pedersen"]
    assert len(cases) > 200
    impl = pedersen.BACKENDS[backend]
    for a, b, expected in cases:
        assert impl.hash(n(a), n(b)) == n(expected), (backend, a, b)
        assert impl.hash_fixed(n(a), n(b)) == n(expected), (backend, a, b)
        assert impl.hash_fixed(n(a), n(b)) == n(expected), (backend, a, b)  # from the per-a cache


def test_pedersen_rejects_non_field_elements(backend: str) -> None:
    for a, b in ((stark.FIELD_PRIME, 1), (1, stark.FIELD_PRIME), (-1, 0), (0, -1)):
        with pytest.raises(ValueError):
            pedersen.hash(a, b)


def test_protocol_vector_hash_is_reproduced(backend: str) -> None:
    h = sg.order_hash(CHAIN, VECTOR_ACCOUNT, "BTC-USD-PERP", "BUY", "LIMIT", "0.01", "30000.5",
                      1_700_000_000_000)
    assert h == VECTOR_HASH
    assert hex(h).startswith("0x3b31f322")  # the digits PROTOCOL.md prints


def test_protocol_vector_signature_equals_starknet_py_and_verifies(backend: str) -> None:
    ref = vectors()["protocol_vector"]
    signer = sg.OrderSigner(n(ref["key"]), VECTOR_ACCOUNT, CHAIN)
    sig = signer.sign_order("BTC-USD-PERP", "BUY", "LIMIT", Decimal("0.01"), Decimal("30000.5"),
                            1_700_000_000_000)
    assert sg.parse_signature(sig) == (n(ref["r"]), n(ref["s"]))
    assert signer.public_key == n(ref["public_key"])
    assert sg.verify_signature(signer.public_key, VECTOR_HASH, sig)


def test_random_order_hashes_equal_starknet_py(backend: str) -> None:
    cases = vectors()["orders"]
    assert len(cases) == 200
    for v in cases:
        market, side, otype, size, price, ts = order_args(v)
        ours = sg.order_hash(CHAIN, v["account"], market, side, otype, size, str(price), ts)
        assert ours == n(v["hash"]), v


def test_random_modify_hashes_equal_starknet_py(backend: str) -> None:
    cases = vectors()["modifies"]
    assert len(cases) == 40
    for v in cases:
        market, side, otype, size, price, ts = order_args(v)
        ours = sg.modify_order_hash("PRIVATE_SN_POTC_SEPOLIA", v["account"], v["order_id"], market, side,
                                    otype, size, price, ts)
        assert ours != n(v["hash"])  # different chain id: the domain must matter
        assert sg.modify_order_hash(CHAIN, v["account"], v["order_id"], market, side, otype, size, price,
                                    ts) == n(v["hash"])


def test_auth_and_onboarding_hashes_equal_starknet_py(backend: str) -> None:
    cases = vectors()["auth"]
    assert len(cases) == 20
    for v in cases:
        assert sg.auth_hash(CHAIN, v["account"], v["timestamp"], v["expiration"]) == n(v["hash"])
        assert sg.onboarding_hash(CHAIN, v["account"]) == n(v["onboarding_hash"])


def test_random_keys_sign_random_orders_like_starknet_py_and_both_verifiers_agree(backend: str) -> None:
    cases = vectors()["signed_orders"]
    assert len(cases) == 25
    for v in cases:
        signer = sg.OrderSigner(v["key"], v["account"], CHAIN)
        market, side, otype, size, price, ts = order_args(v)
        sig = signer.sign_order(market, side, otype, size, price, ts)
        msg = sg.order_hash(CHAIN, signer.account, market, side, otype, size, price, ts)
        assert msg == n(v["hash"])
        r, s = sg.parse_signature(sig)
        assert (r, s) == (n(v["r"]), n(v["s"]))  # byte-equal signature
        assert signer.public_key == n(v["public_key"])
        assert sg.verify(signer.public_key, msg, r, s)
        tampered = sg.order_hash(CHAIN, signer.account, market, side, otype, size + 1, price, ts)
        assert tampered == n(v["tampered_hash"])
        assert not sg.verify(signer.public_key, tampered, r, s)
        assert v["tampered_verifies"] is False


def test_market_orders_sign_price_zero_whatever_price_is_given() -> None:
    a = sg.order_hash(CHAIN, VECTOR_ACCOUNT, "BTC-USD-PERP", "SELL", "MARKET", "1", "123.45", 1)
    b = sg.order_hash(CHAIN, VECTOR_ACCOUNT, "BTC-USD-PERP", "SELL", "MARKET", "1", None, 1)
    c = sg.order_hash(CHAIN, VECTOR_ACCOUNT, "BTC-USD-PERP", "SELL", "LIMIT", "1", "0", 1)
    assert a == b
    assert a != c  # orderType is signed too
    assert a == sg.order_hash(CHAIN, VECTOR_ACCOUNT, "BTC-USD-PERP", "SELL", "MARKET", "1", "0", 1)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0.01", 1_000_000), ("30000.5", 3_000_050_000_000), ("1", 10**8), (5, 5 * 10**8),
     (Decimal("0.00000001"), 1), ("1.000000000000", 10**8), ("1E+3", 10**11), ("0", 0), ("-0", 0),
     ("12345678901234567890.12345678", 1234567890123456789012345678)],
)
def test_scale_e8_is_exact(value: Any, expected: int) -> None:
    assert sg.scale_e8(value) == expected


@pytest.mark.parametrize("value", ["0.000000001", "-1", "-0.5", 1.5, True, "abc", "NaN", "Infinity", "",
                                   Decimal("1e100")])
def test_scale_e8_rejects_inexact_negative_float_and_garbage(value: Any) -> None:
    with pytest.raises(SigningError):
        sg.scale_e8(value)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=10**20), st.integers(min_value=0, max_value=8))
def test_scale_e8_round_trips_any_eight_decimal_value(units: int, places: int) -> None:
    value = Decimal(units).scaleb(-places)
    assert sg.scale_e8(str(value)) == units * 10 ** (8 - places)
    assert Decimal(sg.scale_e8(value)).scaleb(-8) == value


@pytest.mark.parametrize(
    ("field", "bad"),
    [("market", "X" * 32), ("market", "BTC-USD-PERP\u00e9"), ("side", "buy"), ("side", "1"),
     ("order_type", "Ω"), ("size", "0.123456789"), ("price", "-1"), ("timestamp_ms", 1.5),
     ("timestamp_ms", -1)],
)
def test_invalid_order_fields_raise_signing_error(field: str, bad: Any) -> None:
    args: dict[str, Any] = {"market": "BTC-USD-PERP", "side": "BUY", "order_type": "LIMIT", "size": "1",
                            "price": "2", "timestamp_ms": 1}
    args[field] = bad
    with pytest.raises(SigningError):
        sg.order_hash(CHAIN, VECTOR_ACCOUNT, **args)


def test_short_string_and_hash_chain_helpers_match_definitions(backend: str) -> None:
    assert encode_short_string("LIMIT") == int.from_bytes(b"LIMIT", "big")
    assert encode_short_string("") == 0
    cases = vectors()["hash_on_elements"]
    assert [[], ["0x1", "0x2", "0x3"]] == [c[0] for c in cases[:2]]
    for values, expected in cases:
        assert hash_on_elements([n(v) for v in values]) == n(expected)


def test_signature_wire_format_and_parsing() -> None:
    assert sg.format_signature(12, 34) == '["12","34"]'
    assert sg.parse_signature('["12","34"]') == (12, 34)
    assert sg.parse_signature('["0xc","0X22"]') == (12, 34)  # ccxt sends hex
    for bad in ["", "[1,2]", '["1"]', '["a","b"]', '{"r":"1"}', '["1","2","3"]']:
        with pytest.raises(SigningError):
            sg.parse_signature(bad)
        assert sg.verify_signature(1, 1, bad) is False


def test_repr_and_logs_never_show_the_private_key() -> None:
    key = 0xDEADBEEF12345678DEADBEEF
    for given_key in (key, hex(key), Secret(hex(key)), str(key)):
        signer = sg.OrderSigner(given_key, VECTOR_ACCOUNT, CHAIN)
        text = repr(signer) + str(signer)
        assert hex(key)[2:] not in text.lower()
        assert str(key) not in text
        assert signer.public_key == stark.private_to_public_key(key)
    for form in (hex(key), f"{key:064x}", str(key)):
        assert form not in redact(f"key={form}")


def test_load_private_key_from_value_and_file(tmp_path: Path) -> None:
    path = tmp_path / "l2.key"
    path.write_text("0x0abc\n")
    assert sg.load_private_key(None, path) == 0xABC
    assert sg.load_private_key("0xABC", None) == 0xABC
    assert sg.load_private_key("2748", None) == 0xABC
    assert sg.load_private_key(Secret("0xabc"), None) == 0xABC


@pytest.mark.parametrize(
    ("value", "file", "variable"),
    [(None, None, "PARADEX_L2_PRIVATE_KEY"), ("0xzz-secret", None, "PARADEX_L2_PRIVATE_KEY"),
     ("0", None, "PARADEX_L2_PRIVATE_KEY"), (hex(stark.EC_ORDER), None, "PARADEX_L2_PRIVATE_KEY"),
     (None, "/nonexistent/key", "PARADEX_L2_PRIVATE_KEY_FILE")],
)
def test_load_private_key_errors_name_the_variable_not_the_value(value: str | None, file: str | None,
                                                                 variable: str) -> None:
    with pytest.raises(ConfigError) as info:
        sg.load_private_key(value, file)
    assert info.value.variable == variable
    if value:
        assert value not in str(info.value)


def test_bad_account_or_chain_fails_at_construction() -> None:
    with pytest.raises(SigningError):
        sg.OrderSigner(5, "not-hex", CHAIN)
    with pytest.raises(SigningError):
        sg.OrderSigner(5, VECTOR_ACCOUNT, "C" * 32)
    with pytest.raises(SigningError):
        sg.OrderSigner(0, VECTOR_ACCOUNT, CHAIN)


def test_logging_a_signer_does_not_leak_the_key(caplog: pytest.LogCaptureFixture) -> None:
    key = 0x5EC12E7
    signer = sg.OrderSigner(key, VECTOR_ACCOUNT, CHAIN)
    with caplog.at_level(logging.INFO):
        logging.getLogger("t").info("signer %r", signer)
    assert hex(key) not in caplog.text and str(key) not in caplog.text
