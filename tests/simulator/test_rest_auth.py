"""POST /auth, JWT checks on private endpoints, onboarding and rate limits."""

from __future__ import annotations

import asyncio
import time

from shared.paradex.auth import H_SIGNATURE, auth_headers, jwt_claims
from shared.paradex.signer import OrderSigner
from tests.simfixture import SimFactory, SimHandle

OTHER_KEY = 0x1234567890ABCDEF
OTHER_ACCOUNT = "0x7777"


async def test_auth_with_good_signature_issues_a_five_minute_jwt(simulator: SimHandle) -> None:
    async with simulator.client() as c:
        resp = await c.post("/auth", headers=simulator.auth_headers())
        by_key = await c.post(f"/auth/{hex(simulator.signer.public_key)}", headers=simulator.auth_headers())
    assert resp.status_code == 200 and by_key.status_code == 200
    claims = jwt_claims(resp.json()["jwt_token"])
    assert claims["sub"] == simulator.account
    assert isinstance(claims["exp"], int) and isinstance(claims["iat"], int)
    assert claims["exp"] - claims["iat"] == 300


async def test_auth_with_bad_signature_is_refused(simulator: SimHandle) -> None:
    headers = simulator.auth_headers()
    headers[H_SIGNATURE] = '["1","2"]'
    async with simulator.client() as c:
        resp = await c.post("/auth", headers=headers)
    assert resp.status_code == 401 and resp.json()["error"] == "STARKNET_SIGNATURE_VERIFICATION_FAILED"


async def test_auth_signed_by_another_key_is_refused(simulator: SimHandle) -> None:
    intruder = OrderSigner(OTHER_KEY, simulator.account, simulator.chain_id)
    async with simulator.client() as c:
        resp = await c.post("/auth", headers=auth_headers(intruder, int(time.time())))
    assert resp.status_code == 401


async def test_auth_with_expired_signature_timestamp_is_refused(simulator: SimHandle) -> None:
    old = int(time.time()) - 3600
    async with simulator.client() as c:
        resp = await c.post("/auth", headers=auth_headers(simulator.signer, old, expiry_s=60))
    assert resp.status_code == 400 and resp.json()["error"] == "INVALID_BLOCK_EXPIRATION"


async def test_auth_of_unknown_account_is_not_onboarded(simulator: SimHandle) -> None:
    stranger = OrderSigner(OTHER_KEY, OTHER_ACCOUNT, simulator.chain_id)
    async with simulator.client() as c:
        resp = await c.post("/auth", headers=auth_headers(stranger, int(time.time())))
    assert resp.status_code == 400 and resp.json()["error"] == "NOT_ONBOARDED"


async def test_onboarding_registers_a_new_account_that_can_then_auth(simulator: SimHandle) -> None:
    newcomer = OrderSigner(OTHER_KEY, OTHER_ACCOUNT, simulator.chain_id)
    headers = {"PARADEX-STARKNET-ACCOUNT": OTHER_ACCOUNT, "PARADEX-ETHEREUM-ACCOUNT": "0x0",
               "PARADEX-STARKNET-SIGNATURE": newcomer.sign_onboarding()}
    async with simulator.client() as c:
        resp = await c.post("/onboarding", headers=headers, json={"public_key": hex(newcomer.public_key)})
        auth = await c.post("/auth", headers=auth_headers(newcomer, int(time.time())))
    assert resp.status_code == 200 and auth.status_code == 200


async def test_private_endpoint_without_jwt_is_401_missing_or_malformed(simulator: SimHandle) -> None:
    async with simulator.client() as c:
        missing = await c.get("/positions")
        garbage = await c.get("/positions", headers={"Authorization": "Bearer not-a-jwt"})
        order = await c.post("/orders", json=simulator.order())
    for resp in (missing, garbage, order):
        assert resp.status_code == 401
        assert resp.json()["error"] == "INVALID_TOKEN"
        assert "missing or malformed jwt" in resp.json()["message"]


async def test_expired_or_forged_jwt_is_401(simulator_factory: SimFactory) -> None:
    sim = await simulator_factory(jwt_ttl_s=0.2)
    async with sim.client() as c:
        token = await sim.jwt(c)
        ok = await c.get("/account", headers={"Authorization": f"Bearer {token}"})
        await asyncio.sleep(0.3)
        expired = await c.get("/account", headers={"Authorization": f"Bearer {token}"})
        forged = await c.get("/account", headers={"Authorization": f"Bearer {token[:-4]}AAAA"})
    assert ok.status_code == 200
    for resp in (expired, forged):
        assert resp.status_code == 401 and resp.json()["message"] == "invalid or expired jwt"


async def test_rate_limit_answers_429_with_headers_then_refills(simulator_factory: SimFactory) -> None:
    sim = await simulator_factory(rl_private_get_per_s=2, rl_private_get_per_min=0)
    async with sim.authed() as c:
        first = await c.get("/account")
        second = await c.get("/account")
        third = await c.get("/account")
        await asyncio.sleep(0.6)  # 2 tokens/s: one token back after 0.5 s
        fourth = await c.get("/account")
    assert [r.status_code for r in (first, second, third, fourth)] == [200, 200, 429, 200]
    assert first.headers["x-ratelimit-limit"] == "2" and first.headers["x-ratelimit-remaining"] == "1"
    assert third.json()["error"] == "TOO_MANY_REQUESTS"
    assert int(third.headers["x-ratelimit-reset"]) > int(time.time() * 1000)
    assert third.headers["x-ratelimit-window"] == "1000"


async def test_order_batch_costs_one_rate_limit_unit(simulator_factory: SimFactory) -> None:
    sim = await simulator_factory(rl_orders_per_s=1, rl_orders_per_min=0)
    async with sim.authed() as c:
        batch = await c.post("/orders/batch", json=[sim.order(), sim.order()])
        single = await c.post("/orders", json=sim.order())
    assert batch.status_code == 201 and len(batch.json()["orders"]) == 2
    assert single.status_code == 429


def test_a_known_token_still_expires_and_a_forged_one_is_refused() -> None:
    from services.simulator.tokens import TokenIssuer, TokenProblem

    issuer = TokenIssuer(b"k" * 32, ttl_s=10)
    token = issuer.mint("0xabc", 1000.0)
    assert issuer.verify(token, 1001.0).account == "0xabc"
    assert issuer.verify(token, 1002.0).account == "0xabc"  # from the verified-token cache
    assert issuer.verify(token, 1010.0).problem is TokenProblem.INVALID
    head, body, _ = token.split(".")
    forged = f"{head}.{body}.{'A' * 43}"
    assert issuer.verify(forged, 1001.0).problem is TokenProblem.INVALID
