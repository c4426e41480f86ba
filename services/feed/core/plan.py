"""Which channels the feed subscribes to, and the JSON-RPC requests/replies that do it (pure).

:class:`Requests` numbers outgoing requests and remembers what each was for, so a reply (or an
error) can be matched to the channel it concerns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import msgspec

PRIVATE_CHANNELS: tuple[str, ...] = (
    "orders.ALL", "fills.ALL", "positions", "account", "balance_events", "tradebusts",
)
AUTH_ERROR_CODES = frozenset({40110, 40111})
"""Malformed / invalid bearer token: invalidate the JWT and reconnect with a fresh one."""


def book_channel(market: str, feed: str = "deltas") -> str:
    """``order_book.<market>.deltas`` (the bare deltas channel; the venue refuses suffixes)."""
    return f"order_book.{market}.{feed}"


def public_channels(markets: Iterable[str], book_feed: str = "deltas", summary: bool = True) -> list[str]:
    """Book, BBO, trades and funding per market, then ``markets_summary`` once."""
    out: list[str] = []
    for m in markets:
        out += [book_channel(m, book_feed), f"bbo.{m}", f"trades.{m}", f"funding_data.{m}"]
    if summary:
        out.append("markets_summary")
    return out


def all_channels(markets: Iterable[str], book_feed: str = "deltas", summary: bool = True) -> list[str]:
    """Every channel of one connection: private first (account data matters most), then public."""
    return [*PRIVATE_CHANNELS, *public_channels(markets, book_feed, summary)]


@dataclass(frozen=True, slots=True)
class Pending:
    """What an outstanding request was for."""

    method: str
    channel: str = ""


class _Request(msgspec.Struct, frozen=True):
    jsonrpc: str
    method: str
    params: dict[str, str]
    id: int


_ENC = msgspec.json.Encoder()


class Requests:
    """Builds JSON-RPC requests with increasing ids and matches replies to them."""

    def __init__(self) -> None:
        self._next = 1
        self.pending: dict[int, Pending] = {}

    def _build(self, method: str, params: dict[str, str], channel: str = "") -> bytes:
        rid = self._next
        self._next += 1
        self.pending[rid] = Pending(method, channel)
        return _ENC.encode(_Request("2.0", method, params, rid))

    def auth(self, jwt: str) -> bytes:
        """``auth`` request text."""
        return self._build("auth", {"bearer": jwt})

    def subscribe(self, channel: str) -> bytes:
        """``subscribe`` request text."""
        return self._build("subscribe", {"channel": channel}, channel)

    def unsubscribe(self, channel: str) -> bytes:
        """``unsubscribe`` request text."""
        return self._build("unsubscribe", {"channel": channel}, channel)

    def resolve(self, rid: object) -> Pending | None:
        """Forget and return the request answered by a reply with id ``rid`` (None if unknown)."""
        if isinstance(rid, str) and rid.isdigit():
            rid = int(rid)
        if not isinstance(rid, int):
            return None
        return self.pending.pop(rid, None)

    def clear(self) -> None:
        """Forget every outstanding request (the connection is gone)."""
        self.pending.clear()
