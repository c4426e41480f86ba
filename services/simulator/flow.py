"""A steady flow of private pushes for latency benchmarks: resting orders placed and cancelled.

``PUT /control/order_flow`` ``{"rate": R, "market"?, "account"?, "resting"?}`` places ``R``
orders per second (0 = off) for the account (default: the simulator's): resting LIMIT BUYs
below the mark (inside the venue's price band, so they never trade), size just above the
market's minimum notional, client ids ``flow-<n>``. Once more than ``resting`` of them are
open, the oldest is cancelled with each new one. Each order goes through the engine like a REST
order (NEW, then OPEN; CLOSED on its cancel; account updates), so every push is a faithful
venue push; only the REST layer and its signature check are skipped (the benchmark measures
the hub, not the venue's order entry). ``POST /control/order_flow/step`` ``{"orders": N}`` does
``N`` such steps at once (the idle path: one venue action at a time).

Both answer ``{"rate", "placed", "cancelled", "open"}``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from decimal import ROUND_DOWN, ROUND_UP, Decimal

import msgspec

from shared.errors import VenueError

from .engine import OrderRequest
from .engine.types import EngineError
from .venue import Venue, normalize_account

log = logging.getLogger(__name__)

MAX_BATCH = 64  # orders per loop turn at most (a high rate must not starve the servers)


class FlowSpec(msgspec.Struct, forbid_unknown_fields=True):
    rate: float
    market: str = ""
    account: str = ""
    resting: int = 20


class FlowStep(msgspec.Struct, forbid_unknown_fields=True):
    orders: int = 1


class OrderFlow:
    """Places and cancels resting orders at ``rate`` per second (a background task)."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.rate = 0.0
        self.market = ""
        self.account = ""
        self.resting = 20
        self.placed = 0
        self.cancelled = 0
        self.failed = 0
        self._open: deque[str] = deque()
        self._task: asyncio.Task[None] | None = None

    def configure(self, spec: FlowSpec) -> None:
        """Apply ``spec`` (VenueError 400 for an unknown market or a bad number)."""
        ex = self.venue.exchange
        market = spec.market or next(iter(ex.markets))
        if market not in ex.markets:
            raise VenueError(400, "VALIDATION_ERROR", f"unknown market {market!r}")
        if spec.rate < 0 or not 1 <= spec.resting <= 90:
            raise VenueError(400, "VALIDATION_ERROR", "rate must be >= 0 and resting within 1..90")
        account = normalize_account(spec.account or self.venue.account)
        if (market, account) != (self.market, self.account):
            self._cancel_all()
        self.market, self.account, self.resting, self.rate = market, account, spec.resting, spec.rate
        if self.rate > 0 and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._run(), name="sim-order-flow")

    def status(self) -> dict[str, float | int]:
        return {"rate": self.rate, "placed": self.placed, "cancelled": self.cancelled,
                "failed": self.failed, "open": len(self._open)}

    def step(self, orders: int = 1) -> None:
        """Place ``orders`` orders now (cancelling the oldest beyond ``resting``)."""
        if not self.market:
            self.configure(FlowSpec(rate=0))
        venue, ex = self.venue, self.venue.exchange
        cfg = ex.market(self.market)
        mark = ex.mark_price(self.market)
        price = (mark * (1 - cfg.price_bands_width / 2) / cfg.price_tick_size).to_integral_value(
            ROUND_DOWN) * cfg.price_tick_size
        size = (cfg.min_notional * Decimal("1.5") / price / cfg.order_size_increment).to_integral_value(
            ROUND_UP) * cfg.order_size_increment
        for _ in range(orders):
            n = self.placed + self.failed
            request = OrderRequest(market=self.market, side="BUY", type="LIMIT", size=size, price=price,
                                   client_id=f"flow-{n}")
            try:
                view, events = ex.run_now(self.account, request, venue.now_ms(), internal=False)
            except EngineError as exc:  # e.g. margin: counted, the flow goes on
                self.failed += 1
                if self.failed % 1000 == 1:
                    log.warning("order flow: order refused: %s", exc)
                continue
            self.placed += 1
            venue.publish(events)
            self._open.append(view.id)
            while len(self._open) > self.resting:
                venue.publish(ex.cancel_now(self._open.popleft(), venue.now_ms()))
                self.cancelled += 1

    def _cancel_all(self) -> None:
        ex = self.venue.exchange
        while self._open:
            self.venue.publish(ex.cancel_now(self._open.popleft(), self.venue.now_ms()))
            self.cancelled += 1

    async def _run(self) -> None:
        due, last = 0.0, time.monotonic()
        while self.rate > 0:
            now = time.monotonic()
            due = min(due + (now - last) * self.rate, max(self.rate, 1.0))  # at most 1 s of backlog
            last = now
            batch = min(int(due), MAX_BATCH)
            if batch:
                try:
                    self.step(batch)
                except Exception:  # a bug must not end the flow silently
                    log.exception("order flow step failed")
                due -= batch
            await asyncio.sleep(0 if due >= 1 else (1 - due) / self.rate)

    async def stop(self) -> None:
        self.rate = 0.0
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
