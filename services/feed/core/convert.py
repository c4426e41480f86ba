"""Decoded venue payload → bus event (pure). Every event gets ``source="ws"``, the entity's own
venue timestamp (ms), the receipt time and the connection epoch.

=================  ===============  =====================================================
payload            event            ``venue_ts_ms`` from
=================  ===============  =====================================================
Order              OrderEvent       ``last_updated_at``
Fill               FillEvent        ``created_at``
Position           PositionEvent    ``last_updated_at``, else ``created_at``, else 0
Account            AccountEvent     ``updated_at``
BalanceEvent       BalanceChange    ``created_at``
Tradebust          TradebustEvent   ``created_at``
BookUpdate         BookEvent        ``last_updated_at``
Bbo                BboEvent         ``last_updated_at``
Trade              TradeEvent       ``created_at``
MarketSummary      SummaryEvent     ``created_at``
FundingData        FundingEvent     ``created_at``
=================  ===============  =====================================================

SBE frames decode to the same models (timestamps already in ms), so both encodings share this.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.bus import (
    AccountEvent,
    BalanceChange,
    BboEvent,
    BookEvent,
    Event,
    FillEvent,
    FundingEvent,
    OrderEvent,
    PositionEvent,
    SummaryEvent,
    TradebustEvent,
    TradeEvent,
)
from shared.paradex.models import (
    Account,
    BalanceEvent,
    Bbo,
    BookUpdate,
    Fill,
    FundingData,
    MarketSummary,
    Order,
    Position,
    Trade,
    Tradebust,
)

Converter = Callable[[Any, int, int], Event]


def _position(p: Position, recv_ns: int, epoch: int) -> Event:
    ts = p.last_updated_at or p.created_at or 0
    return PositionEvent(source="ws", venue_ts_ms=ts, recv_ns=recv_ns, conn_epoch=epoch, position=p)


_CONVERTERS: dict[type, Converter] = {
    Order: lambda o, r, e: OrderEvent(
        source="ws", venue_ts_ms=o.last_updated_at, recv_ns=r, conn_epoch=e, order=o),
    Fill: lambda f, r, e: FillEvent(source="ws", venue_ts_ms=f.created_at, recv_ns=r, conn_epoch=e, fill=f),
    Position: _position,
    Account: lambda a, r, e: AccountEvent(
        source="ws", venue_ts_ms=a.updated_at, recv_ns=r, conn_epoch=e, summary=a),
    BalanceEvent: lambda b, r, e: BalanceChange(
        source="ws", venue_ts_ms=b.created_at, recv_ns=r, conn_epoch=e, change=b),
    Tradebust: lambda t, r, e: TradebustEvent(
        source="ws", venue_ts_ms=t.created_at, recv_ns=r, conn_epoch=e, tradebust=t),
    BookUpdate: lambda b, r, e: BookEvent(
        source="ws", venue_ts_ms=b.last_updated_at, recv_ns=r, conn_epoch=e, book=b),
    Bbo: lambda b, r, e: BboEvent(source="ws", venue_ts_ms=b.last_updated_at, recv_ns=r, conn_epoch=e, bbo=b),
    Trade: lambda t, r, e: TradeEvent(
        source="ws", venue_ts_ms=t.created_at, recv_ns=r, conn_epoch=e, trade=t),
    MarketSummary: lambda s, r, e: SummaryEvent(
        source="ws", venue_ts_ms=s.created_at, recv_ns=r, conn_epoch=e, summary=s),
    FundingData: lambda f, r, e: FundingEvent(
        source="ws", venue_ts_ms=f.created_at, recv_ns=r, conn_epoch=e, funding=f),
}

ACCOUNT_PAYLOADS: tuple[type, ...] = (Order, Fill, Position, Account, BalanceEvent, Tradebust)
"""Payload types whose events go to the ACCOUNT stream and are never dropped."""


def to_event(data: object, recv_ns: int, epoch: int) -> Event | None:
    """The bus event of a decoded payload, or None for a payload type the feed does not carry
    (``msgspec.Raw`` of an unknown channel, an SBE heartbeat or skipped template)."""
    conv = _CONVERTERS.get(type(data))
    return None if conv is None else conv(data, recv_ns, epoch)


def is_account_payload(data: object) -> bool:
    """True for a private (account) payload."""
    return isinstance(data, ACCOUNT_PAYLOADS)
