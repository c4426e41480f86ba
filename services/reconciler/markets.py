"""The venue's market specs on the bus: ``GET /markets`` (public) -> :class:`MarketsEvent`.

The state service serves them (``GET /v1/markets``) and commands' validation will read them, but
neither talks to the venue for reference data: the reconciler fetches the list at start-up and
every ``interval_s``, and publishes a :class:`MarketsEvent` to the ACCOUNT stream at start-up,
whenever a spec changed (a new, changed or delisted market, or a status that moved with the
venue's clock), and when asked on ``subjects.MARKETS_REQUEST`` (a state replica that starts with
none, e.g. after the stream evicted the last event). An unchanged list is not published again:
the state keeps it in its checkpoint, and the stream stays small.

:func:`specs_of` is the pure part: venue records -> sorted, trimmed specs with a derived status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from shared.bus.events import Event, MarketsEvent, MarketSpec
from shared.bus.subjects import MARKETS_REQUEST
from shared.paradex.models.reference import Market

log = logging.getLogger("reconciler.markets")


def status_of(m: Market, now_ms: int) -> str:
    """``expired`` / ``pre_open`` / ``rfq_only`` / ``open`` by the venue's fields at ``now_ms``."""
    if m.expiry_at and m.expiry_at <= now_ms:
        return "expired"
    if m.open_at and m.open_at > now_ms:
        return "pre_open"
    if m.trading_mode == "RFQ_ONLY":
        return "rfq_only"
    return "open"


def specs_of(markets: Iterable[Market], now_ms: int) -> tuple[MarketSpec, ...]:
    """The venue's markets as :class:`MarketSpec`, sorted by symbol (the last of a repeated symbol)."""
    by_symbol = {m.symbol: m for m in markets}
    return tuple(
        MarketSpec(symbol=m.symbol, status=status_of(m, now_ms), asset_kind=m.asset_kind,
                   base_currency=m.base_currency, quote_currency=m.quote_currency,
                   settlement_currency=m.settlement_currency, price_tick_size=m.price_tick_size,
                   order_size_increment=m.order_size_increment, min_notional=m.min_notional,
                   max_order_size=m.max_order_size, position_limit=m.position_limit,
                   max_open_orders=m.max_open_orders, price_bands_width=m.price_bands_width,
                   trading_mode=m.trading_mode, open_at=m.open_at or 0, expiry_at=m.expiry_at or 0)
        for m in (by_symbol[s] for s in sorted(by_symbol)))


class MarketsPublisher:
    """Fetches ``GET /markets`` and publishes the specs when they changed (or when forced)."""

    def __init__(self, rest: Any, publish: Callable[[Event], Awaitable[int]], *,
                 venue_now_ms: Callable[[], int], interval_s: float = 300.0, timeout_s: float = 10.0,
                 retry_s: float = 5.0) -> None:
        self.rest = rest
        self.publish = publish
        self.venue_now_ms = venue_now_ms
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.retry_s = retry_s
        self.last: tuple[MarketSpec, ...] | None = None
        self.fetches = 0
        self.published = 0
        self.failures = 0
        self._force = True
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sub: Any = None

    async def refresh(self, force: bool = False) -> bool:
        """Fetch once; publish when changed or ``force``. True when published."""
        now = self.venue_now_ms()
        markets = await asyncio.wait_for(self.rest.markets(), self.timeout_s)
        self.fetches += 1
        specs = specs_of(markets, now)
        if not force and specs == self.last:
            return False
        seq = await self.publish(MarketsEvent(source="rest", venue_ts_ms=now, markets=specs))
        self.published += 1
        changed = "first" if self.last is None else "changed" if specs != self.last else "asked for"
        log.info("markets: %d specs published (%s) at stream seq %d", len(specs), changed, seq)
        self.last = specs
        return True

    def request(self) -> None:
        """Publish at the next chance even if nothing changed."""
        self._force = True
        self._wake.set()

    async def start(self, nc: Any | None = None) -> None:
        """Start the loop (first fetch at once); with ``nc``, also answer ``MARKETS_REQUEST``."""
        if nc is not None:
            self._sub = await nc.subscribe(MARKETS_REQUEST, cb=self._on_request)
        self._task = asyncio.create_task(self._run(), name="reconciler-markets")

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _on_request(self, msg: Any) -> None:
        self.request()

    async def _run(self) -> None:
        while True:
            force, self._force = self._force, False
            try:
                await self.refresh(force)
                wait: float | None = self.interval_s if self.interval_s > 0 else None  # 0: on request
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the venue or the bus is down: try again soon
                self.failures += 1
                self._force = self._force or force
                log.warning("markets: fetch/publish failed (retrying in %.1f s): %r", self.retry_s, exc)
                wait = self.retry_s
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
