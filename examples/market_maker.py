"""Example strategy: quote one bid and one ask around the mid, re-quote when the mid moves.

Reads the best bid/offer from the state service (``/v1/bbo``), sends orders through the commands
service with the strategy's bearer token (:mod:`shared.client`), and cancels its quotes on
shutdown (SIGINT/SIGTERM). Run it next to ``make run``::

    MM_TOKEN=<token from COMMANDS_STRATEGIES> python -m examples.market_maker

Settings (environment, prefix ``MM_``): ``STATE_URL``, ``COMMANDS_URL``, ``TOKEN``, ``MARKET``,
``SIZE``, ``HALF_SPREAD_BPS`` (distance of each quote from the mid), ``REQUOTE_BPS`` (re-quote when
the mid moved more than this since the last quotes), ``TICK`` (the market's price tick),
``INTERVAL_S`` (how often the bbo is read).

The quoting rule is a pure function (:func:`quotes`, :func:`needs_requote`); the loop around it is
the thin shell. Safety habits worth copying: a client id per order (a retried place is never a
double order), no new quotes while the book is invalid, and an UNKNOWN outcome is left to the
state's lookup instead of being re-sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import ClassVar

from shared.client import CommandsClient, ServiceError, ServiceUnreachable, StateClient
from shared.config import COMMANDS_HTTP_PORT, STATE_HTTP_PORT
from shared.settings import Secret, SettingsBase, load

log = logging.getLogger("examples.market_maker")
BPS = Decimal("0.0001")


class Settings(SettingsBase, frozen=True, kw_only=True):
    """The market maker's settings (``MM_*`` variables)."""

    env_prefix: ClassVar[str] = "MM_"

    state_url: str = f"http://127.0.0.1:{STATE_HTTP_PORT}"
    commands_url: str = f"http://127.0.0.1:{COMMANDS_HTTP_PORT}"
    token: Secret = Secret("")
    market: str = "BTC-USD-PERP"
    size: Decimal = Decimal("0.001")
    half_spread_bps: Decimal = Decimal(10)
    requote_bps: Decimal = Decimal(2)
    tick: Decimal = Decimal("0.1")
    interval_s: float = 0.2
    strategy_id: str = "mm"


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


class MarketMaker:
    """The shell: read the bbo, re-quote through the commands service, cancel on stop."""

    def __init__(self, settings: Settings, state: StateClient, commands: CommandsClient) -> None:
        self.s = settings
        self.state = state
        self.commands = commands
        self.quoted_mid: Decimal | None = None
        self.live: list[str] = []  # client ids of our current quotes
        self.n = 0
        # client ids are idempotency keys kept for days: a restarted process must not reuse them
        self.run_id = secrets.token_hex(4)
        self.requotes = 0
        self.stop_event = asyncio.Event()

    async def step(self) -> None:
        """One tick: re-quote if the mid moved (or nothing is quoted)."""
        bbo = (await self.state.bbo(self.s.market)).value
        mid = bbo.mid
        if not bbo.valid or mid is None:
            log.info("book %s not usable (valid=%s): holding", self.s.market, bbo.valid)
            return
        if not needs_requote(self.quoted_mid, mid, self.s.requote_bps):
            return
        await self.cancel_quotes()
        bid, ask = quotes(mid, self.s.half_spread_bps, self.s.tick)
        self.n += 1
        prefix = f"{self.s.strategy_id}-{self.run_id}-{self.n}"
        ids = [f"{prefix}-b", f"{prefix}-a"]
        results = await asyncio.gather(
            self.commands.place(self.s.market, "BUY", self.s.size, bid, client_id=ids[0],
                                instruction="POST_ONLY"),
            self.commands.place(self.s.market, "SELL", self.s.size, ask, client_id=ids[1],
                                instruction="POST_ONLY"),
            return_exceptions=True)
        for cid, r in zip(ids, results, strict=True):
            if isinstance(r, ServiceError):
                log.warning("quote %s refused: %s", cid, r)
            elif isinstance(r, BaseException):
                log.warning("quote %s outcome unknown: %s", cid, r)  # the state will show it
                self.live.append(cid)
            else:
                self.live.append(cid)
        self.quoted_mid = mid
        self.requotes += 1
        log.info("quoted %s bid %s ask %s around mid %s", self.s.market, bid, ask, mid)

    async def cancel_quotes(self) -> None:
        """Cancel our live quotes by client id (ones already closed answer 'not found': fine)."""
        live, self.live = self.live, []
        if live:
            with contextlib.suppress(ServiceError):
                await self.commands.cancel_batch(client_ids=live)

    async def run(self) -> None:
        """Quote until :meth:`stop`; then cancel everything of ours in the market."""
        try:
            while not self.stop_event.is_set():
                try:
                    await self.step()
                except (ServiceError, ServiceUnreachable) as exc:
                    log.warning("step failed: %s", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop_event.wait(), self.s.interval_s)
        finally:
            await self.shutdown()

    async def shutdown(self) -> None:
        """Cancel all of this strategy's orders in the market."""
        self.live = []
        try:
            await self.commands.cancel_all(self.s.market)
            log.info("cancelled all quotes in %s", self.s.market)
        except (ServiceError, ServiceUnreachable) as exc:
            log.error("cancel-all on shutdown failed: %s", exc)

    def stop(self) -> None:
        self.stop_event.set()


async def main(settings: Settings | None = None) -> None:
    """Run the market maker until SIGINT/SIGTERM."""
    s = settings or load(Settings)
    async with StateClient(s.state_url) as state, CommandsClient(s.commands_url, s.token.reveal()) as cmd:
        mm = MarketMaker(s, state, cmd)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, mm.stop)
        await mm.run()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(main())
