"""STARK curve arithmetic and ECDSA, cross-checked against committed crypto-cpp-py / starknet-py values."""

from __future__ import annotations

import random

import pytest

from shared.errors import SigningError
from shared.paradex import stark
from tests.paradex.reference import n, vectors

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
    assert stark.FIELD_PRIME == n(vectors()["field_prime"]) == 2**251 + 17 * 2**192 + 1
    assert stark.EC_ORDER == n(vectors()["ec_order"])
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
    cases = vectors()["public_keys"]
    assert len(cases) == 33
    for key, pub in cases:
        assert stark.private_to_public_key(n(key)) == n(pub)


@pytest.mark.parametrize("key", [0, -1, stark.EC_ORDER, 2**256])
def test_out_of_range_private_key_is_rejected(key: int) -> None:
    with pytest.raises(SigningError):
        stark.private_to_public_key(key)
    with pytest.raises(SigningError):
        stark.sign(123, key)


def test_signatures_equal_starknet_py_bit_for_bit_and_verify_both_ways() -> None:
    # 40 committed starknet-py signatures, some with hashes whose byte length triggers
    # crypto-cpp-py's nibble padding, and short ones.
    cases = vectors()["signatures"]
    assert len(cases) == 40
    for case in cases:
        key, msg, pub = n(case["key"]), n(case["msg"]), n(case["public_key"])
        ours = stark.sign(msg, key)
        assert ours == (n(case["r"]), n(case["s"])), case
        assert stark.private_to_public_key(key) == pub
        assert stark.verify(pub, msg, *ours)
        # the reference rejected these tamperings; so must we
        assert stark.verify(pub, msg ^ 1, *ours) is case["tampered_msg_verifies"] is False
        assert stark.verify(pub, msg, ours[0] + 1, ours[1]) is case["tampered_r_verifies"] is False


def test_seed_none_matches_crypto_cpp_rfc6979_without_entropy() -> None:
    cases = vectors()["signatures_seed_none"]
    assert len(cases) == 3
    for case in cases:
        assert stark.sign(n(case["msg"]), n(case["key"]), seed=None) == (n(case["r"]), n(case["s"]))


def test_nonce_matches_python_ecdsa_rfc6979_reference() -> None:
    cases = vectors()["rfc6979"]
    assert {c["seed"] for c in cases} == {None, 0, 1, 32, 300}
    for case in cases:
        assert stark.generate_k_rfc6979(n(case["msg"]), n(case["key"]), case["seed"]) == n(case["k"])


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
