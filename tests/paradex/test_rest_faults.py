"""ParadexRest under venue faults injected into the simulator: what is retried, what is not.

Faults are armed on the simulator's :class:`Faults` (the object its control API edits). Backoff
sleeps are recorded instead of slept, with ``rng`` fixed at 1.0 so delays equal the ceilings.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from services.simulator.faults import RestFault
from shared.errors import AuthError, RateLimitedError, TransportError, VenueError
from shared.paradex.rest import ParadexRest, RestTimeouts
from shared.paradex.retry import BackoffPolicy
from tests.simfixture import SimFactory, SimHandle

BTC = "BTC-USD-PERP"
POLICY = BackoffPolicy(initial_s=0.05, factor=2.0, max_s=2.0)


class Recorder:
    """Collects every attempt (method, path) and every backoff delay of one client."""

    def __init__(self) -> None:
        self.attempts: list[tuple[str, str]] = []
        self.delays: list[float] = []

    def on_request(self, method: str, path: str, attempt: int) -> None:
        self.attempts.append((method, path))

    async def sleep(self, delay: float) -> None:
        self.delays.append(delay)

    def count(self, method: str, path: str) -> int:
        return self.attempts.count((method, path))


def _client(sim: SimHandle, rec: Recorder, *, real_sleep: bool = False, **kwargs: Any) -> ParadexRest:
    return ParadexRest(sim.rest_url, signer=sim.signer, retry_policy=POLICY, max_retries=3,
                       rng=lambda: 1.0, on_request=rec.on_request,
                       sleep=asyncio.sleep if real_sleep else rec.sleep, **kwargs)


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
async def rest(simulator: SimHandle, rec: Recorder) -> AsyncIterator[ParadexRest]:
    async with _client(simulator, rec) as client:
        yield client


def _arm(sim: SimHandle, **fault: Any) -> RestFault:
    armed = RestFault(**fault)
    sim.sim.faults.rest_errors.append(armed)
    return armed


async def _order_count(sim: SimHandle) -> int:
    sim.venue.process_now()
    return len(sim.exchange.orders_history(sim.account))


async def test_5xx_on_get_is_retried_with_growing_backoff(rest: ParadexRest, rec: Recorder,
                                                          simulator: SimHandle) -> None:
    _arm(simulator, count=2, status=503, method="GET", path="/v1/markets")
    assert await rest.markets()
    assert rec.count("GET", "/markets") == 3
    assert rec.delays == pytest.approx([0.05, 0.1])


async def test_5xx_on_get_gives_up_after_max_retries(rest: ParadexRest, rec: Recorder,
                                                     simulator: SimHandle) -> None:
    _arm(simulator, count=10, status=500, method="GET", path="/v1/bbo")
    with pytest.raises(VenueError) as info:
        await rest.bbo(BTC)
    assert (info.value.status, info.value.code) == (500, "INTERNAL_ERROR")
    assert rec.count("GET", f"/bbo/{BTC}") == 4  # 1 + max_retries
    assert rec.delays == pytest.approx([0.05, 0.1, 0.2])


async def test_429_on_get_is_retried(rest: ParadexRest, rec: Recorder, simulator: SimHandle) -> None:
    _arm(simulator, count=1, status=429, method="GET", path="/v1/positions")
    await rest.positions()
    assert rec.count("GET", "/positions") == 2


async def test_429_on_order_post_is_raised_without_retry(rest: ParadexRest, rec: Recorder,
                                                         simulator: SimHandle) -> None:
    _arm(simulator, count=1, status=429, method="POST", path="/v1/orders")
    with pytest.raises(RateLimitedError) as info:
        await rest.place_order(market=BTC, side="BUY", type="LIMIT", size="0.01", price="50000")
    assert info.value.status == 429
    assert rec.count("POST", "/orders") == 1 and rec.delays == []
    assert await _order_count(simulator) == 0


async def test_5xx_on_order_post_and_delete_is_not_retried(rest: ParadexRest, rec: Recorder,
                                                           simulator: SimHandle) -> None:
    _arm(simulator, count=1, status=502, method="POST", path="/v1/orders")
    with pytest.raises(VenueError) as info:
        await rest.place_order(market=BTC, side="BUY", type="LIMIT", size="0.01", price="50000")
    assert info.value.status == 502 and rec.count("POST", "/orders") == 1
    _arm(simulator, count=1, status=503, method="DELETE", path="/v1/orders")
    with pytest.raises(VenueError):
        await rest.cancel_all_orders()
    assert rec.count("DELETE", "/orders") == 1 and rec.delays == []


async def test_token_bucket_429_on_orders_carries_retry_after(simulator_factory: SimFactory,
                                                              rec: Recorder) -> None:
    sim = await simulator_factory(rl_orders_per_s=1)
    async with _client(sim, rec) as rest:
        await rest.place_order(market=BTC, side="BUY", type="LIMIT", size="0.01", price="50000")
        with pytest.raises(RateLimitedError) as info:
            await rest.place_order(market=BTC, side="BUY", type="LIMIT", size="0.01", price="50001")
        assert info.value.retry_after_s == 1.0 and info.value.code == "TOO_MANY_REQUESTS"
        assert rest.rate_limits["orders_write"].remaining == 0
        assert rec.count("POST", "/orders") == 2 and await _order_count(sim) == 1


async def test_token_bucket_429_on_get_waits_retry_after_then_succeeds(simulator_factory: SimFactory,
                                                                       rec: Recorder) -> None:
    sim = await simulator_factory(rl_private_get_per_s=1)
    async with _client(sim, rec, real_sleep=True) as rest:
        await rest.positions()
        await rest.positions()  # bucket empty: 429 with Retry-After 1, waited, then served
        assert rec.count("GET", "/positions") == 3


async def test_timeout_on_order_post_raises_transport_error_without_retry(simulator: SimHandle,
                                                                          rec: Recorder) -> None:
    # The venue executes the order but the answer never arrives: the outcome is unknown to us.
    _arm(simulator, count=5, kind="hang", method="POST", path="/v1/orders", execute=True, hang_ms=10_000)
    async with _client(simulator, rec, timeouts=RestTimeouts(read_s=0.3)) as rest:
        with pytest.raises(TransportError) as info:
            await rest.place_order(market=BTC, side="BUY", type="LIMIT", size="0.01", price="50000",
                                   client_id="lost-1")
        assert "outcome unknown" in str(info.value)
        assert rec.count("POST", "/orders") == 1 and rec.delays == []
        simulator.sim.faults.reset()
        simulator.venue.process_now()
        # Resolved by lookup, as the commands service does.
        assert (await rest.order_by_client_id("lost-1")).client_id == "lost-1"
        assert await _order_count(simulator) == 1


async def test_timeout_on_get_is_retried(simulator: SimHandle, rec: Recorder) -> None:
    _arm(simulator, count=1, kind="hang", method="GET", path="/v1/account", hang_ms=10_000)
    async with _client(simulator, rec, timeouts=RestTimeouts(read_s=0.3)) as rest:
        assert (await rest.account()).account == simulator.account
    assert rec.count("GET", "/account") == 2 and len(rec.delays) == 1


async def test_connection_refused_is_transport_error(rec: Recorder) -> None:
    from shared.localservers import free_port

    async with ParadexRest(f"http://127.0.0.1:{free_port()}/v1", retry_policy=POLICY, max_retries=2,
                           rng=lambda: 1.0, sleep=rec.sleep, on_request=rec.on_request) as rest:
        with pytest.raises(TransportError, match="not sent"):
            await rest.system_time()
    assert rec.count("GET", "/system/time") == 3


async def test_expired_jwt_is_renewed_once_and_the_request_succeeds(simulator_factory: SimFactory,
                                                                    rec: Recorder) -> None:
    sim = await simulator_factory(jwt_ttl_s=2.0)
    async with _client(sim, rec, jwt_margin_s=0.0, jwt_renew_after_s=100.0) as rest:
        await rest.positions()
        assert rest.jwt.fetches == 1
        # The venue's clock moves 2.5 s ahead: the held JWT has expired there, while the client
        # still believes it valid (it would renew only 2 s after fetching it).
        sim.venue.clock = lambda: time.time() + 2.5
        await rest.positions()
        assert rest.jwt.fetches == 2
        assert rec.count("GET", "/positions") == 3 and rec.count("POST", "/auth") == 2


async def test_401_on_order_post_is_resent_once_with_a_fresh_token(rest: ParadexRest, rec: Recorder,
                                                                   simulator: SimHandle) -> None:
    _arm(simulator, count=1, status=401, method="POST", path="/v1/orders")
    order = await rest.place_order(market=BTC, side="BUY", type="LIMIT", size="0.01", price="50000")
    assert order.status == "NEW"
    assert rec.count("POST", "/orders") == 2 and rest.jwt.fetches == 2
    assert await _order_count(simulator) == 1


async def test_second_401_is_raised_not_retried_again(rest: ParadexRest, rec: Recorder,
                                                      simulator: SimHandle) -> None:
    fault = _arm(simulator, count=3, status=401, method="GET", path="/v1/positions")
    with pytest.raises(AuthError):
        await rest.positions()
    assert rec.count("GET", "/positions") == 2 and rest.jwt.fetches == 2
    assert fault.count == 1


@pytest.mark.parametrize("call", [
    lambda rest: rest.cancel_order("123"),
    lambda rest: rest.cancel_orders(order_ids=["123"]),
])
async def test_timeout_on_cancel_is_not_retried(simulator: SimHandle, rec: Recorder,
                                                call: Callable[[ParadexRest], Any]) -> None:
    _arm(simulator, count=5, kind="hang", method="DELETE", hang_ms=10_000)
    async with _client(simulator, rec, timeouts=RestTimeouts(read_s=0.3)) as rest:
        await rest.auth()  # not a DELETE: unaffected
        with pytest.raises(TransportError):
            await call(rest)
    assert len([a for a in rec.attempts if a[0] == "DELETE"]) == 1 and rec.delays == []


async def test_failed_jwt_fetch_is_retried_for_a_get(rest: ParadexRest, rec: Recorder,
                                                     simulator: SimHandle) -> None:
    _arm(simulator, count=1, status=503, method="POST", path="/v1/auth")
    await rest.positions()
    assert rec.count("POST", "/auth") == 2 and rec.count("GET", "/positions") == 1


async def test_failed_jwt_fetch_fails_an_order_post_before_it_is_sent(rest: ParadexRest, rec: Recorder,
                                                                      simulator: SimHandle) -> None:
    _arm(simulator, count=1, status=503, method="POST", path="/v1/auth")
    with pytest.raises(VenueError) as info:
        await rest.place_order(market=BTC, side="BUY", type="LIMIT", size="0.01", price="50000")
    assert info.value.status == 503
    assert rec.count("POST", "/orders") == 0 and await _order_count(simulator) == 0


async def test_order_write_refused_before_writing_says_not_sent(rec: Recorder) -> None:
    from shared.localservers import free_port

    async with ParadexRest(f"http://127.0.0.1:{free_port()}/v1", on_request=rec.on_request) as rest:
        with pytest.raises(TransportError) as info:
            await rest.session.request("DELETE", "/orders")
    assert info.value.delivery == "not_sent" and rec.count("DELETE", "/orders") == 1


async def test_connection_dropped_after_the_request_was_written_says_unknown(rec: Recorder) -> None:
    """A server that reads the whole request then closes without answering: the venue may have
    acted, so the order write is ``unknown`` (and never retried)."""
    got: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        got.append(await reader.readuntil(b"\r\n\r\n"))
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with ParadexRest(f"http://127.0.0.1:{port}/v1", on_request=rec.on_request) as rest:
            with pytest.raises(TransportError) as info:
                await rest.session.request("DELETE", "/orders")
    finally:
        server.close()
    assert info.value.delivery == "unknown" and len(got) == 1 and rec.count("DELETE", "/orders") == 1
