"""Background tasks: the synthetic market on a timer, periodic summaries, throttled book snapshots,
the venue schedule (``Venue.run_schedule``: funding, TWAP children, health checks).

``Drivers.synthetic_rate`` (steps per second, 0 = off) may be changed at run time (control API).
Steps due are run in batches of at most ``MAX_BATCH`` with a yield to the event loop in between,
so a very high rate saturates the engine without starving the servers.
"""

from __future__ import annotations

import asyncio
import logging
import time

from .engine import VenueEvent
from .venue import Venue
from .ws.hub import Hub

log = logging.getLogger(__name__)

MAX_BATCH = 16


class Drivers:
    """Owns the background tasks of one simulator."""

    def __init__(
        self, venue: Venue, hub: Hub, synthetic_rate: float, summary_interval_ms: int,
        schedule_interval_ms: int = 0,
    ) -> None:
        self.venue = venue
        self.schedule_interval_ms = schedule_interval_ms
        self.hub = hub
        self.synthetic_rate = synthetic_rate
        self.summary_interval_ms = summary_interval_ms
        self.steps = 0
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._synthetic()),
            asyncio.create_task(self._summaries()),
            asyncio.create_task(self._snapshots()),
        ]
        if self.schedule_interval_ms > 0:
            self._tasks.append(asyncio.create_task(self._schedule()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _synthetic(self) -> None:
        due, last = 0.0, time.monotonic()
        while True:
            rate = self.synthetic_rate
            now = time.monotonic()
            if rate <= 0:
                due, last = 0.0, now
                await asyncio.sleep(0.05)
                continue
            due = min(due + (now - last) * rate, rate)  # never more than 1 s of backlog
            last = now
            batch = min(int(due), MAX_BATCH)
            if batch:
                try:
                    self.venue.step_synthetic(batch)
                except Exception:
                    log.exception("synthetic step failed")
                self.steps += batch
                due -= batch
            await asyncio.sleep(0 if due >= 1 else min((1 - due) / rate, 0.05))

    async def _summaries(self) -> None:
        """Summary and funding pushes while the synthetic market (which sends its own) is off."""
        while True:
            interval = self.summary_interval_ms
            await asyncio.sleep(interval / 1000 if interval > 0 else 0.25)
            if interval <= 0 or self.synthetic_rate > 0:
                continue
            ex = self.venue.exchange
            try:
                events: list[VenueEvent] = [ex.market_summary(m) for m in ex.markets]
                events += [ex.funding_data(m) for m in ex.markets]
            except Exception:
                log.exception("summary update failed")
                continue
            self.venue.publish(events)

    async def _schedule(self) -> None:
        """The venue's schedule: funding accrual and payments, TWAP children, health checks."""
        while True:
            await asyncio.sleep(self.schedule_interval_ms / 1000)
            self.venue.run_schedule()  # logs its own failures

    async def _snapshots(self) -> None:
        tick = 0
        while True:
            await asyncio.sleep(0.05)
            tick += 1
            self.hub.tick_snapshots(50)
            if tick % 2 == 0:
                self.hub.tick_snapshots(100)
