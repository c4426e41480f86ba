"""The reconciler against hostile REST answers: the simulator answers, a man-in-the-middle httpx
transport corrupts chosen responses (the same classes of garbage as the feed's hostile suite).
For each: nothing invalid is published, the refused records are counted by reason and
dead-lettered on ``pdx.dlq.reconciler``, the snapshot part that refused anything is incomplete
(the other parts complete), and the good records of the same response are still published."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import msgspec
import nats
import pytest

from services.reconciler.service import ReconcilerService
from services.reconciler.settings import Settings
from shared.bus import EventPublisher, ensure_streams, subjects
from shared.bus.deadletter import DeadLetter, check_event, decode_dead_letter
from shared.bus.events import LookupResult, OrderEvent, SnapshotFinished
from shared.paradex.rest import ParadexRest
from shared.paradex.validate import Scope
from shared.settings import Secret, load
from tests.feed.helpers import BusTap, until
from tests.simfixture import SimHandle

BTC = "BTC-USD-PERP"
Mutate = Callable[[Any], Any]


class CorruptingTransport(httpx.AsyncBaseTransport):
    """Forwards to the real transport; responses of ``path`` go through ``mutate`` (JSON in, JSON
    or raw bytes out)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.rules: dict[str, Mutate] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        mutate = self.rules.get(request.url.path.removeprefix("/v1"))
        if mutate is None or response.status_code != 200:
            return response
        body = msgspec.json.decode(await response.aread())
        out = mutate(body)
        content = out if isinstance(out, bytes) else msgspec.json.encode(out)
        return httpx.Response(200, headers={"content-type": "application/json"}, content=content,
                              request=request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class Rig:
    def __init__(self, service: ReconcilerService, tap: BusTap, dead: list[DeadLetter], scope: Scope) -> None:
        self.service, self.tap, self.dead, self.scope = service, tap, dead, scope

    def invalid(self) -> list[str]:
        return [f"{type(e).__name__}: {check_event(e, self.scope)}" for _, e, _ in self.tap.items
                if check_event(e, self.scope) is not None]

    def orders(self) -> list[Any]:
        return [e.order for _, e, _ in self.tap.items if isinstance(e, OrderEvent)]


RigFactory = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def rig(nats_url: str, simulator: SimHandle) -> AsyncIterator[RigFactory]:
    made: list[tuple[ReconcilerService, ParadexRest, BusTap, Any, Any]] = []

    async def make(rules: dict[str, Mutate], **overrides: Any) -> Rig:
        nc = await nats.connect(nats_url)
        await ensure_streams(nc.jetstream())
        kw: dict[str, Any] = dict(paradex_rest_url=simulator.rest_url, paradex_account=simulator.account,
                                  paradex_l2_private_key=Secret(simulator.private_key), http_port=0,
                                  interval_s=3600.0, fast_interval_s=0.0, max_retries=0, part_timeout_s=10.0)
        settings = load(Settings, env={}, **{**kw, **overrides})
        transport = CorruptingTransport()
        transport.rules.update(rules)
        rest = ParadexRest(simulator.rest_url, signer=simulator.signer, transport=transport)
        token = "t" + uuid.uuid4().hex[:12]
        tap = await BusTap().start(nc, subjects.account_filter(token))
        dead: list[DeadLetter] = []

        async def on_dead(msg: Any) -> None:
            dead.append(decode_dead_letter(msg.data))

        dlq = await nc.subscribe(subjects.RECONCILER_DLQ, cb=on_dead)
        service = ReconcilerService(settings, nc, rest, publisher=EventPublisher(nc.jetstream(), token))
        await service.start()
        made.append((service, rest, tap, dlq, nc))
        return Rig(service, tap, dead, Scope.of(simulator.account))

    try:
        yield make
    finally:
        for service, rest, tap, dlq, nc in made:
            await service.stop()
            await rest.aclose()
            await tap.stop()
            await dlq.unsubscribe()
            with contextlib.suppress(Exception):
                await nc.drain()


@pytest.fixture
async def orders(simulator: SimHandle) -> list[str]:
    """Two resting orders and a filled one (so there are fills and a position)."""
    bid, _ = simulator.best(BTC)
    async with ParadexRest(simulator.rest_url, signer=simulator.signer) as rest:
        ids = [(await rest.place_order(market=BTC, side="BUY", type="LIMIT", size="0.01",
                                       price=str(bid - 1000 - i), client_id=f"h-{i}")).id for i in range(2)]
        await rest.place_order(market=BTC, side="BUY", type="MARKET", size="0.001", instruction="IOC",
                               client_id="h-taker")
    simulator.venue.process_now()
    return ids


async def snapshot(r: Rig) -> Any:
    def finished() -> bool:
        return bool(r.service.reports) and any(isinstance(e, SnapshotFinished) for _, e, _ in r.tap.items)

    await until(finished, 10, "the start-up snapshot")
    return r.service.reports[0]


def first_result(field: str, value: Any) -> Mutate:
    def mutate(body: Any) -> Any:
        body["results"][0][field] = value
        return body
    return mutate


async def check(r: Rig, part: str, reason: str, n: int = 1) -> Any:
    """The common promises; the report."""
    report = await snapshot(r)
    outcome = report.parts[part]
    assert not outcome.complete and "refused by validation" in outcome.error, report.parts
    assert all(p.complete for name, p in report.parts.items() if name != part), report.errors
    assert not report.complete
    assert r.invalid() == []
    await until(lambda: sum(1 for d in r.dead if d.reason == reason) >= n, 5, f"{reason} dead letters")
    assert r.service.gate.counts[reason] >= n
    letter = next(d for d in r.dead if d.reason == reason)
    assert letter.service == "reconciler" and letter.source == "rest" and letter.where.startswith("GET /")
    return report


async def test_nan_size_in_one_open_order_refuses_it_and_keeps_its_neighbour(
        rig: RigFactory, orders: list[str]) -> None:
    r = await rig({"/orders": first_result("size", "NaN")})
    report = await check(r, "open_orders", "non_finite")
    assert report.parts["open_orders"].count == 1  # the neighbour was published
    raw = next(d for d in r.dead if d.reason == "non_finite").raw
    assert '"size":"NaN"' in raw and sum(oid in raw for oid in orders) == 1


async def test_infinite_price_in_fills(rig: RigFactory, orders: list[str]) -> None:
    await check(await rig({"/fills": first_result("price", "Infinity")}), "fills", "non_finite")


async def test_invalid_json_body(rig: RigFactory, orders: list[str]) -> None:
    r = await rig({"/positions": lambda body: b'{"results": [ {'})
    report = await snapshot(r)
    assert not report.parts["positions"].complete and r.invalid() == []
    await until(lambda: any(d.reason == "bad_json" for d in r.dead), 5, "bad_json dead letter")


async def test_wrong_types(rig: RigFactory, orders: list[str]) -> None:
    r = await rig({"/account": lambda body: {**body, "account_value": [1, 2]}})
    report = await snapshot(r)
    assert not report.parts["account"].complete and r.invalid() == []
    await until(lambda: any(d.reason == "bad_schema" for d in r.dead), 5, "bad_schema dead letter")
    assert r.service.gate.counts["bad_schema"] == 1


async def test_negative_seq_no(rig: RigFactory, orders: list[str]) -> None:
    await check(await rig({"/positions": first_result("seq_no", -4)}), "positions", "negative_seq")


async def test_unknown_status(rig: RigFactory, orders: list[str]) -> None:
    await check(await rig({"/orders-history": first_result("status", "EXPLODED")}), "order_history",
                "unknown_enum")


async def test_another_accounts_order(rig: RigFactory, orders: list[str]) -> None:
    r = await rig({"/orders": first_result("account", "0xdeadbeef")})
    await check(r, "open_orders", "foreign_account")


async def test_a_market_name_with_subject_wildcards(rig: RigFactory, orders: list[str]) -> None:
    await check(await rig({"/fills": first_result("market", "BTC.>*")}), "fills", "unsafe_market")


async def test_every_record_refused_in_a_page_is_counted(rig: RigFactory, orders: list[str]) -> None:
    def all_nan(body: Any) -> Any:
        for item in body["results"]:
            item["remaining_size"] = "sNaN"
        return body

    r = await rig({"/orders": all_nan})
    report = await check(r, "open_orders", "non_finite", n=2)
    assert report.parts["open_orders"].count == 0 and "2 records refused" in report.parts["open_orders"].error


async def test_a_lookup_answered_with_garbage_is_an_error_never_an_order(
        rig: RigFactory, orders: list[str]) -> None:
    oid = orders[0]
    r = await rig({f"/orders/{oid}": lambda body: {**body, "status": "EXPLODED"}}, run_at_startup=False)
    [result] = await r.service.runner.lookups.resolve([oid], [], [], r.service._publish)
    assert isinstance(result, LookupResult)
    assert not result.found and result.order is None and "refused by validation: unknown_enum" in result.error
    await until(lambda: any(d.reason == "unknown_enum" and d.where == "GET /orders/{id}" for d in r.dead), 5,
                "the dead letter")
