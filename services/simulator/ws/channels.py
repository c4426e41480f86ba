"""Channel grammar (PROTOCOL.md 2.5/2.6) and which channels each engine event is pushed on. Pure.

Public: ``bbo.{m|ALL}``, ``trades.{m|ALL}``, ``order_book.{m}.deltas`` (bare, whole book, seq+1),
``order_book.{m}.snapshot@15@{50ms|100ms}`` (throttled top-15 ``"s"`` frames), ``markets_summary``
(``.ALL`` / ``.{m}``), ``funding_data`` / ``funding_data.{m}``. Private (after ``auth``):
``orders.{m|ALL}``, ``fills.{m|ALL}``, ``positions``, ``account``, ``balance_events``,
``tradebusts``, ``funding_payments.{m|ALL}``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from ..engine import events as ev

PRIVATE_FAMILIES = frozenset(
    {"orders", "fills", "positions", "account", "balance_events", "tradebusts", "funding_payments"}
)
PUBLIC_FAMILIES = frozenset({"bbo", "trades", "order_book", "markets_summary", "funding_data"})
SNAPSHOT_RATES_MS = {"50ms": 50, "100ms": 100}
BOOK_DEPTH = 15


class ChannelError(ValueError):
    """A channel the venue would refuse: JSON-RPC ``code``, message and detail."""

    def __init__(self, detail: str, code: int = -32600, message: str = "invalid subscribe request") -> None:
        super().__init__(detail)
        self.code = code
        self.message = message
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Channel:
    """A parsed channel name. ``refresh_ms`` is set for throttled book snapshots."""

    name: str
    family: str
    market: str | None = None
    refresh_ms: int = 0

    @property
    def private(self) -> bool:
        return self.family in PRIVATE_FAMILIES


def parse_channel(name: str, markets: Collection[str]) -> Channel:
    """Validate ``name`` against the grammar and the listed ``markets``; ChannelError if refused."""
    family, _, rest = name.partition(".")

    def market(symbol: str, allow_all: bool) -> str:
        if (allow_all and symbol == "ALL") or symbol in markets:
            return symbol
        raise ChannelError(f"unknown market {symbol!r}")

    if family in ("positions", "account", "balance_events", "tradebusts"):
        if rest:
            raise ChannelError(f"no parameters expected for {family} topic.")
        return Channel(name, family)
    if family in ("markets_summary", "funding_data"):
        return Channel(name, family, market(rest, family == "markets_summary") if rest else None)
    if family in ("bbo", "trades", "orders", "fills", "funding_payments"):
        if not rest:
            raise ChannelError(f"market expected for {family} topic.")
        return Channel(name, family, market(rest, True))
    if family == "order_book":
        symbol, _, feed = rest.rpartition(".")
        if not symbol:
            raise ChannelError("expected order_book.{market}.{feed_type}")
        market(symbol, False)
        if feed == "deltas":
            return Channel(name, family, symbol)
        if feed.startswith("deltas@"):
            raise ChannelError("no parameters expected for deltas topic.")
        kind, _, params = feed.partition("@")
        if kind != "snapshot":
            raise ChannelError(f"unsupported feed type {kind!r}")
        depth, _, rate = params.partition("@")
        if depth != str(BOOK_DEPTH):
            raise ChannelError(f"Expecting depth={BOOK_DEPTH}")
        if rate not in SNAPSHOT_RATES_MS:
            raise ChannelError(f"refresh rate must be one of {', '.join(SNAPSHOT_RATES_MS)}")
        return Channel(name, family, symbol, SNAPSHOT_RATES_MS[rate])
    raise ChannelError(f"unknown channel {name!r}")


def public_channels(event: ev.VenueEvent) -> tuple[str, ...]:
    """Public channels an event is pushed on (book deltas: the deltas channel only)."""
    if isinstance(event, ev.BookDelta):
        return (f"order_book.{event.market}.deltas",) if event.update_type == "d" else ()
    if isinstance(event, ev.BboUpdate):
        return (f"bbo.{event.market}", "bbo.ALL")
    if isinstance(event, ev.TradeEvent):
        return (f"trades.{event.market}", "trades.ALL")
    if isinstance(event, ev.MarketSummaryUpdate):
        return ("markets_summary", "markets_summary.ALL", f"markets_summary.{event.symbol}")
    if isinstance(event, ev.FundingUpdate):
        return (f"funding_data.{event.market}", "funding_data")
    return ()


def private_channels(event: ev.VenueEvent) -> tuple[str, tuple[str, ...]]:
    """``(account, channels)`` of a private event; ``("", ())`` for public or unpushed events."""
    if isinstance(event, ev.OrderUpdate):
        return event.order.account, ("orders.ALL", f"orders.{event.order.market}")
    if isinstance(event, ev.FillEvent):
        return event.fill.account, ("fills.ALL", f"fills.{event.fill.market}")
    if isinstance(event, ev.PositionUpdate):
        return event.position.account, ("positions",)
    if isinstance(event, ev.AccountUpdate):
        return event.summary.account, ("account",)
    if isinstance(event, ev.BalanceEvent):
        return event.account, ("balance_events",)
    if isinstance(event, ev.Tradebust):
        return event.account, ("tradebusts",)
    if isinstance(event, ev.FundingPaymentEvent):
        return event.payment.account, ("funding_payments.ALL", f"funding_payments.{event.payment.market}")
    return "", ()
