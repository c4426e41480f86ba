"""The STARK curve and Starknet ECDSA: pure Python, fast fixed-base tables, no I/O.

Curve ``y^2 = x^3 + ALPHA*x + BETA`` over the field of ``FIELD_PRIME`` with the prime group order
``EC_ORDER``. Constants are cairo-lang's (``starkware/crypto/signature``; the same values are in
the Cairo corelib ``ec::stark_curve`` and starknet-py's ``constants.py``); the tests check that the
generator is on the curve, has order ``EC_ORDER``, and that public keys equal crypto-cpp-py's.

Signing follows cairo-lang's ``sign`` exactly (RFC 6979 nonce with python-ecdsa's byte handling
and starknet-py's default ``seed=32``), so ``(r, s)`` equals ``starknet_py.hash.utils.
message_signature`` bit for bit. Speed comes from precomputed window tables: ``k*G`` is 32
mixed additions and no doublings; verification also caches a smaller table per public key.
"""

from __future__ import annotations

import hmac
from functools import lru_cache

import gmpy2

from shared.errors import SigningError

FIELD_PRIME = 0x800000000000011000000000000000000000000000000000000000000000001
ALPHA = 1
BETA = 0x6F21413EFBE40DE150E596D72F7A8C5609AD26C15C915C1F4CDFCB99CEE9E89
EC_ORDER = 0x800000000000010FFFFFFFFFFFFFFFFB781126DCAE7B2321E66A241ADC64D2F
GEN_X = 0x1EF15C18599971B7BECED415A40F0C7DEACFD9B0D1819E03D723D8BC943CFCA
GEN_Y = 0x5668060AA49730B7BE4801DF46EC62DE53ECD11ABE43A32873000C36E8DC1F
# r, w and the message hash must be below 2**251 (cairo-lang N_ELEMENT_BITS_ECDSA).
ECDSA_BOUND = 2**251
DEFAULT_SEED = 32  # starknet-py's message_signature default; None gives cairo-lang's default.

# Table coordinates and the modulus are gmpy2 integers: with them a 252-bit multiply-and-reduce
# is ~2x faster than with Python ints, and a modular inverse ~25x (measured here).
_P = gmpy2.mpz(FIELD_PRIME)
_N = EC_ORDER
_SCALAR_BITS = 252  # EC_ORDER < 2**252

Affine = tuple[int, int]
Jacobian = tuple[int, int, int]  # Z == 0 is the point at infinity
INFINITY: Jacobian = (1, 1, 0)


def is_on_curve(x: int, y: int) -> bool:
    """Whether the affine point ``(x, y)`` lies on the STARK curve."""
    return bool(0 <= x < _P and 0 <= y < _P and (y * y - (x * x * x + ALPHA * x + BETA)) % _P == 0)


def _invert(a: int, m: int) -> int:
    """``a**-1 mod m`` (``m`` prime, ``a`` not a multiple of it)."""
    return int(gmpy2.invert(a, m))


def _sqrt_mod_p(a: int) -> int | None:
    """A square root of ``a`` modulo FIELD_PRIME (Tonelli-Shanks; p - 1 = 2**192 * q), or None."""
    a %= _P
    if a == 0:
        return 0
    if pow(a, (_P - 1) // 2, _P) != 1:
        return None
    q, s = _P - 1, 0
    while q % 2 == 0:
        q, s = q // 2, s + 1
    z = 3  # 3 is a quadratic non-residue modulo FIELD_PRIME (checked in the tests)
    m, c, t, r = s, pow(z, q, _P), pow(a, q, _P), pow(a, (q + 1) // 2, _P)
    while t != 1:
        i, t2 = 0, t
        while t2 != 1:
            t2, i = t2 * t2 % _P, i + 1
        b = pow(c, 1 << (m - i - 1), _P)
        m, c, t, r = i, b * b % _P, t * b * b % _P, r * b % _P
    return int(r)


def y_for_x(x: int) -> int | None:
    """One ``y`` with ``(x, y)`` on the curve (the other is ``-y``), or None if there is none."""
    return _sqrt_mod_p(x * x * x + ALPHA * x + BETA)


def jacobian_double(p: Jacobian) -> Jacobian:
    """``2*p`` in Jacobian coordinates (generic ``a``; here ``ALPHA == 1``)."""
    x, y, z = p
    if z == 0 or y == 0:
        return INFINITY
    yy = y * y % _P
    s = 4 * x * yy % _P
    zz = z * z % _P
    m = (3 * x * x + ALPHA * zz * zz) % _P
    x3 = (m * m - 2 * s) % _P
    return x3, (m * (s - x3) - 8 * yy * yy) % _P, 2 * y * z % _P


def jacobian_add(p: Jacobian, q: Jacobian) -> Jacobian:
    """``p + q`` in Jacobian coordinates, handling infinity, doubling and ``p == -q``."""
    x1, y1, z1 = p
    x2, y2, z2 = q
    if z1 == 0:
        return q
    if z2 == 0:
        return p
    z1z1, z2z2 = z1 * z1 % _P, z2 * z2 % _P
    u1, u2 = x1 * z2z2 % _P, x2 * z1z1 % _P
    s1, s2 = y1 * z2 * z2z2 % _P, y2 * z1 * z1z1 % _P
    h, r = (u2 - u1) % _P, (s2 - s1) % _P
    if h == 0:
        return jacobian_double(p) if r == 0 else INFINITY
    hh = h * h % _P
    hhh = h * hh % _P
    v = u1 * hh % _P
    x3 = (r * r - hhh - 2 * v) % _P
    return x3, (r * (v - x3) - s1 * hhh) % _P, z1 * z2 * h % _P


def to_affine(p: Jacobian) -> Affine | None:
    """The affine form of ``p``, or None for the point at infinity."""
    x, y, z = p
    if z == 0:
        return None
    zinv = gmpy2.invert(z, _P)
    zinv2 = zinv * zinv % _P
    return int(x * zinv2 % _P), int(y * zinv2 * zinv % _P)


def _batch_to_affine(points: list[Jacobian]) -> list[Affine]:
    """Affine forms of many finite points with one inversion (Montgomery's trick)."""
    prefix = [1] * (len(points) + 1)
    for i, (_, _, z) in enumerate(points):
        prefix[i + 1] = prefix[i] * z % _P
    inv = gmpy2.invert(prefix[-1], _P)
    out: list[Affine] = [(0, 0)] * len(points)
    for i in range(len(points) - 1, -1, -1):
        x, y, z = points[i]
        zinv = inv * prefix[i] % _P
        inv = inv * z % _P
        zinv2 = zinv * zinv % _P
        out[i] = (gmpy2.mpz(x * zinv2 % _P), gmpy2.mpz(y * zinv2 * zinv % _P))
    return out


class FixedBaseTable:
    """Multiples ``j * 2**(width*i) * P`` of one point, so ``k*P`` needs only additions.

    With ``width=8`` (the generator) a 252-bit scalar costs 32 mixed additions; ``width=5`` (public
    keys in :func:`verify`) costs 51 and builds ~6x faster.
    """

    __slots__ = ("_bits", "_rows", "_width")

    def __init__(self, point: Affine, width: int, bits: int = _SCALAR_BITS) -> None:
        if not is_on_curve(*point):
            raise SigningError("point is not on the STARK curve")
        self._width = width
        self._bits = bits
        windows = -(-bits // width)
        size = 1 << width
        flat: list[Jacobian] = []
        base = point
        for _ in range(windows):
            bj: Jacobian = (base[0], base[1], 1)
            acc = bj
            flat.append(acc)
            for _ in range(2, size):
                acc = jacobian_add(acc, bj)
                flat.append(acc)
            nxt = to_affine(jacobian_add(acc, bj))
            if nxt is None:  # cannot happen for a point of prime order > 2**252
                raise SigningError("degenerate base point")
            base = nxt
        affine = _batch_to_affine(flat)
        step = size - 1
        # Row entry 0 is a placeholder for the zero digit, which is skipped.
        self._rows = [[(0, 0), *affine[i * step:(i + 1) * step]] for i in range(windows)]

    def multiply(self, k: int) -> Jacobian:
        """``k * P`` in Jacobian coordinates for ``0 <= k < 2**bits`` (252 by default)."""
        return self.accumulate(k, INFINITY)

    def accumulate(self, k: int, start: Jacobian) -> Jacobian:
        """``start + k * P`` in Jacobian coordinates (``0 <= k < 2**bits``): one loop, no extra addition."""
        if not 0 <= k < 1 << self._bits:
            raise SigningError("scalar out of range")
        p = _P
        mask = (1 << self._width) - 1
        width = self._width
        x1, y1, z1 = start
        for row in self._rows:
            if not k:
                break
            d = k & mask
            k >>= width
            if not d:
                continue
            x2, y2 = row[d]
            if z1 == 0:
                x1, y1, z1 = x2, y2, 1
                continue
            # Mixed addition (madd-2007-bl without the 2x scaling), inlined for speed.
            z1z1 = z1 * z1 % p
            h = (x2 * z1z1 - x1) % p
            r = (y2 * z1 * z1z1 - y1) % p
            if h == 0:
                if r == 0:
                    x1, y1, z1 = jacobian_double((x1, y1, z1))
                else:
                    x1, y1, z1 = INFINITY
                continue
            hh = h * h % p
            hhh = h * hh % p
            v = x1 * hh % p
            x3 = (r * r - hhh - 2 * v) % p
            y1 = (r * (v - x3) - y1 * hhh) % p
            x1 = x3
            z1 = z1 * h % p
        return x1, y1, z1


_G_TABLE: FixedBaseTable | None = None


def generator_table() -> FixedBaseTable:
    """The generator's width-8 table (8160 points), built on first use (~40-70 ms) and kept."""
    global _G_TABLE
    if _G_TABLE is None:
        _G_TABLE = FixedBaseTable((GEN_X, GEN_Y), 8)
    return _G_TABLE


def private_to_public_key(private_key: int) -> int:
    """The Stark public key (x coordinate of ``private_key * G``)."""
    if not 1 <= private_key < _N:
        raise SigningError("private key out of range (must be 1 <= key < EC_ORDER)")
    point = to_affine(generator_table().multiply(private_key))
    assert point is not None  # a nonzero scalar below the prime order
    return point[0]


def generate_k_rfc6979(msg_hash: int, private_key: int, seed: int | None = None) -> int:
    """The deterministic nonce of crypto-cpp-py / cairo-lang (RFC 6979, SHA-256).

    Equivalent to ``ecdsa.rfc6979.generate_k`` on the padded hash bytes crypto-cpp-py builds: for
    every hash below 2**251 that padding round-trips to the hash itself, so the message input is
    simply its 32-byte big-endian form (reduced modulo the order, as RFC 6979 bits2octets says).
    """
    extra = b"" if seed is None else seed.to_bytes((seed.bit_length() + 7) // 8, "big")
    z = msg_hash - _N if msg_hash >= _N else msg_hash
    material = private_key.to_bytes(32, "big") + z.to_bytes(32, "big") + extra
    v = b"\x01" * 32
    key = hmac.digest(b"\x00" * 32, v + b"\x00" + material, "sha256")
    v = hmac.digest(key, v, "sha256")
    key = hmac.digest(key, v + b"\x01" + material, "sha256")
    v = hmac.digest(key, v, "sha256")
    while True:
        v = hmac.digest(key, v, "sha256")
        k = int.from_bytes(v, "big") >> 4  # bits2int: keep the top 252 bits
        if 1 <= k < _N:
            return k
        key = hmac.digest(key, v + b"\x00", "sha256")
        v = hmac.digest(key, v, "sha256")


def sign(msg_hash: int, private_key: int, seed: int | None = DEFAULT_SEED) -> tuple[int, int]:
    """Starknet ECDSA signature ``(r, s)`` of ``msg_hash`` (cairo-lang ``sign``)."""
    if not 0 <= msg_hash < ECDSA_BOUND:
        raise SigningError("message hash out of range (must be below 2**251)")
    if not 1 <= private_key < _N:
        raise SigningError("private key out of range (must be 1 <= key < EC_ORDER)")
    table = generator_table()
    while True:
        k = generate_k_rfc6979(msg_hash, private_key, seed)
        seed = 1 if seed is None else seed + 1  # next try, should this k be unusable
        point = to_affine(table.multiply(k))
        assert point is not None
        r = point[0]
        if not 1 <= r < ECDSA_BOUND:
            continue
        t = (msg_hash + r * private_key) % _N
        if t == 0:
            continue
        w = k * _invert(t, _N) % _N
        if not 1 <= w < ECDSA_BOUND:
            continue
        return r, _invert(w, _N)


@lru_cache(maxsize=64)
def _public_key_table(public_key: int) -> FixedBaseTable | None:
    y = y_for_x(public_key) if 0 <= public_key < _P else None
    if y is None:
        return None
    return FixedBaseTable((public_key, y), 5)


def verify(public_key: int, msg_hash: int, r: int, s: int) -> bool:
    """Whether ``(r, s)`` is a valid signature of ``msg_hash`` by ``public_key`` (cairo-lang rules).

    The key is an x coordinate only, so both ``y`` are accepted, as cairo-lang does: with
    ``A = z*w*G`` and ``B = r*w*Q`` the check is ``(A + B).x == r`` or ``(A - B).x == r``.
    The first check of a key builds and caches its table (~30 ms); later checks are fast.
    """
    if not (1 <= s < _N and 1 <= r < ECDSA_BOUND and 0 <= msg_hash < ECDSA_BOUND):
        return False
    w = _invert(s, _N)
    if not 1 <= w < ECDSA_BOUND:
        return False
    key_table = _public_key_table(public_key)
    if key_table is None:
        return False
    a = generator_table().multiply(msg_hash * w % _N)
    b = key_table.multiply(r * w % _N)
    for total in (jacobian_add(a, b), jacobian_add(a, (b[0], -b[1] % _P, b[2]))):
        x, _, z = total
        if z != 0 and (x - r * z * z) % _P == 0:  # affine x == r without an inversion
            return True
    return False
