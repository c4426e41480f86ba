"""The venue's market specs (tick size, size increment, min notional, max size, status), folded
from :class:`~shared.bus.events.MarketsEvent` (pure: no clock, no I/O).

A complete list replaces the table: a market whose spec changed is reported as a ``market_spec``
change, one that is no longer listed as a deletion; an unchanged one is not reported. A partial
list (``complete`` false) only adds and updates. The latest event wins (the reconciler publishes
in the venue's time order; an event older by the venue's clock than the one applied is dropped).
"""

from __future__ import annotations

from services.state.core.model import Change, Result
from shared.bus.events import MarketsEvent, MarketSpec


class MarketSpecs:
    """Market specs by symbol, and the venue time of the list they came from."""

    __slots__ = ("as_of_ms", "specs")

    def __init__(self) -> None:
        self.specs: dict[str, MarketSpec] = {}
        self.as_of_ms = 0

    def apply(self, ev: MarketsEvent, res: Result) -> None:
        """Fold one markets event (see the module docstring)."""
        if ev.venue_ts_ms and ev.venue_ts_ms < self.as_of_ms:
            res.dropped = "stale"
            return
        self.as_of_ms = max(self.as_of_ms, ev.venue_ts_ms)
        specs = self.specs
        new = {m.symbol: m for m in ev.markets}
        if ev.complete:
            for symbol in sorted(set(specs) - set(new)):
                del specs[symbol]
                res.changes.append(Change("market_spec", symbol, None))
        for symbol in sorted(new):
            spec = new[symbol]
            if specs.get(symbol) != spec:
                specs[symbol] = spec
                res.changes.append(Change("market_spec", symbol, spec))
