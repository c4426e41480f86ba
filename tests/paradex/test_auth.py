"""Auth headers, their verification, and the JWT manager's renewal and concurrency rules."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest

from shared.errors import AuthError, DecodeError, TransportError
from shared.paradex import auth
from shared.paradex.signer import OrderSigner, auth_hash, parse_signature
from tests.paradex.reference import n, vectors

CHAIN = "PRIVATE_SN_PARACLEAR_MAINNET"
ACCOUNT = "0x49ddd7a564c978f6e4089ff8355b56a42b7e2d48ba282cb5aad60f04bea0ec3"
NOW = 1_700_000_000


@pytest.fixture(scope="module")
def signer() -> OrderSigner:
    return OrderSigner(0xA11CE, ACCOUNT, CHAIN)


def test_auth_headers_carry_seconds_and_starknet_py_s_signature(signer: OrderSigner) -> None:
    headers = auth.auth_headers(signer, NOW, expiry_s=600)
    assert headers[auth.H_ACCOUNT] == ACCOUNT
    assert headers[auth.H_TIMESTAMP] == str(NOW)
    assert headers[auth.H_EXPIRATION] == str(NOW + 600)
    ref = vectors()["auth_headers"]  # starknet-py's signature of the same request (committed)
    assert (n(ref["key"]), ref["account"], ref["timestamp"]) == (0xA11CE, ACCOUNT, NOW)
    assert auth_hash(CHAIN, ACCOUNT, NOW, NOW + 600) == n(ref["hash"])
    assert parse_signature(headers[auth.H_SIGNATURE]) == (n(ref["r"]), n(ref["s"]))


def test_valid_headers_verify(signer: OrderSigner) -> None:
    headers = auth.auth_headers(signer, NOW)
    check = auth.verify_auth_headers(headers, signer.public_key, CHAIN, NOW + 10, expected_account=ACCOUNT)
    assert check and check.ok and check.account == ACCOUNT
    lowered = {k.lower(): v for k, v in headers.items()}  # HTTP header names are case-insensitive
    assert auth.verify_auth_headers(lowered, signer.public_key, CHAIN, NOW)


@pytest.mark.parametrize(
    ("mutate", "now", "reason"),
    [
        (lambda h: h.pop(auth.H_SIGNATURE), NOW, "missing header"),
        (lambda h: h.update({auth.H_TIMESTAMP: "soon"}), NOW, "malformed"),
        (lambda h: h.update({auth.H_TIMESTAMP: str(NOW + 1)}), NOW, "invalid signature"),
        (lambda h: h.update({auth.H_SIGNATURE: '["1"]'}), NOW, "malformed signature"),
        (lambda h: h.update({auth.H_ACCOUNT: "0x1234"}), NOW, "account does not match"),
        (lambda h: None, NOW + auth.DEFAULT_EXPIRY_S, "expired"),
        (lambda h: None, NOW - 3600, "in the future"),
    ],
)
def test_bad_headers_fail_with_a_reason(signer: OrderSigner, mutate: Any, now: int, reason: str) -> None:
    headers = auth.auth_headers(signer, NOW)
    mutate(headers)
    check = auth.verify_auth_headers(headers, signer.public_key, CHAIN, now, expected_account=ACCOUNT)
    assert not check
    assert reason in check.reason


def test_expiration_beyond_a_week_is_rejected_even_if_signed(signer: OrderSigner) -> None:
    headers = auth.auth_headers(signer, NOW, expiry_s=auth.MAX_EXPIRY_S + 1)
    check = auth.verify_auth_headers(headers, signer.public_key, CHAIN, NOW)
    assert not check and "expiration more than" in check.reason


def test_headers_signed_by_another_key_or_chain_fail(signer: OrderSigner) -> None:
    other = OrderSigner(0xB0B, ACCOUNT, CHAIN)
    headers = auth.auth_headers(other, NOW)
    assert not auth.verify_auth_headers(headers, signer.public_key, CHAIN, NOW)
    assert not auth.verify_auth_headers(auth.auth_headers(signer, NOW), signer.public_key,
                                        "PRIVATE_SN_POTC_SEPOLIA", NOW)


# --- JWT manager ---


def make_jwt(claims: dict[str, Any]) -> str:
    def enc(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{enc({'alg': 'ES384', 'typ': 'JWT'})}.{enc(claims)}.c2ln"


class FakeClock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class Venue:
    """Counts fetches; each fetch issues a token with iat/exp from the clock, after a short wait."""

    def __init__(self, clock: FakeClock, lifetime: int = 300, fail: list[BaseException] | None = None):
        self.clock, self.lifetime, self.calls = clock, lifetime, 0
        self.fail = fail or []

    async def fetch(self) -> str:
        self.calls += 1
        await asyncio.sleep(0.01)
        if self.fail:
            raise self.fail.pop(0)
        iat = int(self.clock())
        return make_jwt({"iat": iat, "exp": iat + self.lifetime, "n": self.calls})


async def test_fifty_concurrent_callers_share_exactly_one_fetch() -> None:
    clock = FakeClock(NOW)
    venue = Venue(clock)
    mgr = auth.JwtManager(venue.fetch, clock)
    tokens = await asyncio.gather(*(mgr.token() for _ in range(50)))
    assert venue.calls == 1
    assert len(set(tokens)) == 1
    assert await mgr.token() == tokens[0] and venue.calls == 1


async def test_token_is_reused_until_renewal_age_then_refetched() -> None:
    clock = FakeClock(NOW)
    venue = Venue(clock)
    mgr = auth.JwtManager(venue.fetch, clock, renew_after_s=180, margin_s=60)
    first = await mgr.token()
    clock.t += 179
    assert await mgr.token() == first
    clock.t += 1
    second = await mgr.token()
    assert second != first and venue.calls == 2


async def test_short_lived_token_is_renewed_margin_before_expiry() -> None:
    clock = FakeClock(NOW)
    venue = Venue(clock, lifetime=100)
    mgr = auth.JwtManager(venue.fetch, clock, renew_after_s=180, margin_s=30)
    first = await mgr.token()
    clock.t += 69
    assert await mgr.token() == first
    clock.t += 1
    assert await mgr.token() != first


async def test_lifetime_uses_exp_minus_iat_so_venue_clock_skew_does_not_matter() -> None:
    clock = FakeClock(NOW)
    skewed = make_jwt({"iat": NOW - 3600, "exp": NOW - 3300})  # venue clock an hour behind
    calls = 0

    async def fetch() -> str:
        nonlocal calls
        calls += 1
        return skewed

    mgr = auth.JwtManager(fetch, clock)
    await mgr.token()
    clock.t += 100
    await mgr.token()
    assert calls == 1


@pytest.mark.parametrize("token", ["opaque-token", make_jwt({"sub": "0x1"}), "a.!!!.c"])
async def test_token_without_exp_is_assumed_to_live_five_minutes(token: str) -> None:
    assert auth.jwt_lifetime_s(token, NOW) == 300.0
    clock = FakeClock(NOW)
    calls = 0

    async def fetch() -> str:
        nonlocal calls
        calls += 1
        return token

    mgr = auth.JwtManager(fetch, clock, renew_after_s=1000, margin_s=60)
    await mgr.token()
    clock.t += 239
    await mgr.token()
    assert calls == 1
    clock.t += 1
    await mgr.token()
    assert calls == 2


async def test_invalidate_forces_renewal_only_for_the_current_token() -> None:
    clock = FakeClock(NOW)
    venue = Venue(clock)
    mgr = auth.JwtManager(venue.fetch, clock)
    first = await mgr.token()
    mgr.invalidate(first)
    second = await mgr.token()
    assert second != first and venue.calls == 2
    mgr.invalidate(first)  # a late 401 for the old token must not discard the new one
    assert await mgr.token() == second and venue.calls == 2


async def test_failed_fetch_reaches_all_waiters_once_and_does_not_poison_later_calls() -> None:
    clock = FakeClock(NOW)
    venue = Venue(clock, fail=[AuthError(401, "INVALID_SIGNATURE")])
    mgr = auth.JwtManager(venue.fetch, clock)
    results = await asyncio.gather(*(mgr.token() for _ in range(10)), return_exceptions=True)
    assert venue.calls == 1
    assert all(isinstance(r, AuthError) for r in results)
    token = await mgr.token()
    assert venue.calls == 2 and auth.jwt_claims(token)["n"] == 2


async def test_unexpected_fetch_exception_is_wrapped_as_transport_error() -> None:
    clock = FakeClock(NOW)
    venue = Venue(clock, fail=[OSError("connection reset")])
    mgr = auth.JwtManager(venue.fetch, clock)
    with pytest.raises(TransportError) as info:
        await mgr.token()
    assert isinstance(info.value.__cause__, OSError)


async def test_empty_token_is_a_decode_error() -> None:
    async def fetch() -> str:
        return ""

    with pytest.raises(DecodeError):
        await auth.JwtManager(fetch, FakeClock(NOW)).token()


async def test_cancelled_caller_does_not_cancel_the_shared_fetch() -> None:
    clock = FakeClock(NOW)
    venue = Venue(clock)
    mgr = auth.JwtManager(venue.fetch, clock)
    first = asyncio.ensure_future(mgr.token())
    second = asyncio.ensure_future(mgr.token())
    await asyncio.sleep(0)
    first.cancel()
    token = await second
    assert token and venue.calls == 1
    assert await mgr.token() == token
