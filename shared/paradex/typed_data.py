"""Starknet off-chain message hashing, revision 0 (Pedersen, every field a ``felt``).

``hash = H("StarkNet Message", H_struct(StarkNetDomain, domain), account, H_struct(T, message))``
where ``H`` is the Pedersen chain ``h(h(h(0, x0), x1)..., n)`` and a struct hash is ``H`` of the
type hash followed by the encoded fields. This mirrors ``starknet_py.utils.typed_data.TypedData``
for revision 0 with only ``felt`` fields, which is all Paradex signs.

For speed, :class:`StructType` caches its type hash and the first chain step ``h(0, type_hash)``,
and :class:`MessagePrefix` caches ``h(h(h(0, "StarkNet Message"), domain_hash), account)``: per
message only the varying fields are hashed (``len(fields) + 3`` Pedersen calls in total).
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.errors import SigningError
from shared.paradex import pedersen

FIELD_PRIME = 0x800000000000011000000000000000000000000000000000000000000000001
_MASK_250 = 2**250 - 1


def pedersen_hash(a: int, b: int) -> int:
    """Starknet's Pedersen hash of two field elements (the active :mod:`~shared.paradex.pedersen` backend)."""
    return pedersen.hash(a, b)


# --- Keccak-256 (Ethereum padding, not SHA3) for type hashes; runs once per type. ---

_RC = [
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
    0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
    0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
]
_ROT = [[0, 36, 3, 41, 18], [1, 44, 10, 45, 2], [62, 6, 43, 15, 61], [28, 55, 25, 21, 56],
        [27, 20, 39, 8, 14]]
_M64 = 2**64 - 1


def _rol(v: int, n: int) -> int:
    return ((v << n) | (v >> (64 - n))) & _M64 if n else v


def _keccak_f(a: list[list[int]]) -> None:
    for rc in _RC:
        c = [a[x][0] ^ a[x][1] ^ a[x][2] ^ a[x][3] ^ a[x][4] for x in range(5)]
        d = [c[(x - 1) % 5] ^ _rol(c[(x + 1) % 5], 1) for x in range(5)]
        for x in range(5):
            for y in range(5):
                a[x][y] ^= d[x]
        b = [[0] * 5 for _ in range(5)]
        for x in range(5):
            for y in range(5):
                b[y][(2 * x + 3 * y) % 5] = _rol(a[x][y], _ROT[x][y])
        for x in range(5):
            for y in range(5):
                a[x][y] = b[x][y] ^ (~b[(x + 1) % 5][y] & b[(x + 2) % 5][y])
        a[0][0] ^= rc


def keccak256(data: bytes) -> bytes:
    """Keccak-256 as Ethereum and Starknet use it (pad10*1 with 0x01, rate 136 bytes)."""
    rate = 136
    padded = bytearray(data) + b"\x01" + b"\x00" * ((-len(data) - 1) % rate)
    padded[-1] |= 0x80
    state = [[0] * 5 for _ in range(5)]
    for off in range(0, len(padded), rate):
        block = padded[off:off + rate]
        for i in range(rate // 8):
            state[i % 5][i // 5] ^= int.from_bytes(block[8 * i:8 * i + 8], "little")
        _keccak_f(state)
    return b"".join(state[i % 5][i // 5].to_bytes(8, "little") for i in range(4))


def starknet_keccak(data: bytes) -> int:
    """Keccak-256 truncated to 250 bits (Starknet selectors and type hashes)."""
    return int.from_bytes(keccak256(data), "big") & _MASK_250


# --- Field element encoding ---


def encode_short_string(text: str) -> int:
    """A Cairo short string (<= 31 ASCII characters, first character most significant) as a felt."""
    if len(text) > 31:
        raise SigningError(f"short string longer than 31 characters: {text!r}")
    if not text.isascii():
        raise SigningError(f"short string is not ASCII: {text!r}")
    return int.from_bytes(text.encode("ascii"), "big")


def parse_felt(value: int | str) -> int:
    """Encode a ``felt`` field like starknet-py revision 0: int as is, ``0x`` hex, decimal digits,
    otherwise a short string. The result must be a field element."""
    if isinstance(value, int):
        felt = value
    elif value.startswith("0x"):
        try:
            felt = int(value, 16)
        except ValueError as exc:
            raise SigningError(f"malformed hex felt {value!r}") from exc
    elif value.isascii() and value.isdigit():
        felt = int(value)
    else:
        felt = encode_short_string(value)
    if not 0 <= felt < FIELD_PRIME:
        raise SigningError(f"value is not a field element: {value!r}")
    return felt


def hash_on_elements(values: Sequence[int]) -> int:
    """Pedersen chain ``h(h(h(0, v0), v1)..., len(values))`` (starknet ``compute_hash_on_elements``)."""
    h = pedersen.hash
    acc = 0
    for v in values:
        acc = h(acc, v)
    return h(acc, len(values))


class StructType:
    """A revision-0 struct type whose fields are all ``felt``, e.g. ``Order(timestamp:felt,...)``."""

    __slots__ = ("_first", "fields", "name", "type_hash")

    def __init__(self, name: str, fields: Sequence[str]) -> None:
        self.name = name
        self.fields = tuple(fields)
        encoded = f"{name}({','.join(f'{f}:felt' for f in self.fields)})"
        self.type_hash = starknet_keccak(encoded.encode("ascii"))
        self._first = pedersen.hash(0, self.type_hash)

    def hash(self, values: Sequence[int]) -> int:
        """Struct hash of already-encoded field values, in field order."""
        if len(values) != len(self.fields):
            raise SigningError(f"{self.name} needs {len(self.fields)} fields, got {len(values)}")
        h = pedersen.hash
        acc = pedersen.hash_fixed(self._first, values[0]) if values else self._first
        for v in values[1:]:
            acc = h(acc, v)
        return h(acc, len(values) + 1)

    def hash_dict(self, message: dict[str, int | str]) -> int:
        """Struct hash of a message given as ``{field: value}`` (values encoded by :func:`parse_felt`)."""
        try:
            return self.hash([parse_felt(message[f]) for f in self.fields])
        except KeyError as exc:
            raise SigningError(f"{self.name} message lacks field {exc.args[0]!r}") from exc


DOMAIN_TYPE = StructType("StarkNetDomain", ("name", "chainId", "version"))
_STARKNET_MESSAGE = encode_short_string("StarkNet Message")


def domain_hash(name: str, chain_id: str | int, version: str | int) -> int:
    """Struct hash of a ``StarkNetDomain`` (fields in the order name, chainId, version)."""
    return DOMAIN_TYPE.hash([parse_felt(name), parse_felt(chain_id), parse_felt(version)])


class MessagePrefix:
    """The account- and domain-dependent part of the message hash chain, computed once."""

    __slots__ = ("_prefix", "account", "domain_hash")

    def __init__(self, domain_hash: int, account: int) -> None:
        if not 0 <= account < FIELD_PRIME:
            raise SigningError("account address is not a field element")
        self.domain_hash = domain_hash
        self.account = account
        acc = pedersen.hash(0, _STARKNET_MESSAGE)
        acc = pedersen.hash(acc, domain_hash)
        self._prefix = pedersen.hash(acc, account)

    def message_hash(self, struct_hash: int) -> int:
        """The final message hash for a struct hash (two Pedersen calls)."""
        return pedersen.hash(pedersen.hash_fixed(self._prefix, struct_hash), 4)
