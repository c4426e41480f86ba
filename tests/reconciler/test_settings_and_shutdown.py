"""Settings from the environment, and SIGTERM-style shutdown (finish or abandon the run)."""

from __future__ import annotations

import time

import pytest

from services.reconciler.settings import Settings
from services.simulator.faults import RestFault
from shared.bus import SnapshotFinished
from shared.errors import ConfigError
from shared.settings import load
from tests.feed.helpers import until
from tests.reconciler.helpers import RecFactory
from tests.simfixture import SimHandle


def test_settings_load_from_the_compose_style_environment() -> None:
    s = load(Settings, env={"RECONCILER_HTTP_HOST": "0.0.0.0", "RECONCILER_HTTP_PORT": "8083",
                            "RECONCILER_INTERVAL_S": "30", "NATS_URL": "nats://nats:4222"})
    assert (s.http_host, s.http_port, s.interval_s, s.nats_url) == ("0.0.0.0", 8083, 30.0, "nats://nats:4222")
    assert load(Settings, env={}).interval_s == 300.0


def test_unknown_or_malformed_setting_names_the_variable() -> None:
    with pytest.raises(ConfigError) as unknown:
        load(Settings, env={"RECONCILER_INTERVAL": "30"})
    assert unknown.value.variable == "RECONCILER_INTERVAL"
    with pytest.raises(ConfigError) as bad:
        load(Settings, env={"RECONCILER_HTTP_PORT": "eighty"})
    assert bad.value.variable == "RECONCILER_HTTP_PORT"


async def test_stop_abandons_a_hanging_run_and_closes_its_snapshot_incomplete(
        simulator: SimHandle, start_reconciler: RecFactory) -> None:
    simulator.sim.faults.rest_errors.append(RestFault(count=1, kind="hang", hang_ms=5000, path="/v1/fills"))
    rec = await start_reconciler(simulator, request_timeout_s=10.0, shutdown_grace_s=0.2)
    await until(lambda: rec.service.lanes.running and any(
        k == "req" and p == "/fills" for k, p in rec.timeline), 10, "run stuck on /fills")
    t0 = time.monotonic()
    await rec.service.stop()
    assert time.monotonic() - t0 < 3
    await until(lambda: any(isinstance(e, SnapshotFinished) for _, e, _ in rec.tap.items), 5, "finished")
    finished = next(e for _, e, _ in rec.tap.items if isinstance(e, SnapshotFinished))
    assert not finished.complete and "abandoned: shutdown" in finished.errors
    assert rec.service.reports == []


async def test_stop_lets_an_idle_service_exit_at_once(simulator: SimHandle,
                                                     start_reconciler: RecFactory) -> None:
    rec = await start_reconciler(simulator)
    await until(lambda: len(rec.service.reports) == 1, 10, "start-up run")
    t0 = time.monotonic()
    await rec.service.stop()
    assert time.monotonic() - t0 < 1
    assert rec.service.reports[0].complete
