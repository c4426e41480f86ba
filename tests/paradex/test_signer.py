"""Paradex order/auth hashing and signing, against the PROTOCOL 4.2 vector and starknet-py."""

from __future__ import annotations

import logging
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starknet_py.hash.utils import message_signature, verify_message_signature
from starknet_py.utils.typed_data import TypedData

from shared.errors import ConfigError, SigningError
from shared.log import redact
from shared.paradex import signer as sg
from shared.paradex import stark
from shared.paradex.typed_data import encode_short_string, hash_on_elements
from shared.settings import Secret

CHAIN = "PRIVATE_SN_PARACLEAR_MAINNET"
# PROTOCOL.md 4.2 prints this account truncated (0x49ddd7a5...0ec3); the full address is the one
# in ccxt's Paradex sample responses (ts/src/paradex.ts, fetchOrder/fetchPositions comments).
VECTOR_ACCOUNT = "0x49ddd7a564c978f6e4089ff8355b56a42b7e2d48ba282cb5aad60f04bea0ec3"
VECTOR_HASH = 0x3B31F32272BD43BCDF4666FC6C4CA3AE5A341ED0B1C0F49FFA1654BD769C1F7
MARKETS = ["BTC-USD-PERP", "ETH-USD-PERP", "SOL-USD-PERP", "BTC-USD-100000-C", "A" * 31]
TYPES = ["LIMIT", "MARKET", "STOP_LIMIT", "STOP_MARKET", "TAKE_PROFIT_LIMIT"]

_DOMAIN_TYPE = [{"name": n, "type": "felt"} for n in ("name", "chainId", "version")]


def _reference_hash(primary: str, fields: list[str], message: dict[str, Any], account: str,
                    chain: str = CHAIN) -> int:
    td = TypedData.from_dict({
        "domain": {"name": "Paradex", "chainId": chain, "version": "1"},
        "primaryType": primary,
        "types": {"StarkNetDomain": _DOMAIN_TYPE, primary: [{"name": f, "type": "felt"} for f in fields]},
        "message": message,
    })
    return int(td.message_hash(int(account, 16)))


def _reference_order_hash(account: str, market: str, side: str, order_type: str, size: Decimal,
                          price: Decimal, ts: int, order_id: str | None = None) -> int:
    """The paradex-py construction: Decimal.scaleb(8) strings, price 0 for MARKET."""
    message = {
        "timestamp": str(ts), "market": market, "side": "1" if side == "BUY" else "2",
        "orderType": order_type, "size": str(int(size.scaleb(8))),
        "price": "0" if order_type == "MARKET" else str(int(price.scaleb(8))),
    }
    fields = list(sg.ORDER_FIELDS)
    primary = "Order"
    if order_id is not None:
        message["id"], primary = order_id, "ModifyOrder"
        fields.append("id")
    return _reference_hash(primary, fields, message, account)


def _random_order(rng: random.Random) -> tuple[str, str, str, Decimal, Decimal, int]:
    size = Decimal(rng.randrange(1, 10**12)).scaleb(-rng.randrange(0, 9))
    price = Decimal(rng.randrange(1, 10**13)).scaleb(-rng.randrange(0, 9))
    return (rng.choice(MARKETS), rng.choice(["BUY", "SELL"]), rng.choice(TYPES), size, price,
            rng.randrange(1_600_000_000_000, 1_900_000_000_000))


def _random_account(rng: random.Random) -> str:
    return hex(rng.randrange(1, 2**251))


def test_protocol_vector_hash_is_reproduced() -> None:
    h = sg.order_hash(CHAIN, VECTOR_ACCOUNT, "BTC-USD-PERP", "BUY", "LIMIT", "0.01", "30000.5",
                      1_700_000_000_000)
    assert h == VECTOR_HASH
    assert hex(h).startswith("0x3b31f322")  # the digits PROTOCOL.md prints


def test_protocol_vector_signature_verifies_with_starknet_py_and_ours() -> None:
    key = 0x1234567890ABCDEF
    signer = sg.OrderSigner(key, VECTOR_ACCOUNT, CHAIN)
    sig = signer.sign_order("BTC-USD-PERP", "BUY", "LIMIT", Decimal("0.01"), Decimal("30000.5"),
                            1_700_000_000_000)
    r, s = sg.parse_signature(sig)
    assert (r, s) == tuple(message_signature(VECTOR_HASH, key))
    assert verify_message_signature(VECTOR_HASH, [r, s], signer.public_key)
    assert sg.verify_signature(signer.public_key, VECTOR_HASH, sig)


def test_random_order_hashes_equal_starknet_py() -> None:
    rng = random.Random(7)
    for _ in range(200):
        account = _random_account(rng)
        market, side, otype, size, price, ts = _random_order(rng)
        ours = sg.order_hash(CHAIN, account, market, side, otype, size, str(price), ts)
        assert ours == _reference_order_hash(account, market, side, otype, size, price, ts)


def test_random_modify_hashes_equal_starknet_py() -> None:
    rng = random.Random(8)
    for _ in range(40):
        account = _random_account(rng)
        market, side, otype, size, price, ts = _random_order(rng)
        order_id = str(rng.randrange(10**27, 10**28))
        ours = sg.modify_order_hash("PRIVATE_SN_POTC_SEPOLIA", account, order_id, market, side, otype, size,
                                    price, ts)
        ref = _reference_order_hash(account, market, side, otype, size, price, ts, order_id)
        assert ours != ref  # different chain id: the domain must matter
        assert sg.modify_order_hash(CHAIN, account, order_id, market, side, otype, size, price, ts) == ref


def test_auth_and_onboarding_hashes_equal_starknet_py() -> None:
    rng = random.Random(9)
    for _ in range(20):
        account = _random_account(rng)
        ts = rng.randrange(1_600_000_000, 1_900_000_000)
        exp = ts + rng.randrange(1, 7 * 86400)
        ref = _reference_hash("Request", ["method", "path", "body", "timestamp", "expiration"],
                              {"method": "POST", "path": "/v1/auth", "body": "", "timestamp": ts,
                               "expiration": exp}, account)
        assert sg.auth_hash(CHAIN, account, ts, exp) == ref
        assert sg.onboarding_hash(CHAIN, account) == _reference_hash(
            "Constant", ["action"], {"action": "Onboarding"}, account)


def test_random_keys_sign_random_orders_like_starknet_py_and_both_verifiers_agree() -> None:
    # 25 signatures: starknet-py needs ~100 ms per signature; hashes are covered 200x above.
    rng = random.Random(10)
    for _ in range(25):
        key = rng.randrange(1, stark.EC_ORDER)
        signer = sg.OrderSigner(hex(key), _random_account(rng), CHAIN)
        market, side, otype, size, price, ts = _random_order(rng)
        sig = signer.sign_order(market, side, otype, size, price, ts)
        msg = sg.order_hash(CHAIN, signer.account, market, side, otype, size, price, ts)
        r, s = sg.parse_signature(sig)
        assert (r, s) == tuple(message_signature(msg, key))
        assert verify_message_signature(msg, [r, s], signer.public_key)
        assert sg.verify(signer.public_key, msg, r, s)
        tampered = sg.order_hash(CHAIN, signer.account, market, side, otype, size + 1, price, ts)
        assert not sg.verify(signer.public_key, tampered, r, s)
        assert not verify_message_signature(tampered, [r, s], signer.public_key)


def test_market_orders_sign_price_zero_whatever_price_is_given() -> None:
    a = sg.order_hash(CHAIN, VECTOR_ACCOUNT, "BTC-USD-PERP", "SELL", "MARKET", "1", "123.45", 1)
    b = sg.order_hash(CHAIN, VECTOR_ACCOUNT, "BTC-USD-PERP", "SELL", "MARKET", "1", None, 1)
    c = sg.order_hash(CHAIN, VECTOR_ACCOUNT, "BTC-USD-PERP", "SELL", "LIMIT", "1", "0", 1)
    assert a == b
    assert a != c  # orderType is signed too
    assert a == _reference_order_hash(VECTOR_ACCOUNT, "BTC-USD-PERP", "SELL", "MARKET", Decimal(1),
                                      Decimal(0), 1)


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


def test_short_string_and_hash_chain_helpers_match_definitions() -> None:
    assert encode_short_string("LIMIT") == int.from_bytes(b"LIMIT", "big")
    assert encode_short_string("") == 0
    from starknet_py.hash.utils import compute_hash_on_elements

    assert hash_on_elements([1, 2, 3]) == compute_hash_on_elements([1, 2, 3])
    assert hash_on_elements([]) == compute_hash_on_elements([])


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
