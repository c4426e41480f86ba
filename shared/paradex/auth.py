"""Paradex ``POST /auth``: signed headers, their verification, and a JWT cache (PROTOCOL.md 3.2).

* :func:`auth_headers` builds the four ``PARADEX-*`` headers (pure; ``now_s`` injected).
* :func:`verify_auth_headers` is the venue side, for the simulator: an :class:`AuthCheck` that is
  truthy when valid and says why not otherwise.
* :class:`JwtManager` hands out a valid JWT, fetching through an injected async function only when
  none is held or the held one is due for renewal; concurrent callers share one fetch.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from shared.errors import DecodeError, HubError, SigningError, TransportError
from shared.paradex.signer import OrderSigner, auth_hash, parse_signature, verify

H_ACCOUNT = "PARADEX-STARKNET-ACCOUNT"
H_SIGNATURE = "PARADEX-STARKNET-SIGNATURE"
H_TIMESTAMP = "PARADEX-TIMESTAMP"
H_EXPIRATION = "PARADEX-SIGNATURE-EXPIRATION"

# The venue allows up to a week (default 30 min). A short window limits what a leaked auth
# signature is worth; a JWT lives 5 minutes whatever we pick.
DEFAULT_EXPIRY_S = 300
MAX_EXPIRY_S = 7 * 86400
JWT_DEFAULT_LIFETIME_S = 300.0


def auth_headers(signer: OrderSigner, now_s: int, expiry_s: int = DEFAULT_EXPIRY_S) -> dict[str, str]:
    """Headers for ``POST /auth``: account, ``["r","s"]`` signature, timestamp and expiration (s)."""
    if expiry_s <= 0:
        raise SigningError("auth signature expiry must be positive")
    expiration = now_s + expiry_s
    return {
        H_ACCOUNT: signer.account,
        H_SIGNATURE: signer.sign_auth(now_s, expiration),
        H_TIMESTAMP: str(now_s),
        H_EXPIRATION: str(expiration),
    }


@dataclass(frozen=True, slots=True)
class AuthCheck:
    """Outcome of :func:`verify_auth_headers`; truthy only when ``ok``."""

    ok: bool
    reason: str = ""
    account: str = ""

    def __bool__(self) -> bool:
        return self.ok


def verify_auth_headers(headers: Mapping[str, str], public_key: int, chain_id: str, now_s: int, *,
                        expected_account: str | None = None, max_future_s: int = 60,
                        max_expiry_s: int = MAX_EXPIRY_S) -> AuthCheck:
    """Check ``POST /auth`` headers against the registered ``public_key`` at time ``now_s``.

    Rejects missing/malformed headers, an expired signature, an expiration more than
    ``max_expiry_s`` after the timestamp, a timestamp more than ``max_future_s`` ahead of
    ``now_s``, an account other than ``expected_account`` (when given) and a bad signature.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    missing = [h for h in (H_ACCOUNT, H_SIGNATURE, H_TIMESTAMP, H_EXPIRATION) if h.lower() not in lower]
    if missing:
        return AuthCheck(False, f"missing header {missing[0]}")
    account_text = lower[H_ACCOUNT.lower()].strip()
    try:
        account = int(account_text, 16)
        timestamp = int(lower[H_TIMESTAMP.lower()])
        expiration = int(lower[H_EXPIRATION.lower()])
    except ValueError:
        return AuthCheck(False, "malformed account, timestamp or expiration header")
    if expected_account is not None and hex(account) != hex(int(expected_account, 16)):
        return AuthCheck(False, "account does not match the registered account")
    if expiration <= now_s:
        return AuthCheck(False, f"signature expired at {expiration} (now {now_s})")
    if timestamp > now_s + max_future_s:
        return AuthCheck(False, f"timestamp {timestamp} is in the future (now {now_s})")
    if expiration - timestamp > max_expiry_s:
        return AuthCheck(False, f"expiration more than {max_expiry_s} s after the timestamp")
    try:
        r, s = parse_signature(lower[H_SIGNATURE.lower()])
        msg = auth_hash(chain_id, account, timestamp, expiration)
    except SigningError as exc:
        return AuthCheck(False, str(exc))
    if not verify(public_key, msg, r, s):
        return AuthCheck(False, "invalid signature")
    return AuthCheck(True, "", hex(account))


def jwt_claims(token: str) -> dict[str, object]:
    """The JWT payload, decoded WITHOUT verifying the signature; DecodeError if not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        raise DecodeError("jwt", "expected three dot-separated parts")
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, TypeError) as exc:
        raise DecodeError("jwt", f"payload is not base64url JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise DecodeError("jwt", "payload is not a JSON object")
    return payload


def jwt_lifetime_s(token: str, now: float) -> float:
    """How long ``token`` is valid from ``now``: ``exp - iat`` when both are present (immune to
    clock skew with the venue), else ``exp - now``, else :data:`JWT_DEFAULT_LIFETIME_S`."""
    try:
        claims = jwt_claims(token)
    except DecodeError:
        return JWT_DEFAULT_LIFETIME_S
    exp, iat = claims.get("exp"), claims.get("iat")
    if isinstance(exp, int | float) and not isinstance(exp, bool):
        if isinstance(iat, int | float) and not isinstance(iat, bool) and exp > iat:
            return float(exp - iat)
        return float(exp) - now
    return JWT_DEFAULT_LIFETIME_S


@dataclass(frozen=True, slots=True)
class _Held:
    token: str
    renew_at: float


class JwtManager:
    """A cached Paradex JWT, renewed before it expires, with at most one fetch in flight.

    ``fetch`` performs ``POST /auth`` and returns the token; ``clock`` returns Unix seconds. A
    token is renewed when it is ``renew_after_s`` old or ``margin_s`` before its expiry, whichever
    is first. Errors from ``fetch`` reach every waiting caller (non-:class:`HubError` ones wrapped
    in :class:`TransportError`) and the next call fetches again.
    """

    def __init__(self, fetch: Callable[[], Awaitable[str]], clock: Callable[[], float] = time.time, *,
                 renew_after_s: float = 180.0, margin_s: float = 60.0) -> None:
        self._fetch = fetch
        self._clock = clock
        self._renew_after_s = renew_after_s
        self._margin_s = margin_s
        self._held: _Held | None = None
        self._inflight: asyncio.Future[str] | None = None
        self.fetches = 0  # how many times fetch was called (a metric)

    @property
    def current(self) -> str | None:
        """The held token, valid or not (for diagnostics)."""
        return self._held.token if self._held else None

    async def token(self) -> str:
        """A JWT that is not due for renewal, fetching one if needed."""
        held = self._held
        if held is not None and self._clock() < held.renew_at:
            return held.token
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._renew())
            self._inflight.add_done_callback(_consume_exception)
        # shield: a cancelled caller must not cancel the fetch the other callers wait on.
        return await asyncio.shield(self._inflight)

    def invalidate(self, token: str) -> None:
        """Forget ``token`` after a 401, so the next :meth:`token` fetches; a no-op if a newer
        token has already replaced it."""
        if self._held is not None and self._held.token == token:
            self._held = None

    async def _renew(self) -> str:
        try:
            self.fetches += 1
            try:
                token = await self._fetch()
            except HubError:
                raise
            except Exception as exc:
                raise TransportError(f"JWT fetch failed: {exc!r}") from exc
            if not isinstance(token, str) or not token:
                raise DecodeError("auth response", "empty or non-string JWT", field="jwt_token")
            now = self._clock()
            lifetime = jwt_lifetime_s(token, now)
            renew_at = now + min(self._renew_after_s, lifetime - self._margin_s)
            self._held = _Held(token, renew_at)
            return token
        finally:
            self._inflight = None


def _consume_exception(fut: asyncio.Future[str]) -> None:
    # Mark the exception as retrieved when every waiter was cancelled, to avoid asyncio's warning.
    if not fut.cancelled():
        fut.exception()
