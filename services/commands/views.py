"""What the commands service knows of the venue and the account, refreshed in the background.

* :class:`VenueView`: market specs (``GET /markets``) and system state (``GET /system/state``),
  loaded at start and refreshed every ``markets_refresh_s`` / ``system_refresh_s``.
* :class:`ExposureView`: live orders and positions read from the STATE SERVICE's Redis keys
  (services/state/keys.py, README "Redis key schema"), every ``exposure_refresh_s``:

  - ``HGETALL pdx:<a>:orders`` (order key -> status): keys whose status is not CLOSED/REJECTED
    are live; then ``GET pdx:<a>:order:<key>`` of each live key (``value.client_id``, ``market``,
    ``side``, ``remaining_size``);
  - ``SMEMBERS pdx:<a>:positions`` then ``GET pdx:<a>:position:<market>`` (``value.position.size``
    normalised by ``side``);
  - ``GET pdx:md:bbo:<market>`` for a reference price (mid) of MARKET orders;
  - owners of live client ids from this service's ``pdx:<a>:cmd:cid:<client_id>`` records.

  Orders this service has sent but the state has not shown yet are kept in memory
  (``inflight``) and merged in, so two quick orders cannot both slip under a limit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from decimal import Decimal
from typing import Any

import msgspec

from services.commands.core.risk import Exposure, LiveOrder
from services.commands.store import CommandStore
from shared.paradex.models.reference import Market
from shared.paradex.rest import ParadexRest

log = logging.getLogger("commands.views")
TERMINAL = frozenset({"CLOSED", "REJECTED"})
INFLIGHT_MAX_AGE_S = 30.0


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
            except Exception:  # a fallback price only; the state's bbo key is preferred
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


class _OrderValue(msgspec.Struct):
    client_id: str = ""
    id: str = ""
    market: str = ""
    side: str = ""
    remaining_size: Decimal = Decimal(0)
    status: str = ""


class _PositionInner(msgspec.Struct):
    side: str = ""
    size: Decimal = Decimal(0)


class _PositionValue(msgspec.Struct):
    position: _PositionInner = msgspec.field(default_factory=_PositionInner)


class _BboValue(msgspec.Struct):
    bid: Decimal = Decimal(0)
    ask: Decimal = Decimal(0)


class _Body(msgspec.Struct):
    value: msgspec.Raw = msgspec.Raw(b"null")


_body = msgspec.json.Decoder(_Body)


def _value(raw: bytes | None, type_: type[Any]) -> Any:
    if raw is None:
        return None
    try:
        inner = _body.decode(raw).value
        return msgspec.json.decode(inner, type=type_) if bytes(inner) != b"null" else None
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None


class ExposureView:
    """The account's live orders, positions and reference prices (see the module docstring)."""

    def __init__(self, redis: Any, account: str, store: CommandStore, markets: list[str]) -> None:
        self.redis = redis
        self.base = f"pdx:{account}"
        self.store = store
        self.markets = markets
        self.exposure = Exposure()
        self.inflight: dict[str, tuple[LiveOrder, float]] = {}
        self.owners: dict[str, str] = {}
        self.by_order_id: dict[str, str] = {}
        self.refreshed_at = 0.0
        self.venue_prices: dict[str, Decimal] = {}
        #: Set on shutdown: redis-py can swallow a cancellation that lands inside a command, so the
        #: loop also checks this flag.
        self.stopped = False

    def add_inflight(self, order: LiveOrder) -> None:
        """Count an order this service is sending (until the state shows it, or 30 s)."""
        self.inflight[order.client_id] = (order, time.monotonic())
        self.owners[order.client_id] = order.owner
        self.exposure.orders[order.client_id] = order

    def drop_inflight(self, client_id: str) -> None:
        """Stop counting an order the venue refused or never received."""
        if self.inflight.pop(client_id, None) is not None:
            self.exposure.orders.pop(client_id, None)

    async def refresh(self) -> None:
        """Re-read the state's keys (three pipelined round trips at most)."""
        b = self.base
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(f"{b}:orders")
        pipe.smembers(f"{b}:positions")
        statuses, position_markets = await pipe.execute()
        live = [
            k.decode() if isinstance(k, bytes) else k
            for k, s in statuses.items()
            if (s.decode() if isinstance(s, bytes) else s) not in TERMINAL
        ]
        pmarkets = sorted(m.decode() if isinstance(m, bytes) else m for m in position_markets)
        pipe = self.redis.pipeline(transaction=False)
        for k in live:
            pipe.get(f"{b}:order:{k}")
        for m in pmarkets:
            pipe.get(f"{b}:position:{m}")
        for m in self.markets:
            pipe.get(f"pdx:md:bbo:{m}")
        raw = await pipe.execute()
        orders: dict[str, LiveOrder] = {}
        by_oid: dict[str, str] = {}
        for r in raw[: len(live)]:
            o = _value(r, _OrderValue)
            if o is None or o.status in TERMINAL:
                continue
            cid = o.client_id or f"id:{o.id}"
            orders[cid] = LiveOrder(cid, o.market, o.side, o.remaining_size, self.owners.get(cid, ""))
            if o.id:
                by_oid[o.id] = cid
        unknown = [c for c in orders if c not in self.owners and not c.startswith("id:")]
        if unknown:
            self.owners.update(await self.store.owners(unknown))
            for c in unknown:
                self.owners.setdefault(c, "")
                o = orders[c]
                orders[c] = LiveOrder(c, o.market, o.side, o.remaining, self.owners[c])
        positions: dict[str, Decimal] = {}
        for m, r in zip(pmarkets, raw[len(live) : len(live) + len(pmarkets)], strict=True):
            p = _value(r, _PositionValue)
            if p is not None:
                size = abs(p.position.size)
                positions[m] = -size if p.position.side == "SHORT" else size
        prices = dict(self.venue_prices)
        for m, r in zip(self.markets, raw[len(live) + len(pmarkets) :], strict=True):
            q = _value(r, _BboValue)
            if q is not None and q.bid > 0 and q.ask > 0:
                prices[m] = (q.bid + q.ask) / 2
        now = time.monotonic()
        for cid, (order, at) in list(self.inflight.items()):
            if cid in orders or now - at > INFLIGHT_MAX_AGE_S:
                del self.inflight[cid]
            else:
                orders[cid] = order
        self.exposure = Exposure(orders=orders, positions=positions, prices=prices)
        self.by_order_id = by_oid
        self.refreshed_at = time.time()

    async def run(self, every_s: float) -> None:
        """Refresh until :attr:`stopped` (errors logged; the last snapshot stays)."""
        while not self.stopped:
            try:
                await self.refresh()
            except Exception as exc:
                log.warning("exposure refresh failed: %r", exc)
            await asyncio.sleep(every_s)
