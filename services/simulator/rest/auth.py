"""``POST /auth`` (+ ``/auth/{public_key}``) and ``POST /onboarding`` (PROTOCOL.md 3.2).

Auth headers are checked with :func:`shared.paradex.auth.verify_auth_headers` against the public
key the account was registered with; a good request gets a JWT (see :mod:`..tokens`).
"""

from __future__ import annotations

import msgspec
from starlette.responses import Response

from shared.errors import VenueError
from shared.paradex.auth import H_ACCOUNT, H_SIGNATURE, verify_auth_headers
from shared.paradex.models.rest import AuthResponse
from shared.paradex.signer import onboarding_hash, verify_signature

from ..venue import normalize_account
from .common import Call, empty, json_response

_BAD_SIGNATURE = "starknet signature verification failed"


def _auth_error(reason: str) -> VenueError:
    """Map the verifier's reason to the venue's code and status."""
    if reason.startswith("missing header"):
        return VenueError(400, "VALIDATION_ERROR", reason)
    if "expired" in reason or "expiration" in reason:
        return VenueError(400, "INVALID_BLOCK_EXPIRATION", reason)
    if "future" in reason or "timestamp" in reason:
        return VenueError(400, "INVALID_TIMESTAMP", reason)
    if reason.startswith("malformed signature"):
        return VenueError(400, "INVALID_STARKNET_SIGNATURE", reason)
    if reason == "invalid signature":
        return VenueError(401, "STARKNET_SIGNATURE_VERIFICATION_FAILED", _BAD_SIGNATURE)
    return VenueError(400, "VALIDATION_ERROR", reason)


def auth(call: Call) -> Response:
    headers = call.request.headers
    raw_account = headers.get(H_ACCOUNT)
    if raw_account is None:
        raise VenueError(400, "VALIDATION_ERROR", f"missing header {H_ACCOUNT}")
    account = normalize_account(raw_account)
    key = call.venue.public_key(account)
    if key is None:
        raise VenueError(400, "NOT_ONBOARDED", "account has never called /onboarding")
    path_key = call.request.path_params.get("public_key")
    if path_key is not None:
        try:
            if int(str(path_key), 16) != key:
                raise VenueError(400, "PUBLIC_KEY_INVALID", "public key is not registered to this account")
        except ValueError:
            raise VenueError(400, "PUBLIC_KEY_INVALID", f"not a hex public key: {path_key!r}") from None
    check = verify_auth_headers(dict(headers), key, call.venue.chain_id, call.now_ms // 1000)
    if not check:
        raise _auth_error(check.reason)
    token = call.venue.tokens.mint(account, call.now_ms / 1000)
    return json_response(AuthResponse(jwt_token=token))


class _OnboardingBody(msgspec.Struct, frozen=True):
    public_key: str


def onboarding(call: Call) -> Response:
    """Register the header's account with the body's public key (signed ``Constant{Onboarding}``)."""
    headers = call.request.headers
    raw_account, signature = headers.get(H_ACCOUNT), headers.get(H_SIGNATURE)
    if raw_account is None or signature is None:
        raise VenueError(400, "VALIDATION_ERROR", f"headers {H_ACCOUNT} and {H_SIGNATURE} are required")
    account = normalize_account(raw_account)
    body = call.body_as(_OnboardingBody)
    try:
        key = int(body.public_key, 16)
    except ValueError:
        raise VenueError(400, "PUBLIC_KEY_INVALID", "public_key is not hex") from None
    if not verify_signature(key, onboarding_hash(call.venue.chain_id, account), signature):
        raise VenueError(401, "STARKNET_SIGNATURE_VERIFICATION_FAILED", _BAD_SIGNATURE)
    known = call.venue.public_key(account)
    if known is not None and known != key:
        raise VenueError(400, "PUBLIC_KEY_INVALID", "account is onboarded with another public key")
    call.venue.register_account(account, key)
    return empty(200)
