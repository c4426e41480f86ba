"""Typed views of the state service's JSON and of the commands service's replies.

Every state body is ``{"seq": S, "value": V}`` (``S``: the stream sequence the answer reflects);
:class:`Snapshot` keeps both. The record structs mirror the state service's records field by field
(services/state/core/model.py) but are defined here (the venue's records in :mod:`.records`): a
strategy depends on the wire format, not on the service's code. Unknown fields are tolerated
(msgspec's default), so the service may add fields. Prices, sizes and money are ``Decimal`` (the
service sends exact decimal strings).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar

import msgspec

from shared.client.records import Account, Balance, Fill, Order, Position

T = TypeVar("T")
ZERO = Decimal(0)

TERMINAL_STATUSES = frozenset({"CLOSED", "REJECTED"})
"""Displayed order statuses after which nothing more happens to the order."""

STATUS_RANK: dict[str, int] = {
    "PENDING_NEW": 0, "UNKNOWN": 0, "NEW": 1, "UNTRIGGERED": 2, "OPEN": 3, "PENDING_CANCEL": 3,
    "PENDING_MODIFY": 3, "CLOSED": 4, "REJECTED": 4,
}
"""Rank of the displayed statuses: a status never goes to a lower rank, except that a cleared
PENDING_CANCEL / PENDING_MODIFY (the venue refused the request, or it never executed) shows the
venue's status again."""


class View(msgspec.Struct, frozen=True, kw_only=True):
    """Base of the read-only views (frozen, keyword-only, unknown fields tolerated)."""


class Snapshot(View, Generic[T], frozen=True, kw_only=True):
    """A state answer: ``value`` as of ACCOUNT (or local MARKET) stream sequence ``seq``."""

    seq: int
    value: T


class Page(Snapshot[T], Generic[T], frozen=True, kw_only=True):
    """One page of a paginated list (``/v1/orders``, ``/v1/fills``): pass ``next_cursor`` as
    ``cursor`` for the next page; ``None`` on the last one."""

    next_cursor: str | None = None


class OrderView(View, frozen=True, kw_only=True):
    """One order as the state knows it.

    ``status`` is what a strategy should act on: a venue status (NEW, UNTRIGGERED, OPEN, CLOSED) or
    a local overlay (PENDING_NEW while the venue has not spoken, UNKNOWN when the command's outcome
    is being looked up, PENDING_CANCEL after a cancel request, PENDING_MODIFY after a modify
    request, REJECTED). ``key`` is the exchange id, or ``client:<client_id>`` until the venue
    assigned one. ``error_op`` / ``error_code`` / ``error_message``: the last cancel or modify the
    venue refused.
    """

    key: str
    status: str
    id: str = ""
    client_id: str = ""
    market: str = ""
    side: str = ""
    type: str = ""
    size: Decimal = ZERO
    remaining_size: Decimal = ZERO
    filled: Decimal = ZERO
    price: Decimal = ZERO
    venue_status: str = ""
    local: str = ""
    last_updated_at: int = 0
    order: Order | None = None
    source: str = ""
    closed_by: str = ""
    reject_code: str = ""
    reject_message: str = ""
    strategy: str = ""
    lookup_pending: bool = False
    modify_pending: bool = False
    error_op: str = ""
    error_code: str = ""
    error_message: str = ""
    stream_seq: int = 0

    @property
    def is_terminal(self) -> bool:
        """True once the order is CLOSED or REJECTED."""
        return self.status in TERMINAL_STATUSES


class PositionView(View, frozen=True, kw_only=True):
    """The venue's position in one market (``position.size`` is signed by ``position.side``)."""

    market: str
    position: Position
    venue_ts: int = 0
    source: str = ""
    closed_by: str = ""
    stream_seq: int = 0


class AccountView(View, frozen=True, kw_only=True):
    """The account summary (margin snapshot)."""

    summary: Account
    venue_ts: int = 0
    source: str = ""
    stream_seq: int = 0


class BalanceView(View, frozen=True, kw_only=True):
    """The balance of one token (``size`` = the balance)."""

    token: str
    size: Decimal
    balance: Balance
    venue_ts: int = 0
    source: str = ""
    stream_seq: int = 0


class FillView(View, frozen=True, kw_only=True):
    """One fill; ``busted`` once the venue busted it (it then no longer counts)."""

    fill: Fill
    busted: bool = False
    source: str = ""
    stream_seq: int = 0


class BookView(View, frozen=True, kw_only=True):
    """The best levels of one book as ``(price, size)``; ``valid`` false: do not trust them."""

    market: str
    seq_no: int
    valid: bool
    reason: str = ""
    bids: list[tuple[Decimal, Decimal]] = []
    asks: list[tuple[Decimal, Decimal]] = []
    last_updated_at: int = 0


class Bbo(View, frozen=True, kw_only=True):
    """Best bid/offer from the maintained book, with its validity."""

    market: str
    seq_no: int
    valid: bool
    reason: str = ""
    bid: Decimal | None = None
    bid_size: Decimal | None = None
    ask: Decimal | None = None
    ask_size: Decimal | None = None
    last_updated_at: int = 0

    @property
    def mid(self) -> Decimal | None:
        """``(bid + ask) / 2`` when both sides exist, else None."""
        if self.bid is None or self.ask is None:
            return None
        return (self.bid + self.ask) / 2


class MarketView(View, frozen=True, kw_only=True):
    """One market's trading rules (``GET /v1/markets``): prices are multiples of
    ``price_tick_size``, sizes of ``order_size_increment``, ``size * price >= min_notional``."""

    symbol: str
    base_currency: str = ""
    quote_currency: str = ""
    settlement_currency: str = ""
    price_tick_size: Decimal | None = None
    order_size_increment: Decimal | None = None
    min_notional: Decimal | None = None
    max_order_size: Decimal | None = None
    status: str = ""
    asset_kind: str = ""
    position_limit: Decimal | None = None
    max_open_orders: int | None = None
    price_bands_width: Decimal | None = None
    trading_mode: str = ""
    open_at: int = 0
    expiry_at: int = 0

    @property
    def active(self) -> bool:
        """Whether on-book orders can trade: the state's ``status`` is ``open`` (``pre_open``,
        ``expired``, ``rfq_only`` are not); a venue record without a status counts as open."""
        return self.status.lower() in ("", "open")


class StreamHealth(View, frozen=True, kw_only=True):
    applied_seq: int
    last_event_age_ms: int


class Health(View, frozen=True, kw_only=True):
    """``/v1/health``: ``ok`` plus per-stream details (``core`` is kept as plain JSON)."""

    ok: bool
    account: StreamHealth
    market: StreamHealth
    feed_connected: bool
    books_valid: dict[str, bool] = {}
    replica: str = ""
    checkpoint_seq: int = 0
    restored_from_seq: int | None = None
    dlq: int = 0
    redis_error: str = ""
    core: dict[str, Any] = {}


class Change(View, frozen=True, kw_only=True):
    """One state change, from ``/v1/events`` or the Redis stream ``pdx:<account>:changes``.

    ``kind`` is ``order``, ``position``, ``account``, ``balance``, ``fill``, ``feed``,
    ``reconciliation`` (or a market-data kind on SSE: ``book``, ``bbo``, ``venue_bbo``,
    ``trade``, ``summary``, ``funding``, with ``stream`` ``market``); ``value`` is the record's raw
    JSON (``null`` when deleted): decode it with :meth:`decode`. ``seq`` is the ACCOUNT stream
    sequence (market changes: the service's local market sequence). ``entry_id`` is the Redis
    stream entry id (empty for SSE); ``event_id`` the SSE id (resume with it as ``Last-Event-ID``).
    """

    kind: str
    key: str
    seq: int
    value: msgspec.Raw
    stream: str = "account"
    entry_id: str = ""
    event_id: str = ""

    def decode(self, type_: type[T]) -> T | None:
        """The record as ``type_`` (e.g. :class:`OrderView`), or None when it was deleted."""
        raw = bytes(self.value)
        if raw in (b"", b"null"):
            return None
        return msgspec.json.decode(raw, type=type_)


# ---------------------------------------------------------------- commands

Wait = Literal["none", "ack", "ws"]


class PlaceOrder(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """``POST /v1/orders`` body (and one item of a batch)."""

    market: str
    side: Literal["BUY", "SELL"]
    size: Decimal
    type: str = "LIMIT"
    price: Decimal | None = None
    instruction: str = "GTC"
    flags: tuple[str, ...] = ()
    client_id: str | None = None
    trigger_price: Decimal | None = None
    stp: str | None = None
    wait: Wait = "ack"
    timeout_s: float | None = None


class ModifyOrder(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """``PUT /v1/orders/{id}`` body (side and type must equal the order's)."""

    market: str
    side: Literal["BUY", "SELL"]
    size: Decimal
    type: str = "LIMIT"
    price: Decimal | None = None
    trigger_price: Decimal | None = None


class CommandResult(View, frozen=True, kw_only=True):
    """A successful (2xx) commands reply.

    ``status``: ``submitted`` (wait=none), ``accepted`` (venue answered), ``pending`` (wait=ws timed
    out; the venue accepted), a lower-case venue status (wait=ws: ``open``, ``closed``...),
    ``unknown`` (no venue answer: resolved by lookup, never resend), ``cancel_requested``,
    ``modify_requested``. ``http_status`` and ``replayed`` (an idempotent replay) come from the
    response itself. ``seq``: the ACCOUNT stream sequence of the command's intent event (0 when
    nothing was published); pass it as ``min_seq`` to a :class:`StateClient` read to see the
    command's effect (read-your-writes).
    """

    seq: int = 0

    status: str = ""
    client_id: str = ""
    order_id: str = ""
    order: Order | None = None
    message: str = ""
    scope: str = ""
    market: str | None = None
    results: list[dict[str, Any]] = []
    http_status: int = 0
    replayed: bool = False


class KillResult(View, frozen=True, kw_only=True):
    """The kill switch after ``POST /v1/kill`` or ``/v1/resume``: ``scope`` ``global`` (the admin
    token) or ``strategy`` (a strategy's own token: ``strategy`` names it); ``cancel`` is the
    cancel-everything a kill did; ``seq`` the ACCOUNT sequence of the KillSwitch event."""

    seq: int = 0
    active: bool = False
    scope: str = ""
    strategy: str = ""
    cancel: CommandResult | None = None
    http_status: int = 0


class AlgoOrder(View, frozen=True, kw_only=True):
    """The venue's record of a TWAP algo order (``status`` NEW, OPEN, CLOSED; ``remaining_size``
    not filled yet; ``cancel_reason`` "" unless stopped, e.g. ``USER_CANCELED``)."""

    id: str
    market: str = ""
    side: str = ""
    size: Decimal = Decimal(0)
    remaining_size: Decimal = Decimal(0)
    status: str = ""
    avg_fill_price: str = ""
    algo_type: str = ""
    cancel_reason: str = ""
    created_at: int = 0
    last_updated_at: int = 0
    end_at: int = 0
    algo_params: dict[str, str] = {}


class AlgoView(View, frozen=True, kw_only=True):
    """A TWAP as the state knows it (``GET /v1/algo/orders``): the venue's record, who placed it,
    its child order ids (oldest first) and their filled size."""

    id: str
    algo: AlgoOrder
    status: str = ""
    strategy: str = ""
    signature_timestamp: int = 0
    child_order_ids: tuple[str, ...] = ()
    filled: Decimal = Decimal(0)


class AlgoResult(View, frozen=True, kw_only=True):
    """The answer to a TWAP place or cancel: ``status`` accepted / cancel_requested (a non-2xx
    answer raises); ``seq`` the ACCOUNT sequence of the published algo record (read-your-writes)."""

    seq: int = 0
    status: str = ""
    algo_id: str = ""
    algo: AlgoOrder | None = None
    strategy: str = ""
    message: str = ""
    http_status: int = 0
