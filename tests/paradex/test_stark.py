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


# ---------------------------------------------------------------- verification tables


def _reference_verify(public_key: int, msg: int, r: int, s: int) -> bool:
    """cairo-lang's rule with plain double-and-add: (A + B).x == r or (A - B).x == r."""
    if not (1 <= s < stark.EC_ORDER and 1 <= r < 2**251 and 0 <= msg < 2**251):
        return False
    w = pow(s, -1, stark.EC_ORDER)
    if not 1 <= w < 2**251:
        return False
    y = stark.y_for_x(public_key)
    if y is None:
        return False
    a = _affine_mul(msg * w % stark.EC_ORDER, (stark.GEN_X, stark.GEN_Y))
    b = _affine_mul(r * w % stark.EC_ORDER, (public_key, y))
    assert b is not None
    for bb in (b, (b[0], -b[1] % stark.FIELD_PRIME)):
        total = stark.to_affine(stark.jacobian_add((*a, 1) if a else stark.INFINITY, (*bb, 1)))
        if total is not None and total[0] == r:
            return True
    return False


@pytest.fixture
def fresh_verify_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Per-key verification state starts empty (and is left empty) for the test."""
    monkeypatch.setattr(stark, "_KEYS", {})
    monkeypatch.setattr(stark, "_HOT", [])


@pytest.mark.parametrize("width", [2, 3, 4, 5, 8, 11])
def test_signed_window_table_equals_double_and_add_including_carry_chains(width: int) -> None:
    rng = random.Random(RNG_SEED + width)
    g = (stark.GEN_X, stark.GEN_Y)
    table = stark.SignedWindowTable(g, width)
    half = 1 << (width - 1)
    every_window_above_half = sum((half + 1) << (width * i) for i in range(252 // width))
    every_window_at_half = sum(half << (width * i) for i in range(252 // width))
    scalars = [1, 2, half - 1, half, half + 1, 2 * half - 1, 2 * half, 2**251, 2**252 - 1,
               stark.EC_ORDER - 1, every_window_above_half, every_window_at_half,
               *(rng.randrange(1, 2**252) for _ in range(6 if width > 3 else 2))]
    for k in scalars:
        assert stark.to_affine(table.multiply(k)) == _affine_mul(k, g), k
    assert stark.to_affine(table.multiply(0)) is None
    assert stark.to_affine(table.multiply(stark.EC_ORDER)) is None
    start = stark.generator_table().multiply(12345)
    k = rng.randrange(1, 2**252)
    assert stark.to_affine(table.accumulate(k, start)) == _affine_mul(k + 12345, g)
    with pytest.raises(SigningError):
        table.multiply(2**252)


@pytest.mark.parametrize("hot_after", [1, 3, 10**9])
def test_verify_agrees_with_the_reference_for_both_key_signs_cold_and_hot(
    hot_after: int, monkeypatch: pytest.MonkeyPatch, fresh_verify_caches: None
) -> None:
    """d and N - d share the public x: signatures of both are valid, alternately, before and after
    the key's wide table (hot_after 1: from the first check; 10**9: never), and tampered ones are not."""
    monkeypatch.setattr(stark, "HOT_KEY_AFTER", hot_after)
    rng = random.Random(RNG_SEED + 7)
    key = rng.randrange(1, stark.EC_ORDER)
    pub = stark.private_to_public_key(key)
    assert stark.private_to_public_key(stark.EC_ORDER - key) == pub
    for i in range(8):
        msg = rng.randrange(0, 2**251)
        signer = key if i % 3 else stark.EC_ORDER - key
        r, s = stark.sign(msg, signer)
        for case in ((msg, r, s), (msg ^ 1, r, s), (msg, r, s + 1), (msg, r + 1, s)):
            assert stark.verify(pub, *case) is _reference_verify(pub, *case), (i, case)
        assert stark.verify(pub, msg, r, s)
    kv = stark._KEYS[pub]
    assert kv is not None
    assert isinstance(kv.table, stark.SignedWindowTable) is (hot_after <= 32)


def test_committed_vectors_verify_with_every_key_hot(
    monkeypatch: pytest.MonkeyPatch, fresh_verify_caches: None
) -> None:
    monkeypatch.setattr(stark, "HOT_KEY_AFTER", 1)
    monkeypatch.setattr(stark, "HOT_KEYS_MAX", 3)  # keys go cold again as others get hot
    for case in vectors()["signatures"]:
        msg, pub, r, s = n(case["msg"]), n(case["public_key"]), n(case["r"]), n(case["s"])
        assert stark.verify(pub, msg, r, s)
        assert not stark.verify(pub, msg ^ 1, r, s)
        assert not stark.verify(pub, msg, r + 1, s)
    assert len(stark._HOT) == 3
    tables = [kv.table for kv in stark._KEYS.values() if kv is not None]
    assert sum(isinstance(t, stark.SignedWindowTable) for t in tables) == 3


def test_verify_forgets_the_oldest_keys_beyond_the_bound(
    monkeypatch: pytest.MonkeyPatch, fresh_verify_caches: None
) -> None:
    monkeypatch.setattr(stark, "_KEYS_MAX", 4)
    rng = random.Random(RNG_SEED + 8)
    keys = [rng.randrange(1, stark.EC_ORDER) for _ in range(6)]
    for key in keys * 2:
        msg = rng.randrange(0, 2**251)
        assert stark.verify(stark.private_to_public_key(key), msg, *stark.sign(msg, key))
    assert len(stark._KEYS) == 4
