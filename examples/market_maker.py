"""Example strategy: quote one bid and one ask around the mid, re-quote when the mid moves.

Run it next to ``make run`` (README "Example strategy")::

    MM_TOKEN=paper-trading-dev-token .venv/bin/python -m examples.market_maker

- the best bid/offer comes from the state service's SSE stream (``/v1/events?kinds=bbo``): one
  HTTP read at start, then every change as it happens, reconnecting by itself;
- the market's price tick, size increment and minimum notional come from ``/v1/markets`` (the
  state's; the venue's public ``/markets`` where the state does not serve it), so quotes are never
  refused for being off the tick; ``MM_SIZE`` is rounded to the increment, and raised to the
  minimum notional when below it;
- every order carries a client id starting with ``MM_CLIENT_PREFIX`` (``mm``) and on stop
  (SIGINT/SIGTERM) only live orders with that prefix are cancelled: orders you placed by hand with
  the same token stay;
- it logs what it did: "quoted" only for quotes the commands service took, each refusal with its
  rule, a book it will not quote on once (not at every tick).

Settings (environment, prefix ``MM_``): ``STATE_URL``, ``COMMANDS_URL``, ``VENUE_URL`` (the venue's
REST base, for the markets fallback; default ``PARADEX_REST_URL``), ``TOKEN``, ``MARKET``, ``SIZE``,
``HALF_SPREAD_BPS`` (distance of each quote from the mid), ``REQUOTE_BPS`` (re-quote when the mid
moved more than this since the last quotes), ``CLIENT_PREFIX``.

The quoting rules are pure functions (:func:`quotes`, :func:`needs_requote`, :func:`quote_size`);
the class around them is the thin shell. Safety habits worth copying: a client id per order (a
retried place is never a double order), no quotes while the book is invalid, an UNKNOWN outcome is
left to the state's lookup instead of being re-sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import ClassVar

import httpx
import msgspec

from shared.client import (
    Bbo,
    CommandsClient,
    MarketView,
    NotFound,
    OrderView,
    ServiceError,
    ServiceUnreachable,
    StateClient,
)
from shared.config import COMMANDS_HTTP_PORT, STATE_HTTP_PORT, VENUES
from shared.settings import Secret, SettingsBase, load

log = logging.getLogger("examples.market_maker")
BPS = Decimal("0.0001")
LIVE = ("PENDING_NEW", "UNKNOWN", "NEW", "UNTRIGGERED", "OPEN", "PENDING_CANCEL")


class Settings(SettingsBase, frozen=True, kw_only=True):
    """The market maker's settings (``MM_*`` variables)."""

    env_prefix: ClassVar[str] = "MM_"

    state_url: str = f"http://127.0.0.1:{STATE_HTTP_PORT}"
    commands_url: str = f"http://127.0.0.1:{COMMANDS_HTTP_PORT}"
    venue_url: str = ""
    token: Secret = Secret("")
    market: str = "BTC-USD-PERP"
    size: Decimal = Decimal("0.001")
    half_spread_bps: Decimal = Decimal(10)
    requote_bps: Decimal = Decimal(2)
    client_prefix: str = "mm"


def quotes(mid: Decimal, half_spread_bps: Decimal, tick: Decimal) -> tuple[Decimal, Decimal]:
    """(bid, ask) ``half_spread_bps`` either side of ``mid``, rounded outwards to the tick."""
    off = mid * half_spread_bps * BPS
    bid = ((mid - off) / tick).to_integral_value(ROUND_FLOOR) * tick
    ask = ((mid + off) / tick).to_integral_value(ROUND_CEILING) * tick
    if ask <= bid:
        ask = bid + tick
    return bid, ask


def needs_requote(quoted_mid: Decimal | None, mid: Decimal, requote_bps: Decimal) -> bool:
    """True when nothing is quoted or the mid moved more than ``requote_bps`` since the quotes."""
    if quoted_mid is None:
        return True
    return abs(mid - quoted_mid) > quoted_mid * requote_bps * BPS


def quote_size(wanted: Decimal, price: Decimal, increment: Decimal, min_notional: Decimal) -> Decimal:
    """``wanted`` on the size increment (rounded down), raised to the smallest size whose notional at
    ``price`` reaches ``min_notional``."""
    size = (wanted / increment).to_integral_value(ROUND_FLOOR) * increment
    if price > 0 and size * price < min_notional:
        size = (min_notional / price / increment).to_integral_value(ROUND_CEILING) * increment
    return max(size, increment)


async def load_market(state: StateClient, market: str, venue_url: str) -> MarketView:
    """``market``'s trading rules from the state's ``/v1/markets``, else the venue's ``/markets``."""
    try:
        found = [m for m in (await state.markets()).value if m.symbol == market]
    except NotFound:  # a state service without /v1/markets: ask the venue (public endpoint)
        async with httpx.AsyncClient(timeout=10.0) as http:
            resp = await http.get(f"{venue_url.rstrip('/')}/markets", params={"market": market})
        resp.raise_for_status()
        found = msgspec.json.decode(resp.content, type=dict[str, list[MarketView]])["results"]
    if not found or found[0].price_tick_size is None or found[0].order_size_increment is None:
        raise SystemExit(f"market {market!r}: no tick size / size increment known (is it listed?)")
    return found[0]


class MarketMaker:
    """The shell: follow the bbo, re-quote through the commands service, cancel its own on stop."""

    def __init__(self, settings: Settings, state: StateClient, commands: CommandsClient,
                 market: MarketView) -> None:
        self.s = settings
        self.state = state
        self.commands = commands
        self.market = market
        self.tick: Decimal = market.price_tick_size or Decimal("0.1")
        self.increment: Decimal = market.order_size_increment or Decimal("0.001")
        self.min_notional: Decimal = market.min_notional or Decimal(0)
        self.quoted_mid: Decimal | None = None
        self.live: list[str] = []  # client ids of our current quotes
        # client ids are idempotency keys kept for days: a restarted process must not reuse them
        self.run_id = secrets.token_hex(4)
        self.n = 0
        self.requotes = 0
        self.stop_event = asyncio.Event()
        self._unusable = ""

    @property
    def prefix(self) -> str:
        """The client-id prefix of every order this strategy places."""
        return f"{self.s.client_prefix}-"

    async def on_bbo(self, bbo: Bbo) -> None:
        """Re-quote if the mid moved (or nothing is quoted); hold while the book is unusable."""
        mid = bbo.mid
        if not bbo.valid or mid is None:
            why = f"valid={bbo.valid} {bbo.reason}".strip() if not bbo.valid else "one side empty"
            if why != self._unusable:
                log.info("book %s not usable (%s): holding", self.s.market, why)
                self._unusable = why
            return
        if self._unusable:
            log.info("book %s usable again", self.s.market)
            self._unusable = ""
        if not needs_requote(self.quoted_mid, mid, self.s.requote_bps):
            return
        await self.cancel_quotes()
        bid, ask = quotes(mid, self.s.half_spread_bps, self.tick)
        size = quote_size(self.s.size, ask, self.increment, self.min_notional)
        self.n += 1
        ids = [f"{self.prefix}{self.run_id}-{self.n}-b", f"{self.prefix}{self.run_id}-{self.n}-a"]
        results = await asyncio.gather(
            self.commands.place(self.s.market, "BUY", size, bid, client_id=ids[0], instruction="POST_ONLY"),
            self.commands.place(self.s.market, "SELL", size, ask, client_id=ids[1], instruction="POST_ONLY"),
            return_exceptions=True)
        placed = []
        for cid, side, price, r in zip(ids, ("bid", "ask"), (bid, ask), results, strict=True):
            if isinstance(r, ServiceError):
                log.warning("%s %s %s @ %s refused: %s", side, size, self.s.market, price, r)
            elif isinstance(r, BaseException):
                log.warning("%s %s outcome unknown (%s): the state will show it", side, cid, r)
                self.live.append(cid)
            else:
                self.live.append(cid)
                placed.append(f"{side} {size} @ {price}")
        self.quoted_mid = mid
        if placed:
            self.requotes += 1
            log.info("quoted %s %s around mid %s", self.s.market, ", ".join(placed), mid)

    async def cancel_quotes(self) -> None:
        """Cancel our current quotes by client id (ones already closed answer 'not found': fine)."""
        live, self.live = self.live, []
        if live:
            try:
                await self.commands.cancel_batch(client_ids=live)
            except ServiceError as exc:
                log.warning("cancel of %d quotes refused: %s", len(live), exc)

    async def run(self) -> None:
        """Quote until :meth:`stop`, then cancel every live order of ours (by client-id prefix)."""
        try:
            first = (await self.state.bbo(self.s.market)).value
            await self.on_bbo(first)
            stream = self.state.events(["bbo"], read_timeout_s=30.0)
            async with contextlib.aclosing(aiter(stream)) as changes:
                next_change = asyncio.ensure_future(anext(changes))
                stopping = asyncio.ensure_future(self.stop_event.wait())
                try:
                    while True:
                        done, _ = await asyncio.wait({next_change, stopping},
                                                     return_when=asyncio.FIRST_COMPLETED)
                        if stopping in done:
                            break
                        change = next_change.result()
                        next_change = asyncio.ensure_future(anext(changes))
                        bbo = change.decode(Bbo) if change.key == self.s.market else None
                        if bbo is not None:
                            try:
                                await self.on_bbo(bbo)
                            except (ServiceError, ServiceUnreachable) as exc:
                                log.warning("re-quote failed: %s", exc)
                finally:
                    for fut in (next_change, stopping):
                        fut.cancel()
                        with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration, Exception):
                            await fut
        finally:
            await self.shutdown()

    async def shutdown(self) -> None:
        """Cancel the live orders whose client id has our prefix; nothing else."""
        self.live = []
        try:
            orders = (await self.state.orders(status=LIVE, market=self.s.market)).value
            ours = [o.client_id for o in orders if _ours(o, self.prefix)]
            if ours:
                await self.commands.cancel_batch(client_ids=ours)
            log.info("stopped: cancelled %d orders of ours in %s (client ids %s*)", len(ours), self.s.market,
                     self.prefix)
        except (ServiceError, ServiceUnreachable) as exc:
            log.error("cancelling our orders on stop failed: %s", exc)

    def stop(self) -> None:
        self.stop_event.set()


def _ours(o: OrderView, prefix: str) -> bool:
    return o.client_id.startswith(prefix)


async def main(settings: Settings | None = None) -> None:
    """Run the market maker until SIGINT/SIGTERM."""
    s = settings or load(Settings)
    if not s.token:
        raise SystemExit("MM_TOKEN is not set: a strategy token of COMMANDS_STRATEGIES (make run: "
                         "paper-trading-dev-token)")
    venue = s.venue_url or os.environ.get("PARADEX_REST_URL") or VENUES["sim"][0]
    async with StateClient(s.state_url) as state, CommandsClient(s.commands_url, s.token.reveal()) as cmd:
        market = await load_market(state, s.market, venue)
        log.info("%s: tick %s, size increment %s, min notional %s", s.market, market.price_tick_size,
                 market.order_size_increment, market.min_notional)
        mm = MarketMaker(s, state, cmd, market)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, mm.stop)
        await mm.run()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is not what we did
    asyncio.run(main())
