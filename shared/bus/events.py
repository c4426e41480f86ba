"""The internal event envelope and every event type on the bus.

Encoding: JSON via msgspec (one choice for the whole bus): readable with ``nats sub``, ~1 us per
event to encode, and the venue payloads inside stay in the venue's own JSON shape.

Every event is a frozen Struct tagged by ``kind`` and carries the envelope fields of DESIGN.md:

- ``source``: ``ws`` (the feed), ``rest`` (the reconciler), ``cmd`` (the commands service);
- ``venue_ts_ms``: the exchange's own timestamp for the entity (``last_updated_at``, ``created_at``...),
  0 when the venue gave none;
- ``recv_ns``: wall clock (ns) at the producer when the frame or response arrived;
- ``conn_epoch``: the feed connection number (increases on every reconnect; 0 outside the feed).

Account events (``ACCOUNT_EVENTS``) go to the ACCOUNT stream, which gives them one total order;
market data (``MARKET_EVENTS``) to the MARKET stream. Decode any of them with :func:`decode_event`.
New fields must always get defaults (schema evolution).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

from shared.paradex.models.account import (
    Account,
    Balance,
    BalanceEvent,
    Fill,
    Order,
    Position,
    Tradebust,
)
from shared.paradex.models.algo import AlgoOrder
from shared.paradex.models.common import validation_error
from shared.paradex.models.market_data import Bbo, BookUpdate, FundingData, MarketSummary, Trade

Source = Literal["ws", "rest", "cmd"]


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", omit_defaults=True):
    """Envelope fields shared by every bus event."""

    source: Source
    venue_ts_ms: int = 0
    recv_ns: int = 0
    conn_epoch: int = 0


# --------------------------------------------------------------------------------------------
# Account entities (from the WebSocket feed, or from REST inside a snapshot or a lookup)


class _AccountEntity(Event, frozen=True, kw_only=True):
    """A venue entity of the account. ``snapshot_id`` is set when it is part of a REST snapshot."""

    snapshot_id: str = ""


class OrderEvent(_AccountEntity, frozen=True, kw_only=True, tag="order"):
    order: Order


class AlgoEvent(_AccountEntity, frozen=True, kw_only=True, tag="algo"):
    """A TWAP algo order as the venue answered it (commands: ``POST /algo/orders`` and the read
    after a cancel; the reconciler: ``GET /algo/orders`` and ``/algo/orders-history``). The
    AsyncAPI has no algo channel, so these are the only algo updates. ``strategy`` and
    ``signature_timestamp`` (the parent's, which its child orders carry as ``timestamp`` on the
    simulator) are known to commands only."""

    algo: AlgoOrder
    strategy: str = ""
    signature_timestamp: int = 0


class FillEvent(_AccountEntity, frozen=True, kw_only=True, tag="fill"):
    fill: Fill


class PositionEvent(_AccountEntity, frozen=True, kw_only=True, tag="position"):
    position: Position


class AccountEvent(_AccountEntity, frozen=True, kw_only=True, tag="account"):
    summary: Account


class BalanceRecord(_AccountEntity, frozen=True, kw_only=True, tag="balance"):
    """A full balance of one token (REST ``GET /balance`` entry)."""

    balance: Balance


class BalanceChange(Event, frozen=True, kw_only=True, tag="balance_change"):
    """A WebSocket ``balance_events`` push (per-fill settlement-asset balance change)."""

    change: BalanceEvent


class TradebustEvent(Event, frozen=True, kw_only=True, tag="tradebust"):
    tradebust: Tradebust


# --------------------------------------------------------------------------------------------
# Feed status


FeedState = Literal["connected", "disconnected", "authenticating", "auth_failed", "subscribed"]


class FeedStatus(Event, frozen=True, kw_only=True, tag="feed_status"):
    """Published by the feed on every state change (ACCOUNT stream) and every second (core NATS)."""

    state: FeedState
    epoch: int
    last_frame_age_ms: int = -1
    reason: str = ""


# --------------------------------------------------------------------------------------------
# Reconciliation (reconciler -> state)


SnapshotPartName = Literal["open_orders", "order_history", "positions", "account", "balances", "fills"]


class SnapshotStarted(Event, frozen=True, kw_only=True, tag="snapshot_started"):
    """Published BEFORE the REST requests: the snapshot is effective as of this event's position."""

    snapshot_id: str
    reason: str = ""
    parts: tuple[SnapshotPartName, ...] = ()
    since_ms: int = 0


class SnapshotPart(Event, frozen=True, kw_only=True, tag="snapshot_part"):
    """All records of one part of a snapshot have been published before this event.

    ``complete`` is true only when every page was fetched without error; absence is judged only
    against complete parts.
    """

    snapshot_id: str
    part: SnapshotPartName
    complete: bool
    count: int = 0
    error: str = ""


class SnapshotFinished(Event, frozen=True, kw_only=True, tag="snapshot_finished"):
    """The run report of one reconciliation run."""

    snapshot_id: str
    complete: bool
    duration_ms: int = 0
    records: int = 0
    errors: tuple[str, ...] = ()


class LookupResult(Event, frozen=True, kw_only=True, tag="lookup_result"):
    """Outcome of looking up one order by id or client id; ``order`` is None when nothing was found."""

    order_id: str = ""
    client_id: str = ""
    found: bool
    order: Order | None = None
    error: str = ""


# --------------------------------------------------------------------------------------------
# Command events (commands service -> state)


class _Command(Event, frozen=True, kw_only=True):
    client_id: str
    strategy: str = ""


class CmdSubmitted(_Command, frozen=True, kw_only=True, tag="cmd_submitted"):
    """An order is about to be sent: state shows it PENDING_NEW under its client_id."""

    market: str
    side: str
    type: str
    size: str
    price: str = "0"
    instruction: str = "GTC"
    flags: tuple[str, ...] = ()


class CmdAccepted(_Command, frozen=True, kw_only=True, tag="cmd_accepted"):
    """The venue answered the order POST: the exchange id is linked to the client_id."""

    order_id: str
    order: Order | None = None


class CmdRejected(_Command, frozen=True, kw_only=True, tag="cmd_rejected"):
    """The venue (or our risk checks) refused the order: terminal."""

    code: str
    message: str = ""
    http_status: int = 0


class CmdCancelRequested(_Command, frozen=True, kw_only=True, tag="cmd_cancel_requested"):
    """A cancel was sent: state shows PENDING_CANCEL until a terminal update."""

    order_id: str = ""
    market: str = ""


class CmdModifyRequested(_Command, frozen=True, kw_only=True, tag="cmd_modify_requested"):
    order_id: str
    size: str = ""
    price: str = ""


class CmdUnknown(_Command, frozen=True, kw_only=True, tag="cmd_unknown"):
    """The venue did not answer (timeout, reset): resolved by a lookup, never by sending again."""

    reason: str = ""


class CmdNotSent(_Command, frozen=True, kw_only=True, tag="cmd_not_sent"):
    """The order request failed before any byte reached the venue (refused, DNS, TLS): the venue
    did not act. The PENDING_NEW record of ``client_id`` is withdrawn (not REJECTED: the same client
    id may be submitted again, and a later CmdSubmitted for it starts afresh)."""

    reason: str = ""


class CmdCancelFailed(_Command, frozen=True, kw_only=True, tag="cmd_cancel_failed"):
    """The venue definitely refused a cancel (a 4xx with a venue error body): PENDING_CANCEL is
    cleared at once, the order keeps its venue status and records the error (``code``)."""

    order_id: str = ""
    code: str
    message: str = ""
    http_status: int = 0


class CmdCancelUnknown(_Command, frozen=True, kw_only=True, tag="cmd_cancel_unknown"):
    """A cancel whose outcome is ambiguous (5xx, timeout, connection lost after writing): the order
    stays PENDING_CANCEL and is looked up; never cleared on a guess."""

    order_id: str = ""
    reason: str = ""


class CmdModifyFailed(_Command, frozen=True, kw_only=True, tag="cmd_modify_failed"):
    """The venue definitely refused a modify: PENDING_MODIFY is cleared at once, the order keeps
    its venue status, size and price, and records the error (``code``)."""

    order_id: str
    code: str
    message: str = ""
    http_status: int = 0


class CmdModifyUnknown(_Command, frozen=True, kw_only=True, tag="cmd_modify_unknown"):
    """A modify whose outcome is ambiguous: the order stays PENDING_MODIFY and is looked up."""

    order_id: str
    reason: str = ""


class KillSwitch(Event, frozen=True, kw_only=True, tag="kill_switch"):
    """The commands service's kill switch changed: ``active`` refuses new orders (after cancelling
    everything) until a resume. ``strategy`` empty = global (admin token), else that strategy only."""

    active: bool
    strategy: str = ""
    by: str = ""
    reason: str = ""


# --------------------------------------------------------------------------------------------
# Venue reference data (reconciler -> state)


class MarketSpec(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """One market's trading rules as the venue states them (``GET /markets``), trimmed to what
    order validation and strategies need; the venue's field names.

    ``status`` is derived by the reconciler from the venue's fields, by the venue's clock when it
    fetched them: ``open``; ``pre_open`` (``open_at`` in the future); ``expired`` (``expiry_at``
    passed); ``rfq_only`` (``trading_mode`` RFQ_ONLY: no on-book orders).
    """

    symbol: str
    status: str
    asset_kind: str = ""
    base_currency: str = ""
    quote_currency: str = ""
    settlement_currency: str = ""
    price_tick_size: Decimal | None = None
    order_size_increment: Decimal | None = None
    min_notional: Decimal | None = None
    max_order_size: Decimal | None = None
    position_limit: Decimal | None = None
    max_open_orders: int | None = None
    price_bands_width: Decimal | None = None
    trading_mode: str = ""
    open_at: int = 0
    expiry_at: int = 0


class MarketsEvent(Event, frozen=True, kw_only=True, tag="markets"):
    """The venue's markets as fetched by the reconciler (at start-up, on change, on request).

    ``complete``: the list is every market the venue listed (a market missing from a complete
    list is gone); ``venue_ts_ms``: the venue's clock when they were fetched.
    """

    markets: tuple[MarketSpec, ...]
    complete: bool = True


# --------------------------------------------------------------------------------------------
# Market data (MARKET stream)


class BookEvent(Event, frozen=True, kw_only=True, tag="book"):
    book: BookUpdate


class BboEvent(Event, frozen=True, kw_only=True, tag="bbo"):
    bbo: Bbo


class TradeEvent(Event, frozen=True, kw_only=True, tag="trade"):
    trade: Trade


class SummaryEvent(Event, frozen=True, kw_only=True, tag="summary"):
    summary: MarketSummary


class FundingEvent(Event, frozen=True, kw_only=True, tag="funding"):
    funding: FundingData


class BookGap(Event, frozen=True, kw_only=True, tag="book_gap"):
    """The feed saw a sequence gap or a crossed book: the market's book is invalid until a new ``s``."""

    market: str
    expected_seq: int = 0
    got_seq: int = 0
    reason: str = "gap"


AccountBusEvent = (
    OrderEvent | FillEvent | PositionEvent | AccountEvent | BalanceRecord | BalanceChange | TradebustEvent
    | FeedStatus | SnapshotStarted | SnapshotPart | SnapshotFinished | LookupResult
    | CmdSubmitted | CmdAccepted | CmdRejected | CmdCancelRequested | CmdModifyRequested | CmdUnknown
    | CmdNotSent | CmdCancelFailed | CmdCancelUnknown | CmdModifyFailed | CmdModifyUnknown | KillSwitch
    | MarketsEvent | AlgoEvent
)
MarketBusEvent = BookEvent | BboEvent | TradeEvent | SummaryEvent | FundingEvent | BookGap
AnyEvent = AccountBusEvent | MarketBusEvent

ACCOUNT_EVENTS: tuple[type[Event], ...] = AccountBusEvent.__args__
MARKET_EVENTS: tuple[type[Event], ...] = MarketBusEvent.__args__
ALL_EVENTS: tuple[type[Event], ...] = ACCOUNT_EVENTS + MARKET_EVENTS


def kind_of(cls: type[Event]) -> str:
    """The ``kind`` tag of an event class."""
    tag = cls.__struct_config__.tag
    assert isinstance(tag, str)
    return tag


_ENCODER = msgspec.json.Encoder()
_DECODER: msgspec.json.Decoder[AnyEvent] = msgspec.json.Decoder(AnyEvent)


def encode_event(event: Event) -> bytes:
    """JSON bytes of ``event`` (with its ``kind`` tag)."""
    return _ENCODER.encode(event)


def decode_event(data: bytes | memoryview | str) -> AnyEvent:
    """Decode one bus message; raises :class:`~shared.errors.DecodeError` naming the bad field."""
    try:
        return _DECODER.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise validation_error("bus event", exc) from exc
