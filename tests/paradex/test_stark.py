"""STARK curve arithmetic and ECDSA, cross-checked against crypto-cpp-py / starknet-py."""

from __future__ import annotations

import random

import pytest
from crypto_cpp_py.cpp_bindings import cpp_get_public_key
from starknet_py import constants as sn_constants
from starknet_py.hash.utils import message_signature, verify_message_signature

from shared.errors import SigningError
from shared.paradex import stark

RNG_SEED = 20240601


def _affine_mul(k: int, point: stark.Affine) -> stark.Affine | None:
    """Plain double-and-add, independent of the window tables."""
    acc = stark.INFINITY
    addend: stark.Jacobian = (point[0], point[1], 1)
    while k:
        if k & 1:
            acc = stark.jacobian_add(acc, addend)
        addend = stark.jacobian_double(addend)
        k >>= 1
    return stark.to_affine(acc)


def test_constants_match_starknet_py_and_generator_is_on_curve() -> None:
    assert stark.FIELD_PRIME == sn_constants.FIELD_PRIME == 2**251 + 17 * 2**192 + 1
    assert stark.EC_ORDER == sn_constants.EC_ORDER
    assert stark.is_on_curve(stark.GEN_X, stark.GEN_Y)
    assert not stark.is_on_curve(stark.GEN_X, stark.GEN_Y + 1)


def test_generator_has_the_curve_order() -> None:
    g = (stark.GEN_X, stark.GEN_Y)
    assert _affine_mul(stark.EC_ORDER, g) is None
    assert _affine_mul(stark.EC_ORDER - 1, g) == (stark.GEN_X, (-stark.GEN_Y) % stark.FIELD_PRIME)
    assert stark.to_affine(stark.generator_table().multiply(stark.EC_ORDER)) is None


def test_three_is_a_non_residue_so_tonelli_shanks_works() -> None:
    p = stark.FIELD_PRIME
    assert pow(3, (p - 1) // 2, p) == p - 1
    y = stark.y_for_x(stark.GEN_X)
    assert y in (stark.GEN_Y, p - stark.GEN_Y)
    # x = 0 gives y^2 = BETA; whether or not it has a root, the answer must be consistent.
    r = stark.y_for_x(0)
    assert r is None or r * r % p == stark.BETA


def test_table_multiplication_equals_double_and_add_for_edge_and_random_scalars() -> None:
    rng = random.Random(RNG_SEED)
    g = (stark.GEN_X, stark.GEN_Y)
    table = stark.generator_table()
    scalars = [1, 2, 3, 255, 256, 257, 2**8 - 1, 2**251, stark.EC_ORDER - 2,
               *(rng.randrange(1, stark.EC_ORDER) for _ in range(20))]
    for k in scalars:
        assert stark.to_affine(table.multiply(k)) == _affine_mul(k, g), k
    assert stark.to_affine(table.multiply(0)) is None


def test_small_width_table_agrees_with_generator_table() -> None:
    rng = random.Random(RNG_SEED + 1)
    small = stark.FixedBaseTable((stark.GEN_X, stark.GEN_Y), 5)
    for _ in range(10):
        k = rng.randrange(1, stark.EC_ORDER)
        assert stark.to_affine(small.multiply(k)) == stark.to_affine(stark.generator_table().multiply(k))


def test_public_key_equals_crypto_cpp_for_random_keys() -> None:
    rng = random.Random(RNG_SEED + 2)
    keys = [1, 2, stark.EC_ORDER - 1, *(rng.randrange(1, stark.EC_ORDER) for _ in range(30))]
    for key in keys:
        assert stark.private_to_public_key(key) == cpp_get_public_key(key)


@pytest.mark.parametrize("key", [0, -1, stark.EC_ORDER, 2**256])
def test_out_of_range_private_key_is_rejected(key: int) -> None:
    with pytest.raises(SigningError):
        stark.private_to_public_key(key)
    with pytest.raises(SigningError):
        stark.sign(123, key)


def test_signatures_equal_starknet_py_bit_for_bit_and_verify_both_ways() -> None:
    # starknet-py signs in ~100 ms, so 40 signatures here; test_signer adds more on real orders.
    rng = random.Random(RNG_SEED + 3)
    cases = [(rng.randrange(1, stark.EC_ORDER), rng.randrange(0, 2**251)) for _ in range(36)]
    # Hashes whose byte length triggers crypto-cpp-py's nibble padding, and short ones.
    cases += [(rng.randrange(1, stark.EC_ORDER), m) for m in (1, 2**248 + 5, 2**250 + 7, 2**251 - 1)]
    for key, msg in cases:
        ours = stark.sign(msg, key)
        assert ours == tuple(message_signature(msg, key)), (key, msg)
        pub = cpp_get_public_key(key)
        assert verify_message_signature(msg, list(ours), pub)
        assert stark.verify(pub, msg, *ours)


def test_seed_none_matches_crypto_cpp_rfc6979_without_entropy() -> None:
    rng = random.Random(RNG_SEED + 4)
    for _ in range(3):
        key, msg = rng.randrange(1, stark.EC_ORDER), rng.randrange(1, 2**251)
        assert stark.sign(msg, key, seed=None) == tuple(message_signature(msg, key, seed=None))


def test_nonce_matches_python_ecdsa_rfc6979_reference() -> None:
    from crypto_cpp_py.utils import cpp_generate_k_rfc6979

    rng = random.Random(RNG_SEED + 5)
    for seed in (None, 0, 1, 32, 300):
        for _ in range(5):
            key, msg = rng.randrange(1, stark.EC_ORDER), rng.randrange(1, 2**251)
            assert stark.generate_k_rfc6979(msg, key, seed) == cpp_generate_k_rfc6979(msg, key, seed)


def test_tampered_message_or_signature_fails_verification() -> None:
    rng = random.Random(RNG_SEED + 6)
    key = rng.randrange(1, stark.EC_ORDER)
    pub = stark.private_to_public_key(key)
    msg = rng.randrange(0, 2**251)
    r, s = stark.sign(msg, key)
    assert stark.verify(pub, msg, r, s)
    assert not stark.verify(pub, msg ^ 1, r, s)
    assert not stark.verify(pub, msg, r + 1, s)
    assert not stark.verify(pub, msg, r, s + 1)
    assert not stark.verify(stark.private_to_public_key(key + 1), msg, r, s)
    assert not verify_message_signature(msg ^ 1, [r, s], pub)


@pytest.mark.parametrize(
    ("msg", "r", "s"),
    [(2**251, 1, 1), (1, 0, 1), (1, 2**251, 1), (1, 1, 0), (1, 1, stark.EC_ORDER)],
)
def test_out_of_range_signature_values_are_rejected_not_raised(msg: int, r: int, s: int) -> None:
    pub = stark.private_to_public_key(7)
    assert stark.verify(pub, msg, r, s) is False


def test_public_key_not_on_curve_fails_verification() -> None:
    p = stark.FIELD_PRIME
    x = next(x for x in range(1, 100) if stark.y_for_x(x) is None)
    assert stark.verify(x, 5, 1, 1) is False
    assert stark.verify(p + 1, 5, 1, 1) is False


def test_message_hash_at_or_above_2_pow_251_cannot_be_signed() -> None:
    with pytest.raises(SigningError):
        stark.sign(2**251, 5)
