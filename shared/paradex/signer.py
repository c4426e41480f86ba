"""Paradex order/auth signing: the public signer API and L2 key loading (pure, no I/O but key files).

Typed data (PROTOCOL.md 4.2): domain ``{name: "Paradex", chainId: <starknet_chain_id>, version:
"1"}``; primary types ``Order(timestamp, market, side, orderType, size, price)``, ``ModifyOrder``
(the same six plus ``id``), ``Request(method, path, body, timestamp, expiration)`` for ``POST
/auth`` and ``Constant(action)`` for onboarding. Sizes and prices are scaled by 10**8 exactly
(strings, Decimals or ints; never floats). A signature is serialised as ``["<r>","<s>"]``.

Example::

    signer = OrderSigner(load_private_key(settings.l2_private_key, None), account, chain_id)
    sig = signer.sign_order("BTC-USD-PERP", "BUY", "LIMIT", "0.01", "30000.5", 1700000000000)
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path

from shared.errors import ConfigError, SigningError
from shared.log import register_secret
from shared.paradex import stark
from shared.paradex.typed_data import FIELD_PRIME, MessagePrefix, StructType, domain_hash, parse_felt
from shared.settings import Secret

__all__ = [
    "CONSTANT_TYPE", "MODIFY_ORDER_TYPE", "ORDER_TYPE", "REQUEST_TYPE", "OrderSigner", "auth_hash",
    "format_signature", "load_private_key", "modify_order_hash", "onboarding_hash", "order_hash",
    "parse_signature", "scale_e8", "verify", "verify_signature",
]

ORDER_FIELDS = ("timestamp", "market", "side", "orderType", "size", "price")
ORDER_TYPE = StructType("Order", ORDER_FIELDS)
MODIFY_ORDER_TYPE = StructType("ModifyOrder", (*ORDER_FIELDS, "id"))
REQUEST_TYPE = StructType("Request", ("method", "path", "body", "timestamp", "expiration"))
CONSTANT_TYPE = StructType("Constant", ("action",))

AUTH_METHOD, AUTH_PATH = "POST", "/v1/auth"
_SIDES = {"BUY": 1, "SELL": 2}
_E8 = 10**8

verify = stark.verify


def scale_e8(value: Decimal | str | int, what: str = "value") -> int:
    """``value * 10**8`` as an exact non-negative integer; SigningError if inexact or negative."""
    if isinstance(value, bool | float):
        raise SigningError(f"{what} must be a Decimal, str or int, not {type(value).__name__}")
    if isinstance(value, int):
        scaled = value * _E8
    else:
        try:
            dec = value if isinstance(value, Decimal) else Decimal(value.strip())
        except (InvalidOperation, AttributeError) as exc:
            raise SigningError(f"{what} is not a decimal number: {value!r}") from exc
        if not dec.is_finite():
            raise SigningError(f"{what} is not finite: {value!r}")
        sign, digits, exponent = dec.as_tuple()
        assert isinstance(exponent, int)
        coefficient = int("".join(map(str, digits))) if digits else 0
        if sign and coefficient:
            raise SigningError(f"{what} is negative: {value!r}")
        shift = exponent + 8
        if shift >= 0:
            scaled = coefficient * 10**shift
        else:
            unit = 10**-shift
            if coefficient % unit:
                raise SigningError(f"{what} has more than 8 decimals: {value!r}")
            scaled = coefficient // unit
    if not 0 <= scaled < FIELD_PRIME:
        raise SigningError(f"{what} is negative or too large: {value!r}")
    return scaled


@lru_cache(maxsize=1024)
def _short(text: str) -> int:
    return parse_felt(text)


def _timestamp(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SigningError(f"{what} must be a non-negative int, got {value!r}")
    return value


def _order_values(market: str, side: str, order_type: str, size: Decimal | str | int,
                  price: Decimal | str | int | None, timestamp_ms: int) -> list[int]:
    try:
        side_felt = _SIDES[side]
    except KeyError:
        raise SigningError(f"side must be BUY or SELL, got {side!r}") from None
    # PROTOCOL 4.2: the signed price is 0 for MARKET orders whatever the body carries.
    scaled_price = 0 if order_type == "MARKET" or price is None else scale_e8(price, "price")
    return [_timestamp(timestamp_ms, "timestamp_ms"), _short(market), side_felt, _short(order_type),
            scale_e8(size, "size"), scaled_price]


def _account_felt(account: str | int) -> int:
    try:
        value = account if isinstance(account, int) else int(account, 16)
    except ValueError as exc:
        raise SigningError(f"account address is not hex: {account!r}") from exc
    if not 0 < value < FIELD_PRIME:
        raise SigningError(f"account address out of range: {account!r}")
    return value


@lru_cache(maxsize=64)
def _prefix(chain_id: str, account: str | int) -> MessagePrefix:
    return MessagePrefix(domain_hash("Paradex", chain_id, "1"), _account_felt(account))


def order_hash(chain_id: str, account: str | int, market: str, side: str, order_type: str,
               size: Decimal | str | int, price: Decimal | str | int | None, timestamp_ms: int) -> int:
    """Typed-data hash of an ``Order`` (what the venue verifies for ``POST /orders``)."""
    values = _order_values(market, side, order_type, size, price, timestamp_ms)
    return _prefix(chain_id, account).message_hash(ORDER_TYPE.hash(values))


def modify_order_hash(chain_id: str, account: str | int, order_id: str | int, market: str, side: str,
                      order_type: str, size: Decimal | str | int, price: Decimal | str | int | None,
                      timestamp_ms: int) -> int:
    """Typed-data hash of a ``ModifyOrder`` (the six order fields plus the exchange order ``id``)."""
    values = _order_values(market, side, order_type, size, price, timestamp_ms)
    values.append(parse_felt(order_id))
    return _prefix(chain_id, account).message_hash(MODIFY_ORDER_TYPE.hash(values))


def auth_hash(chain_id: str, account: str | int, timestamp_s: int, expiration_s: int) -> int:
    """Typed-data hash of the ``Request`` signed for ``POST /auth`` (method POST, path /v1/auth)."""
    values = [_short(AUTH_METHOD), _short(AUTH_PATH), 0,  # body "" encodes to 0
              _timestamp(timestamp_s, "timestamp_s"), _timestamp(expiration_s, "expiration_s")]
    return _prefix(chain_id, account).message_hash(REQUEST_TYPE.hash(values))


def onboarding_hash(chain_id: str, account: str | int) -> int:
    """Typed-data hash of ``Constant{action: "Onboarding"}`` for ``POST /onboarding``."""
    return _prefix(chain_id, account).message_hash(CONSTANT_TYPE.hash([_short("Onboarding")]))


def format_signature(r: int, s: int) -> str:
    """The wire form ``["<r decimal>","<s decimal>"]``."""
    return f'["{r}","{s}"]'


def parse_signature(text: str) -> tuple[int, int]:
    """``(r, s)`` from ``["r","s"]`` with decimal or ``0x`` hex items; SigningError if malformed."""
    try:
        items = json.loads(text)
        if not isinstance(items, list) or len(items) != 2 or not all(isinstance(i, str) for i in items):
            raise ValueError("expected a JSON array of two strings")
        r, s = (int(i, 16) if i.lower().startswith("0x") else int(i, 10) for i in items)
    except ValueError as exc:
        raise SigningError(f"malformed signature: {exc}") from exc
    return r, s


def verify_signature(public_key: int, msg_hash: int, signature: str) -> bool:
    """Whether the wire-form ``signature`` of ``msg_hash`` is valid for ``public_key``."""
    try:
        r, s = parse_signature(signature)
    except SigningError:
        return False
    return stark.verify(public_key, msg_hash, r, s)


def load_private_key(value: str | None, file: str | Path | None, *,
                     variable: str = "PARADEX_L2_PRIVATE_KEY") -> int:
    """The L2 private key from a setting value (hex ``0x..`` or decimal) or a file holding one.

    Every textual form of the key is registered with the log redactor. Errors name ``variable``
    and never contain the key.
    """
    if value is None and file is None:
        raise ConfigError(variable, "no L2 private key given (set it or its _FILE variant)")
    source = f"{variable}_FILE" if value is None else variable
    if value is None:
        assert file is not None
        try:
            value = Path(file).read_text().strip()
        except OSError as exc:
            raise ConfigError(source, f"cannot read key file {file}: {exc.strerror}") from exc
    # str(Secret) is "***": read the real value explicitly.
    raw = (value.reveal() if isinstance(value, Secret) else value).strip()
    register_secret(raw)
    try:
        key = int(raw, 16) if raw.lower().startswith("0x") else int(raw, 10)
    except ValueError:
        raise ConfigError(source, "L2 private key is neither 0x-hex nor decimal") from None
    if not 1 <= key < stark.EC_ORDER:
        raise ConfigError(source, "L2 private key out of range (1 <= key < STARK curve order)")
    _register_key_forms(key)
    return key


def _register_key_forms(key: int) -> None:
    for form in (hex(key), hex(key)[2:], f"{key:064x}", str(key)):
        register_secret(form)


class OrderSigner:
    """Signs Paradex orders, modifications and auth requests for one account and chain.

    ``private_key`` is an int, a :class:`~shared.settings.Secret` or a string (hex or decimal);
    it is never shown by ``repr``. Hash prefixes and the generator table are cached, so signing
    an order costs a few hundred microseconds.
    """

    __slots__ = ("_key", "account", "chain_id", "public_key")

    def __init__(self, private_key: int | Secret | str, account: str, chain_id: str) -> None:
        if isinstance(private_key, int):
            if not 1 <= private_key < stark.EC_ORDER:
                raise SigningError("private key out of range (must be 1 <= key < EC_ORDER)")
            _register_key_forms(private_key)
            key = private_key
        else:
            key = load_private_key(private_key, None)
        self._key = key
        self.account = hex(_account_felt(account))
        self.chain_id = chain_id
        self.public_key = stark.private_to_public_key(key)
        _prefix(chain_id, self.account)  # validate chain id and account now, not at first order

    def __repr__(self) -> str:
        return (f"OrderSigner(account={self.account}, chain_id={self.chain_id}, "
                f"public_key={self.public_key:#x})")

    def sign_hash(self, msg_hash: int) -> str:
        """Sign an already computed message hash; returns the wire form."""
        return format_signature(*stark.sign(msg_hash, self._key))

    def sign_order(self, market: str, side: str, order_type: str, size: Decimal | str | int,
                   price: Decimal | str | int | None, timestamp_ms: int) -> str:
        """Signature for ``POST /orders`` (``signature_timestamp`` = ``timestamp_ms``)."""
        return self.sign_hash(order_hash(self.chain_id, self.account, market, side, order_type, size,
                                         price, timestamp_ms))

    def sign_modify(self, order_id: str | int, market: str, side: str, order_type: str,
                    size: Decimal | str | int, price: Decimal | str | int | None, timestamp_ms: int) -> str:
        """Signature for ``PUT /orders/{order_id}``."""
        return self.sign_hash(modify_order_hash(self.chain_id, self.account, order_id, market, side,
                                                order_type, size, price, timestamp_ms))

    def sign_auth(self, timestamp_s: int, expiration_s: int) -> str:
        """Signature for ``POST /auth`` (the ``PARADEX-STARKNET-SIGNATURE`` header)."""
        return self.sign_hash(auth_hash(self.chain_id, self.account, timestamp_s, expiration_s))

    def sign_onboarding(self) -> str:
        """Signature for ``POST /onboarding``."""
        return self.sign_hash(onboarding_hash(self.chain_id, self.account))
