"""The simulator's JWTs: HS256 over the stdlib ``hmac`` (pure; time is passed in).

Claims mirror the venue's sample (PROTOCOL.md 3.2): ``typ`` ``at+JWT``, ``iss``, ``sub`` (the
account address), ``iat`` and ``exp`` in Unix seconds. Clients must treat the token as opaque
apart from ``exp``/``iat``, which :func:`shared.paradex.auth.jwt_lifetime_s` reads.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from enum import Enum

VERIFIED_KEPT = 4096
_HEADER = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenProblem(Enum):
    """Why a bearer token was refused: the REST message and the WS error code differ by kind."""

    MALFORMED = "missing or malformed jwt"
    INVALID = "invalid or expired jwt"


@dataclass(frozen=True, slots=True)
class TokenCheck:
    """Outcome of :meth:`TokenIssuer.verify`: the account on success, else the problem."""

    account: str = ""
    problem: TokenProblem | None = None


class TokenIssuer:
    """Mints and verifies HS256 JWTs with a per-simulator secret."""

    def __init__(self, secret: bytes, ttl_s: float, issuer: str = "Paradex simulator") -> None:
        self._secret = secret
        self.ttl_s = ttl_s
        self.issuer = issuer
        #: Tokens whose signature was checked: token -> (account, exp s, exp ms or None). Every
        #: private request carries the same few tokens, so the HMAC and JSON run once per token.
        self._verified: dict[str, tuple[str, int, int | None]] = {}

    def _sign(self, signing_input: str) -> str:
        return _b64(hmac.new(self._secret, signing_input.encode(), hashlib.sha256).digest())

    def mint(self, account: str, now_s: float) -> str:
        """A token for ``account`` valid ``ttl_s`` seconds from ``now_s``."""
        iat = int(now_s)
        claims = {"typ": "at+JWT", "exp": iat + max(1, round(self.ttl_s)), "iat": iat,
                  "iss": self.issuer, "sub": account}
        if self.ttl_s < 1:  # sub-second lifetimes are for tests of expiry
            claims["exp_ms"] = int(now_s * 1000 + self.ttl_s * 1000)
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{_HEADER}.{body}"
        return f"{signing_input}.{self._sign(signing_input)}"

    def verify(self, token: str, now_s: float) -> TokenCheck:
        """Check signature and expiry; the account is the ``sub`` claim."""
        known = self._verified.get(token)
        if known is not None:
            account, expires, expires_ms = known
            if now_s >= expires or (expires_ms is not None and now_s * 1000 >= expires_ms):
                return TokenCheck(problem=TokenProblem.INVALID)
            return TokenCheck(account=account)
        parts = token.split(".")
        if len(parts) != 3 or not all(parts):
            return TokenCheck(problem=TokenProblem.MALFORMED)
        try:
            claims = json.loads(_unb64(parts[1]))
        except (ValueError, binascii.Error):
            return TokenCheck(problem=TokenProblem.MALFORMED)
        if not isinstance(claims, dict):
            return TokenCheck(problem=TokenProblem.MALFORMED)
        expected = self._sign(f"{parts[0]}.{parts[1]}")
        if not hmac.compare_digest(expected, parts[2]):
            return TokenCheck(problem=TokenProblem.INVALID)
        exp, sub = claims.get("exp"), claims.get("sub")
        exp_ms = claims.get("exp_ms")
        if not isinstance(exp, int) or not isinstance(sub, str):
            return TokenCheck(problem=TokenProblem.INVALID)
        if now_s >= exp or (isinstance(exp_ms, int) and now_s * 1000 >= exp_ms):
            return TokenCheck(problem=TokenProblem.INVALID)
        if len(self._verified) >= VERIFIED_KEPT:
            self._verified.clear()
        self._verified[token] = (sub, exp, exp_ms if isinstance(exp_ms, int) else None)
        return TokenCheck(account=sub)


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token
