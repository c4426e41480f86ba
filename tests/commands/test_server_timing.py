"""Order answers carry ``Server-Timing: hub;dur=<ms>, venue;dur=<ms>`` (services.commands.timing):
the hub's share (arrival to the venue request leaving) and the venue's, for every place that sent a
venue request, on both transports; none on an answer that sent nothing (a refusal, a replay)."""

from __future__ import annotations

import re

import httpx
import pytest

from services.commands.timing import Timing
from tests.commands.helpers import Factory
from tests.simfixture import SimHandle

HEADER = re.compile(r"^hub;dur=(\d+\.\d{3}), venue;dur=(\d+\.\d{3})$")


def durations(r: httpx.Response) -> tuple[float, float]:
    m = HEADER.match(r.headers.get("Server-Timing", ""))
    assert m is not None, dict(r.headers)
    return float(m.group(1)), float(m.group(2))


@pytest.mark.parametrize("transport", ["rest", "ws"])
async def test_a_placed_order_answers_the_hub_and_venue_shares(
    simulator: SimHandle, start_commands: Factory, unique: str, transport: str
) -> None:
    cmd = await start_commands(simulator, transport=transport)
    r = await cmd.place(client_id=f"mm-st-{transport}-{unique}")
    assert r.status_code == 201, r.text
    hub_ms, venue_ms = durations(r)
    assert 0 < hub_ms < 5000 and 0 < venue_ms < 5000
    assert abs(cmd.service.added_s[-1] * 1000 - hub_ms) < 0.001  # the same figure as the metric
    replay = await cmd.place(client_id=f"mm-st-{transport}-{unique}")
    assert replay.headers["Idempotent-Replay"] == "true" and "Server-Timing" not in replay.headers


async def test_a_venue_rejection_still_times_both_hops(simulator: SimHandle, start_commands: Factory) -> None:
    cmd = await start_commands(simulator)
    async with httpx.AsyncClient(base_url=simulator.control_url) as ctl:
        await ctl.post(
            "/rest/errors", json={"kind": "status", "status": 400, "path": "/v1/orders", "method": "POST"}
        )
    r = await cmd.place()
    assert r.status_code == 400
    durations(r)


async def test_an_answer_that_sent_nothing_carries_no_timing(
    simulator: SimHandle, start_commands: Factory
) -> None:
    cmd = await start_commands(simulator)
    r = await cmd.place(size="NaN")
    assert r.status_code == 422 and "Server-Timing" not in r.headers


def test_timing_counts_the_first_venue_request_only() -> None:
    t = Timing(0.0)
    assert t.header() is None
    first = t.left()
    assert first is not None and first > 0 and t.left() is None and t.hub_s == first
    assert t.header() == f"hub;dur={first * 1000:.3f}"
    t.venue_s = 0.0021
    assert t.header() == f"hub;dur={first * 1000:.3f}, venue;dur=2.100"
