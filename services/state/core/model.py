"""Records held by the state core, and what :meth:`StateCore.apply` returns.

Every record is a frozen msgspec Struct: a change hands the shell a value that will never mutate
under it, and the whole state encodes deterministically for the Redis checkpoint.

Order statuses. The venue ranks ``NEW < UNTRIGGERED < OPEN < CLOSED`` (``CLOSED`` terminal). We add
local statuses that are *overlays* on that rank, never venue facts:

- ``PENDING_NEW`` (rank 0): a command was submitted, the venue has not spoken yet;
- ``UNKNOWN`` (rank 0): the command's outcome is unknown; a lookup resolves it, never a resend;
- ``PENDING_CANCEL`` (rank 3, like OPEN): a cancel was sent; shown over NEW/UNTRIGGERED/OPEN until
  the venue reports CLOSED, the venue definitely refuses the cancel (``CmdCancelFailed``), or a REST
  record fetched more than G after the request still shows the order live (the cancel did not
  execute);
- ``PENDING_MODIFY`` (rank 3): a modify was sent; shown until a venue record carries the requested
  price/size, the order closes, the venue refuses the modify, or a REST record fetched more than G
  after the request still shows the old values (PENDING_CANCEL is shown over it);
- ``REJECTED`` (rank 4, terminal like CLOSED): the venue or our risk checks refused the order.

Clearing PENDING_CANCEL / PENDING_MODIFY shows the venue status again (its rank may be lower: the
overlay was our intent, never a venue fact). ``pending_ns`` / ``modify_ns`` are the ``recv_ns``
of the command event that set the overlay: the in-flight check (a shell timer) reads them.

Venue evidence beats every overlay: the first venue record for an entry replaces PENDING_NEW /
UNKNOWN, and even REJECTED (the venue saying the order exists is the truth; counted as
``rejected_overridden``). The monotonic facts (rank, filled size, ``last_updated_at``) are kept on
the venue part of the record (``venue_status`` ...), so an overlay can never make them go back.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final, Literal

import msgspec

from shared.paradex.models.account import Account, Balance, Fill, Order, Position

ZERO: Final = Decimal(0)

PENDING_NEW: Final = "PENDING_NEW"
PENDING_CANCEL: Final = "PENDING_CANCEL"
PENDING_MODIFY: Final = "PENDING_MODIFY"
REJECTED: Final = "REJECTED"
UNKNOWN: Final = "UNKNOWN"
NEW: Final = "NEW"
UNTRIGGERED: Final = "UNTRIGGERED"
OPEN: Final = "OPEN"
CLOSED: Final = "CLOSED"

VENUE_RANK: Final[dict[str, int]] = {NEW: 1, UNTRIGGERED: 2, OPEN: 3, CLOSED: 4}
"""Rank of the venue statuses (an unknown venue status ranks 0: it can never beat a known one)."""

STATUS_RANK: Final[dict[str, int]] = {
    PENDING_NEW: 0, UNKNOWN: 0, NEW: 1, UNTRIGGERED: 2, OPEN: 3, PENDING_CANCEL: 3, PENDING_MODIFY: 3,
    CLOSED: 4, REJECTED: 4,
}
"""Rank of the displayed statuses (venue ranks plus the local overlays)."""

TERMINAL: Final = frozenset({CLOSED, REJECTED})
IN_FLIGHT: Final = frozenset({PENDING_NEW, UNKNOWN, PENDING_CANCEL, PENDING_MODIFY})
"""Displayed statuses that wait for the venue: the in-flight check looks them up past a threshold."""

ClosedBy = Literal["", "venue", "lookup", "absent_twice", "rejected", "lookup_not_found"]


_FLAG_LISTS: dict[tuple[str, ...], list[str]] = {(): []}
_FLAG_LISTS_MAX = 256
_CANON: dict[Any, Any] = {}
_CANON_MAX = 8192
#: the low-cardinality fields of the venue records the state holds (ids, client ids and times are
#: unique per record: not shared)
_SHARED_FIELDS: dict[type, tuple[tuple[str, ...], tuple[str, ...]]] = {
    Order: (("account", "market", "side", "type", "status", "cancel_reason", "instruction",
             "avg_fill_price", "trigger_price", "stp"), ("size", "remaining_size", "price")),
    Fill: (("side", "liquidity", "market", "fee_currency", "fill_type", "account", "underlying_price"),
           ("price", "size", "fee", "remaining_size", "realized_pnl", "realized_funding")),
}


def shared_value(v: Any) -> Any:
    """``v`` (a str or Decimal) as the one object held for that exact value (a bounded table: past
    ``_CANON_MAX`` values, ``v`` itself). Decimals are keyed by their exact text (``1`` and ``1.0``
    compare equal but encode differently: they stay distinct)."""
    key = ("d", str(v)) if type(v) is Decimal else v
    got = _CANON.get(key)
    if got is None:
        if len(_CANON) >= _CANON_MAX:
            return v
        got = _CANON[key] = v
    return got


def shared_flags(rec: Any) -> Any:
    """``rec`` (an :class:`Order` or :class:`Fill`) with its repeated values shared with every
    other held record: the ``flags`` list (the same list object for the same flags) and the
    low-cardinality strings and decimals (market, side, status, account, sizes, prices, ...).

    A record is untracked by the garbage collector but its ``flags`` list is not: one list per
    held order and fill was most of what every full collection scanned (15 000 lists after
    15 000 orders). And msgspec decodes every string and decimal as a new object: the ~20 per
    held order or fill (60 bytes a string, 104 a decimal) were the largest part of the state's
    memory (48 MB for 20 000 orders and 20 000 fills). Held records are frozen and never
    mutated, so equal values can be one object; values (and every encoding) are unchanged.
    Only the first ``_FLAG_LISTS_MAX`` distinct flag combinations and ``_CANON_MAX`` values are
    shared (a record beyond keeps its own objects).
    """
    flags = rec.flags
    key = tuple(flags)
    canon = _FLAG_LISTS.get(key)
    if canon is None:
        if len(_FLAG_LISTS) >= _FLAG_LISTS_MAX:
            canon = flags
        else:
            canon = _FLAG_LISTS[key] = list(key)
    strs, decs = _SHARED_FIELDS.get(type(rec), ((), ()))
    changes: dict[str, Any] = {name: shared_value(getattr(rec, name)) for name in strs}
    changes.update((name, shared_value(getattr(rec, name))) for name in decs)
    if canon is not flags:
        changes["flags"] = canon
    return msgspec.structs.replace(rec, **changes)


class Record(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """Base of the state records (frozen; fields with defaults are left out of dumps).

    ``gc=False``: a record holds only scalars and venue model structs, never anything that can
    point back at it, so it cannot be part of a reference cycle; untracked, the tens of thousands
    of live records cost nothing in the garbage collector's full collections.
    """


class OrderState(Record, frozen=True, kw_only=True):
    """One order as the state knows it (key = exchange id, or ``client:<client_id>`` until linked).

    ``status`` is what a strategy should read (venue status or a local overlay); ``venue_status``,
    ``filled`` and ``last_updated_at`` are the venue's monotonic facts. ``ws_seq`` / ``rest_seq``
    are the last ``seq_no`` applied per source (never compared with each other).

    ``error_op`` / ``error_code`` / ``error_message``: the last cancel or modify the venue refused.
    ``modify_size`` / ``modify_price``: what the pending modify asked for ("" = unchanged).
    ``fills_sum``: size of the distinct fills received for this order; ``fills_base``: filled size
    the fills we hold do not cover, as of venue time ``fills_base_ts`` (an order first seen in a
    snapshot, or a gap the venue could not explain): ``filled == fills_sum + fills_base`` holds
    while no push is missing (see :mod:`services.state.core.gaps`).
    """

    key: str
    id: str = ""
    client_id: str = ""
    market: str = ""
    side: str = ""
    type: str = ""
    size: Decimal = ZERO
    remaining_size: Decimal = ZERO
    filled: Decimal = ZERO
    price: Decimal = ZERO
    status: str
    venue_status: str = ""
    local: str = ""
    last_updated_at: int = 0
    order: Order | None = None
    source: str = ""
    ws_seq: int = 0
    rest_seq: int = 0
    closed_by: ClosedBy = ""
    reject_code: str = ""
    reject_message: str = ""
    strategy: str = ""
    lookup_pending: bool = False
    absent_in: str = ""
    absent_seq: int = 0
    modify_pending: bool = False
    modify_size: str = ""
    modify_price: str = ""
    pending_ns: int = 0
    modify_ns: int = 0
    error_op: str = ""
    error_code: str = ""
    error_message: str = ""
    fills_sum: Decimal = ZERO
    fills_base: Decimal = ZERO
    fills_base_ts: int = 0
    last_live_seq: int = 0
    last_recv_ns: int = 0
    stream_seq: int = 0


class PositionState(Record, frozen=True, kw_only=True):
    """The venue's position for one market (``position`` is the last applied full record)."""

    market: str
    position: Position
    venue_ts: int = 0
    source: str = ""
    ws_seq: int = 0
    rest_seq: int = 0
    closed_by: ClosedBy = ""
    absent_in: str = ""
    absent_seq: int = 0
    last_live_seq: int = 0
    last_recv_ns: int = 0
    stream_seq: int = 0


class AccountState(Record, frozen=True, kw_only=True):
    """The account summary (margin snapshot)."""

    summary: Account
    venue_ts: int = 0
    source: str = ""
    ws_seq: int = 0
    rest_seq: int = 0
    stream_seq: int = 0


class BalanceState(Record, frozen=True, kw_only=True):
    """The balance of one token; from REST records or WS ``balance_events`` (``size`` = balance after)."""

    token: str
    size: Decimal
    balance: Balance
    venue_ts: int = 0
    source: str = ""
    absent_in: str = ""
    absent_seq: int = 0
    last_live_seq: int = 0
    last_recv_ns: int = 0
    stream_seq: int = 0


class FillState(Record, frozen=True, kw_only=True):
    """One fill (append-only); ``busted`` once a tradebust names it."""

    fill: Fill
    busted: bool = False
    source: str = ""
    stream_seq: int = 0


class BookTop(Record, frozen=True, kw_only=True):
    """Top of one market's book after a book event (the change value pushed for books)."""

    market: str
    seq_no: int
    valid: bool
    reason: str = ""
    bid: Decimal | None = None
    bid_size: Decimal | None = None
    ask: Decimal | None = None
    ask_size: Decimal | None = None
    last_updated_at: int = 0


class Change(msgspec.Struct, frozen=True):
    """One entity changed: ``value`` is its new record, or ``None`` when it was deleted."""

    kind: str
    key: str
    value: Any


#: The reason of a lookup the shell sends only after the lookup grace (an order absent from a
#: snapshot taken right after its last update: the REST answer may predate it).
LOOKUP_LATER: Final = "absent_young"


class Action(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Something the shell must ask for: ``reconcile`` (a REST snapshot) or ``lookup`` (one order).

    ``parts`` empty asks for a full snapshot; otherwise only those parts (a targeted run), with
    order history and fills from venue time ``since_ms`` (0: the reconciler's own window).
    """

    kind: Literal["reconcile", "lookup"]
    reason: str
    parts: tuple[str, ...] = ()
    order_id: str = ""
    client_id: str = ""
    since_ms: int = 0


class Result(msgspec.Struct, kw_only=True):
    """What one event did. ``dropped`` names why an event changed nothing ("" when it applied).

    ``corrections`` counts REST records applied by this event (WS had missed something).
    """

    stream: str
    seq: int
    changes: list[Change]
    actions: list[Action]
    corrections: int = 0
    dropped: str = ""


class Answer(msgspec.Struct, frozen=True):
    """A query result with the stream sequence it reflects."""

    seq: int
    value: Any
