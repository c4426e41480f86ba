"""Fatal vs retryable: a refused key, an account the venue does not know (never onboarded or
revoked), a 400 at the WebSocket handshake and fresh JWTs refused again are reported as such
(status, /healthz ``failure`` with what to fix, a log line) and retried slowly; a venue that is
simply down is retried with the fast, capped backoff."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import nats
import pytest

from services.feed.auth import RestJwtSource
from services.feed.failures import classify
from services.feed.service import FeedService
from services.feed.settings import Settings
from shared.errors import AuthError, VenueError
from shared.settings import Secret, load
from tests.feed import samples as s
from tests.feed.helpers import until
from tests.feed.hostile import MARKETS, HostileVenue
from tests.simfixture import SimHandle

OTHER_KEY = "0x" + "3" * 62

Factory = Callable[..., Awaitable[FeedService]]


@pytest.fixture
async def feed(nats_url: str, caplog: pytest.LogCaptureFixture) -> AsyncIterator[Factory]:
    caplog.set_level(logging.INFO)
    made: list[tuple[FeedService, Any, Any]] = []

    async def make(jwt: Any = None, **overrides: Any) -> FeedService:
        nc = await nats.connect(nats_url, skip_subject_validation=True)
        kw: dict[str, Any] = dict(paradex_account=s.ACCOUNT, paradex_markets=MARKETS, http_port=0,
                                  status_interval_s=0.1, backoff_initial_s=0.02, backoff_max_s=0.05,
                                  fatal_retry_s=1.0, reply_timeout_s=2.0, subscribe_summary=False)
        settings = load(Settings, env={}, **{**kw, **overrides})
        source = jwt if jwt is not None else RestJwtSource(settings)
        service = FeedService(settings, nc, source)
        await service.start()
        made.append((service, nc, source))
        return service

    try:
        yield make
    finally:
        for service, nc, source in made:
            await service.stop(drain_s=0.5)
            if isinstance(source, RestJwtSource):
                await source.aclose()
            with contextlib.suppress(Exception):
                await nc.close()


class _Jwt:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls = 0

    async def token(self) -> str:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return "jwt"

    def invalidate(self, token: str) -> None:
        pass


async def healthz(service: FeedService) -> tuple[int, dict[str, Any]]:
    assert service.http is not None
    async with httpx.AsyncClient() as client:
        resp = await client.get(f"http://127.0.0.1:{service.http.port}/healthz")
    body: dict[str, Any] = resp.json()
    return resp.status_code, body


async def fatal_reported(service: FeedService, caplog: pytest.LogCaptureFixture, *, state: str,
                         fix: str) -> dict[str, Any]:
    await until(lambda: service.connection.failure is not None and service.connection.failure.fatal, 10.0,
                "a reported fatal failure")
    failure = service.connection.failure
    assert failure is not None and failure.fatal, failure
    assert service.status.state == state and service.status.reason.startswith("fatal: ")
    code, body = await healthz(service)
    assert code == 503 and body["failure"]["kind"] == "fatal" and fix in body["failure"]["fix"], body
    assert 0 < body["failure"]["retry_in_s"] <= 1.1
    assert any("feed cannot connect" in r.getMessage() and fix in r.getMessage() for r in caplog.records)
    return body


async def test_a_refused_key_is_fatal_reported_and_retried_slowly(
        simulator: SimHandle, feed: Factory, caplog: pytest.LogCaptureFixture) -> None:
    service = await feed(paradex_ws_url=simulator.ws_url, paradex_rest_url=simulator.rest_url,
                         paradex_account=simulator.account, paradex_l2_private_key=Secret(OTHER_KEY))
    body = await fatal_reported(service, caplog, state="auth_failed", fix="PARADEX_L2_PRIVATE_KEY")
    assert "401" in body["failure"]["reason"]
    ends = service.metrics.session_ends.labels("fatal")
    first = ends._value.get()
    await asyncio.sleep(1.5)  # fatal_retry_s = 1: one or two more attempts, not a hot loop
    assert 1 <= ends._value.get() - first <= 2


async def test_an_account_the_venue_does_not_know_is_fatal_with_onboarding_as_the_fix(
        simulator: SimHandle, feed: Factory, caplog: pytest.LogCaptureFixture) -> None:
    service = await feed(paradex_ws_url=simulator.ws_url, paradex_rest_url=simulator.rest_url,
                         paradex_account="0x" + "7" * 60,
                         paradex_l2_private_key=Secret(simulator.private_key))
    body = await fatal_reported(service, caplog, state="auth_failed", fix="onboard")
    assert "NOT_ONBOARDED" in body["failure"]["reason"]


async def test_a_400_at_connect_is_fatal_and_names_the_sbe_setting(
        feed: Factory, caplog: pytest.LogCaptureFixture) -> None:
    async with HostileVenue(refuse_status=400, refuse_body="unsupported SBE schema version 9") as venue:
        service = await feed(_Jwt(), paradex_ws_url=venue.url, sbe_schema_version=9)
        body = await fatal_reported(service, caplog, state="disconnected", fix="FEED_SBE_SCHEMA_VERSION")
        assert "HTTP 400: unsupported SBE schema version 9" in body["failure"]["reason"]
        first = venue.handshakes
        await asyncio.sleep(1.5)
        assert 1 <= venue.handshakes - first <= 2  # slow retries; the transient backoff would do ~30


async def test_fresh_jwts_refused_twice_become_fatal(feed: Factory, caplog: pytest.LogCaptureFixture) -> None:
    async with HostileVenue(auth_error=40111) as venue:
        service = await feed(_Jwt(), paradex_ws_url=venue.url)
        await until(lambda: venue.auths >= 1, 5.0, "a first auth")
        body = await fatal_reported(service, caplog, state="auth_failed", fix="PARADEX_ACCOUNT")
        assert venue.auths == 2  # the first refusal retried at once with a new token, then slowly
        assert "40111" in body["failure"]["reason"]


async def test_a_venue_that_is_down_is_retried_fast_with_the_capped_backoff(feed: Factory) -> None:
    async with HostileVenue() as venue:
        url = venue.url
    jwt = _Jwt()
    service = await feed(jwt, paradex_ws_url=url)  # nothing listens there any more
    await asyncio.sleep(1.0)
    failure = service.connection.failure
    assert failure is not None and failure.kind == "transient" and service.status.state == "disconnected"
    assert jwt.calls >= 10  # backoff capped at 50 ms here
    code, body = await healthz(service)
    assert code == 503 and body["failure"]["kind"] == "transient"


def test_classification_of_venue_errors() -> None:
    assert classify(AuthError(401, "STARKNET_SIGNATURE_VERIFICATION_FAILED")).fatal
    assert "onboard" in classify(VenueError(400, "NOT_ONBOARDED")).hint
    assert not classify(VenueError(503, "SERVICE_UNAVAILABLE")).fatal
    assert not classify(VenueError(429, "RATE_LIMITED")).fatal
    assert not classify(OSError("connection refused")).fatal
    assert not classify(TimeoutError()).fatal
