"""The STARK curve and Starknet ECDSA: pure Python, fast fixed-base tables, no I/O.

Curve ``y^2 = x^3 + ALPHA*x + BETA`` over the field of ``FIELD_PRIME`` with the prime group order
``EC_ORDER``. Constants are cairo-lang's (``starkware/crypto/signature``; the same values are in
the Cairo corelib ``ec::stark_curve`` and starknet-py's ``constants.py``); the tests check that the
generator is on the curve, has order ``EC_ORDER``, and that public keys equal crypto-cpp-py's.

Signing follows cairo-lang's ``sign`` exactly (RFC 6979 nonce with python-ecdsa's byte handling
and starknet-py's default ``seed=32``), so ``(r, s)`` equals ``starknet_py.hash.utils.
message_signature`` bit for bit. Speed comes from precomputed window tables: ``k*G`` is 32
mixed additions and no doublings. Verification has its own signed-digit tables
(:class:`SignedWindowTable`): ``u1*G`` in 23 additions, and per public key a small table for its
first checks, then a wide one (23 additions) for a key checked often; the result is the same
predicate as cairo-lang's, only computed with fewer additions.
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


class _WindowTable:
    """Rows of precomputed multiples of one point, indexed by window value (entry 0 unused):
    ``k*P`` is one mixed addition per nonzero window. The subclasses build the rows."""

    __slots__ = ("_bits", "_half", "_rows", "_width")

    _bits: int
    _half: int
    _rows: list[list[Affine]]
    _width: int

    def multiply(self, k: int) -> Jacobian:
        """``k * P`` in Jacobian coordinates for ``0 <= k < 2**bits`` (252 by default)."""
        return self.accumulate(k, INFINITY)

    def accumulate(self, k: int, start: Jacobian) -> Jacobian:
        """``start + k * P`` in Jacobian coordinates (``0 <= k < 2**bits``): one loop, no extra
        addition. A window value above ``_half`` is the negative digit ``d - 2**width`` (its row
        entry holds that point), with a carry into the next window; unsigned tables set ``_half``
        to the largest window value, so they never carry."""
        if not 0 <= k < 1 << self._bits:
            raise SigningError("scalar out of range")
        p = _P
        width = self._width
        mask = (1 << width) - 1
        half = self._half
        x1, y1, z1 = start
        for row in self._rows:
            if not k:
                break
            d = k & mask
            k >>= width
            if d > half:
                k += 1  # the digit is d - 2**width: borrow it from the next window
            elif not d:
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


class FixedBaseTable(_WindowTable):
    """Multiples ``j * 2**(width*i) * P`` of one point, so ``k*P`` needs only additions.

    With ``width=8`` (the generator) a 252-bit scalar costs 32 mixed additions; ``width=5`` (public
    keys in :func:`verify`) costs 51 and builds ~6x faster.
    """

    __slots__ = ()

    def __init__(self, point: Affine, width: int, bits: int = _SCALAR_BITS) -> None:
        if not is_on_curve(*point):
            raise SigningError("point is not on the STARK curve")
        self._width = width
        self._bits = bits
        self._half = (1 << width) - 1  # unsigned digits: no window value is above it
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


def _affine_multiples(bases: list[Affine], count: int) -> list[list[Affine]]:
    """``[1*B, 2*B, ..., count*B]`` for every base ``B`` (``count`` a power of two, each ``B`` of
    prime order above ``2*count``), in affine coordinates (gmpy2 integers).

    Built by doubling the list: ``(m+i)*B = i*B + m*B`` for ``i = 1..m`` (``i = m`` a doubling), with
    one inversion per round for every base at once (Montgomery's trick): ~3x fewer multiplications
    than Jacobian additions followed by one conversion to affine.
    """
    p = _P
    rows: list[list[Affine]] = [[(gmpy2.mpz(b[0]), gmpy2.mpz(b[1]))] for b in bases]
    m = 1
    while m < count:
        # Numerator and denominator of each slope: (y2 - y1) / (x2 - x1), or (3x^2 + a) / 2y.
        nums: list[int] = []
        dens: list[int] = []
        for row in rows:
            x2, y2 = row[m - 1]
            for i in range(m - 1):
                x1, y1 = row[i]
                nums.append(y2 - y1)
                dens.append(x2 - x1)
            nums.append(3 * x2 * x2 + ALPHA)
            dens.append(2 * y2)
        prefix = [gmpy2.mpz(1)] * (len(dens) + 1)
        for j, d in enumerate(dens):
            prefix[j + 1] = prefix[j] * d % p
        inv = gmpy2.invert(prefix[-1], p)
        slopes: list[int] = [0] * len(dens)
        for j in range(len(dens) - 1, -1, -1):
            slopes[j] = nums[j] * (inv * prefix[j] % p) % p
            inv = inv * dens[j] % p
        j = 0
        for row in rows:
            x2, y2 = row[m - 1]
            for i in range(m):
                x1, y1 = row[i]
                lam = slopes[j]
                j += 1
                x3 = (lam * lam - x1 - x2) % p
                row.append((x3, (lam * (x1 - x3) - y1) % p))
        m *= 2
    return rows


class SignedWindowTable(_WindowTable):
    """Multiples ``j * 2**(width*i) * P`` for signed digits ``-2**(width-1) < j <= 2**(width-1)``.

    A scalar is recoded into such digits (a digit above ``2**(width-1)`` becomes ``digit - 2**width``
    with a carry into the next window), so ``k*P`` costs one mixed addition per nonzero digit, as
    with :class:`FixedBaseTable`, but a negative digit reuses its positive point with ``-y``: only
    ``2**(width-1)`` points a row are computed, so a wider window (fewer additions) costs the build
    time and memory of a one-bit-narrower unsigned table. Used by :func:`verify` only (``k*G`` and
    the per-key tables of hot keys); signing keeps :class:`FixedBaseTable`.
    """

    __slots__ = ()

    def __init__(self, point: Affine, width: int, bits: int = _SCALAR_BITS) -> None:
        if not is_on_curve(*point):
            raise SigningError("point is not on the STARK curve")
        if width < 2:
            raise ValueError("width must be at least 2")
        self._width = width
        self._bits = bits
        # bits // width + 1 rows: the last digit is at most 2**(bits % width) <= half, no carry out.
        windows = bits // width + 1
        half = 1 << (width - 1)
        self._half = half
        # Row bases 2**(width*i) * P, then all rows' multiples 1..half at once, in affine form.
        bases: list[Affine] = [point]
        for _ in range(windows - 1):
            acc: Jacobian = (bases[-1][0], bases[-1][1], 1)
            for _ in range(width):
                acc = jacobian_double(acc)
            nxt = to_affine(acc)
            if nxt is None:  # cannot happen for a point of prime order > 2**252
                raise SigningError("degenerate base point")
            bases.append(nxt)
        self._rows = []
        for pos in _affine_multiples(bases, half):  # digits 1..half of each row
            # Entry d (the raw window value) for d > half is the digit d - 2**width: -(2**width - d) * base.
            neg = [(x, _P - y) for x, y in reversed(pos[:half - 1])]  # d = half+1 .. 2**width-1
            self._rows.append([(0, 0), *pos, *neg])


#: Verification tables: ``k*G`` in 23 additions (width 11: 23 rows of 1024 computed points,
#: ~0.2 s to build once, ~10 MB); a key's first checks use a width-5 table (~30 ms), and a key
#: checked HOT_KEY_AFTER times gets a width-11 table too (23 additions instead of 51).
VERIFY_G_WIDTH = 11
HOT_KEY_WIDTH = 11
HOT_KEY_AFTER = 16
HOT_KEYS_MAX = 8
_VERIFY_G: SignedWindowTable | None = None


def verify_generator_table() -> SignedWindowTable:
    """The generator's signed width-11 table for :func:`verify`, built on first use and kept."""
    global _VERIFY_G
    if _VERIFY_G is None:
        _VERIFY_G = SignedWindowTable((GEN_X, GEN_Y), VERIFY_G_WIDTH)
    return _VERIFY_G


class _KeyVerifier:
    """What :func:`verify` keeps per public key: its table, how often it was used, and which sign
    of ``y`` the last valid signature matched (tried first: both are always tried before a no)."""

    __slots__ = ("negate_first", "table", "uses")

    def __init__(self, table: FixedBaseTable | SignedWindowTable) -> None:
        self.table = table
        self.uses = 0
        self.negate_first = False


_KEYS: dict[int, _KeyVerifier | None] = {}
_KEYS_MAX = 64
_HOT: list[int] = []  # keys holding a wide table, oldest first


def _key_verifier(public_key: int) -> _KeyVerifier | None:
    if public_key in _KEYS:
        kv = _KEYS[public_key]
    else:
        table = _public_key_table(public_key)
        if len(_KEYS) >= _KEYS_MAX:  # forget the oldest key (its wide table with it)
            oldest = next(iter(_KEYS))
            del _KEYS[oldest]
            if oldest in _HOT:
                _HOT.remove(oldest)
        kv = _KEYS[public_key] = None if table is None else _KeyVerifier(table)
    if kv is None:
        return None
    kv.uses += 1
    if kv.uses == HOT_KEY_AFTER:
        y = y_for_x(public_key)
        assert y is not None  # its small table exists, so the key is on the curve
        kv.table = SignedWindowTable((public_key, y), HOT_KEY_WIDTH)
        _HOT.append(public_key)
        if len(_HOT) > HOT_KEYS_MAX:  # the oldest hot key goes back to its small table
            cold_key = _HOT.pop(0)
            cold = _KEYS.get(cold_key)
            small = _public_key_table(cold_key)
            if cold is not None and small is not None:
                cold.table, cold.uses = small, 0
    return kv


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
    ``A +- B`` is one pass over the generator's table starting from ``+-B``; the sign that matched
    the key's last valid signature is tried first, and a no always tried both. The first check
    of a key builds and caches a small table (~30 ms); a key checked often gets a wide one.
    """
    if not (1 <= s < _N and 1 <= r < ECDSA_BOUND and 0 <= msg_hash < ECDSA_BOUND):
        return False
    w = _invert(s, _N)
    if not 1 <= w < ECDSA_BOUND:
        return False
    kv = _key_verifier(public_key)
    if kv is None:
        return False
    g_table = verify_generator_table()
    u1 = msg_hash * w % _N
    bx, by, bz = kv.table.multiply(r * w % _N)
    plain, negated = (bx, by, bz), (bx, -by % _P, bz)
    for start in (negated, plain) if kv.negate_first else (plain, negated):
        x, _, z = g_table.accumulate(u1, start)
        if z != 0 and (x - r * z * z) % _P == 0:  # affine x == r without an inversion
            kv.negate_first = start is negated
            return True
    return False
