"""Supervisor: a failing task is logged with its traceback, counted and restarted; one that keeps
failing is declared dead and sets ``failed``; ``stop`` cancels; the sink's publishers survive a
failure of their own with nothing queued lost."""

from __future__ import annotations

import asyncio
import logging

import pytest

from services.feed.metrics import FeedMetrics
from services.feed.sink import BusSink
from services.feed.supervise import Supervisor
from shared.bus import BboEvent
from tests.feed import samples as s
from tests.feed.helpers import until


async def test_a_failing_task_is_logged_counted_and_restarted(caplog: pytest.LogCaptureFixture) -> None:
    failures: list[str] = []
    runs = {"n": 0}
    sup = Supervisor(pause_s=0.01, on_failure=failures.append)

    async def flaky() -> None:
        runs["n"] += 1
        if runs["n"] < 3:
            raise RuntimeError(f"boom {runs['n']}")
        await asyncio.Event().wait()

    sup.spawn("flaky", flaky)
    await until(lambda: runs["n"] == 3, what="third start")
    await until(lambda: sup.tasks["flaky"].state == "running", what="running again")
    assert failures == ["flaky", "flaky"] and sup.tasks["flaky"].restarts == 2
    assert sup.healthy and not sup.failed.is_set()
    assert sup.report()["flaky"]["last_error"] == "RuntimeError: boom 2"
    errors = [r for r in caplog.records
              if r.levelno == logging.ERROR and "task flaky failed" in r.getMessage()]
    assert len(errors) == 2 and all(r.exc_info for r in errors)  # with the traceback
    await sup.stop()
    assert sup.tasks["flaky"].state == "stopped"


async def test_a_task_that_keeps_failing_is_dead_and_sets_failed(caplog: pytest.LogCaptureFixture) -> None:
    sup = Supervisor(max_restarts=2, window_s=60, pause_s=0.001)

    async def broken() -> None:
        raise ValueError("always")

    sup.spawn("broken", broken)
    await asyncio.wait_for(sup.failed.wait(), 5)
    assert sup.tasks["broken"].state == "dead" and not sup.healthy
    assert any(r.levelno == logging.CRITICAL and "giving up" in r.getMessage() for r in caplog.records)
    await sup.stop()
    assert sup.tasks["broken"].state == "dead"


async def test_a_crashing_market_publisher_is_restarted_and_the_lane_keeps_flowing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    class _Nc:
        is_connected = True

        def __init__(self) -> None:
            self.sent: list[str] = []

        def jetstream(self) -> None:
            return None

        async def publish(self, subject: str, payload: bytes, headers: object = None) -> None:
            self.sent.append(subject)

    nc = _Nc()
    metrics = FeedMetrics()
    sink = BusSink(nc, "acct", metrics)
    real = sink._publish_batch
    crashes = {"n": 1}

    async def crash_once(*args: object) -> tuple[int, list[object]]:
        if crashes["n"]:
            crashes["n"] -= 1
            raise RuntimeError("publisher bug")
        return await real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(sink, "_publish_batch", crash_once)
    sup = Supervisor(pause_s=0.01, on_failure=lambda name: metrics.task_restarts.labels(name).inc())
    sink.start(sup)
    try:
        sink.put(BboEvent(source="ws", recv_ns=1, bbo=s.bbo(seq=1)))
        await until(lambda: sup.tasks["market-publisher"].restarts == 1, what="a restart")
        assert sink._busy == 0 and sink.market_dropped == 1  # the crashed batch: released, counted
        for i in range(3):
            sink.put(BboEvent(source="ws", recv_ns=i + 2, bbo=s.bbo(seq=i + 2)))
        await until(lambda: len(nc.sent) == 3, what="publishing after the restart")
        assert metrics.task_restarts.labels("market-publisher")._value.get() == 1
        assert sup.tasks["market-publisher"].state == "running" and sup.healthy
    finally:
        await sink.stop()
