"""A reconciler under test: the service on the in-process simulator and real NATS, with taps."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec
import nats
import pytest

from services.reconciler.service import ReconcilerService
from services.reconciler.settings import Settings
from shared.bus import EventPublisher, ensure_streams, subjects
from shared.bus.events import Event
from shared.paradex.rest import ParadexRest, RequestTiming, RestTimeouts
from shared.paradex.retry import BackoffPolicy
from shared.settings import Secret, load
from tests.feed.helpers import BusTap
from tests.simfixture import SimHandle

BTC = "BTC-USD-PERP"


class RecordingPublisher(EventPublisher):
    """An EventPublisher that also notes each publish in a shared timeline (with REST requests)."""

    def __init__(self, js: Any, account: str, timeline: list[tuple[str, Any]]) -> None:
        super().__init__(js, account)
        self.timeline = timeline

    async def publish(self, event: Event) -> int:
        self.timeline.append(("pub", event))
        return await super().publish(event)


class Rec:
    """A started reconciler: service, REST client, bus tap, and the publish/request timeline."""

    def __init__(self, service: ReconcilerService, rest: ParadexRest, tap: BusTap, token: str,
                 timeline: list[tuple[str, Any]], nc: Any) -> None:
        self.service, self.rest, self.tap, self.token, self.timeline, self.nc = \
            service, rest, tap, token, timeline, nc
        self.responses: list[RequestTiming] = []

    def events_of(self, snapshot_id: str) -> list[Any]:
        """Tapped events of one snapshot, in bus order."""
        return [e for _, e, _ in self.tap.items if getattr(e, "snapshot_id", None) == snapshot_id]


RecFactory = Callable[..., Awaitable[Rec]]


@pytest.fixture
async def start_reconciler(nats_url: str) -> AsyncIterator[RecFactory]:
    started: list[Rec] = []

    async def make(sim: SimHandle, *, on_response: Callable[[RequestTiming], None] | None = None,
                   **overrides: Any) -> Rec:
        nc = await nats.connect(nats_url, max_reconnect_attempts=2)
        await ensure_streams(nc.jetstream())
        kw: dict[str, Any] = {
            "paradex_rest_url": sim.rest_url, "paradex_account": sim.account,
            "paradex_l2_private_key": Secret(sim.private_key), "http_port": 0, "interval_s": 3600.0,
            "fast_interval_s": 0.0,
            "page_size": 50, "coalesce_s": 0.05, "backoff_initial_s": 0.01, "backoff_max_s": 0.05,
            "max_retries": 1, "request_timeout_s": 2.0, "rate_per_s": 2000.0, "rate_burst": 1000,
            "part_timeout_s": 10.0, "shutdown_grace_s": 2.0,
        }
        settings = load(Settings, env={}, **{**kw, **overrides})
        token = "t" + uuid.uuid4().hex[:12]  # own subjects: other tests' events never mix in
        timeline: list[tuple[str, Any]] = []
        rec_holder: list[Rec] = []

        def on_request(method: str, path: str, attempt: int) -> None:
            timeline.append(("req", path))

        def on_resp(timing: RequestTiming) -> None:
            if rec_holder:
                rec_holder[0].responses.append(timing)
            if on_response is not None:
                on_response(timing)

        rest = ParadexRest(sim.rest_url, signer=sim.signer,
                           retry_policy=BackoffPolicy(initial_s=settings.backoff_initial_s,
                                                      max_s=settings.backoff_max_s),
                           max_retries=settings.max_retries,
                           timeouts=RestTimeouts(read_s=settings.request_timeout_s),
                           on_request=on_request, on_response=on_resp)
        tap = await BusTap().start(nc, subjects.account_filter(token))
        service = ReconcilerService(settings, nc, rest,
                                    publisher=RecordingPublisher(nc.jetstream(), token, timeline))
        rec = Rec(service, rest, tap, token, timeline, nc)
        rec_holder.append(rec)
        await service.start()
        started.append(rec)
        return rec

    try:
        yield make
    finally:
        for rec in started:
            await rec.service.stop()
            await rec.rest.aclose()
            await rec.tap.stop()
            with contextlib.suppress(Exception):
                await rec.nc.drain()


def ack_of(data: bytes) -> dict[str, Any]:
    """A decoded reconcile ack."""
    out: dict[str, Any] = msgspec.json.decode(data)
    return out
