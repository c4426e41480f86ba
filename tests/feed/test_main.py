"""``python -m services.feed`` wiring: exit status 1 when a supervised task gave up (so the
process supervisor restarts the feed), 0 on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import pytest

import services.feed.__main__ as feed_main


class _GivesUp:
    """Stands in for FeedService: its tasks 'give up' right after start."""

    stopped = False

    def __init__(self, settings: Any, nc: Any, jwt: Any) -> None:
        self.failed = asyncio.Event()

    async def start(self) -> None:
        asyncio.get_running_loop().call_later(0.05, self.failed.set)

    async def stop(self) -> None:
        _GivesUp.stopped = True


async def test_main_exits_1_when_a_task_gave_up(monkeypatch: pytest.MonkeyPatch, nats_url: str) -> None:
    monkeypatch.setenv("NATS_URL", nats_url)
    monkeypatch.setattr(feed_main, "FeedService", _GivesUp)
    assert await asyncio.wait_for(feed_main.main(), 10) == 1
    assert _GivesUp.stopped  # it still stopped (drained) before exiting


class _Healthy(_GivesUp):
    async def start(self) -> None:
        asyncio.get_running_loop().call_later(0.05, os.kill, os.getpid(), signal.SIGTERM)


async def test_main_exits_0_on_sigterm(monkeypatch: pytest.MonkeyPatch, nats_url: str) -> None:
    monkeypatch.setenv("NATS_URL", nats_url)
    monkeypatch.setattr(feed_main, "FeedService", _Healthy)
    assert await asyncio.wait_for(feed_main.main(), 10) == 0
