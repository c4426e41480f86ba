"""What the commands service knows of the venue: market specs (``GET /markets``) and the system
state (``GET /system/state``), loaded at start and refreshed every ``markets_refresh_s`` /
``system_refresh_s``; the venue's own bbo mid as a fallback reference price."""

from __future__ import annotations

import asyncio
import logging
import time
from decimal import Decimal

from shared.paradex.models.reference import Market
from shared.paradex.rest import ParadexRest

log = logging.getLogger("commands.venue")


class VenueView:
    """Market specs and the system status, kept fresh by :meth:`run`."""

    def __init__(self, rest: ParadexRest, markets_refresh_s: float, system_refresh_s: float) -> None:
        self.rest = rest
        self.markets: dict[str, Market] = {}
        self.system_status = "ok"
        self.venue_prices: dict[str, Decimal] = {}
        self._periods = (markets_refresh_s, system_refresh_s)
        self.loaded_at = 0.0
        self.stopped = False

    async def load(self) -> None:
        """Fetch markets and the system state once (raises if the venue is unreachable)."""
        await self.load_markets()
        await self.load_system()

    async def load_markets(self) -> None:
        self.markets = {m.symbol: m for m in await self.rest.markets()}
        self.loaded_at = time.time()

    async def load_system(self) -> None:
        self.system_status = (await self.rest.system_state()).status
        for symbol in self.markets:
            try:
                q = await self.rest.bbo(symbol)
            except Exception as exc:  # a fallback price only; the state's bbo key is preferred
                log.debug("venue bbo of %s not read: %r", symbol, exc)
                continue
            bid, ask = q.bid_value, q.ask_value  # None when a book side is empty
            if bid is not None and ask is not None and bid > 0 and ask > 0:
                self.venue_prices[symbol] = (bid + ask) / 2

    async def run(self) -> None:
        """Refresh until :attr:`stopped` (errors are logged; the last good values stay)."""
        markets_every, system_every = self._periods
        next_markets = time.monotonic() + markets_every
        while not self.stopped:
            await asyncio.sleep(system_every)
            try:
                await self.load_system()
                if time.monotonic() >= next_markets:
                    await self.load_markets()
                    next_markets = time.monotonic() + markets_every
            except Exception as exc:  # keep serving with the last specs
                log.warning("venue refresh failed: %r", exc)
