"""The venue's records as the state service serves them (inside the views of :mod:`.models`).

They mirror Paradex's own fields (``orders``, ``fills``, ``positions``, ``account``, ``balance``)
but are the client's own copy: a strategy depends on the wire format, not on the services' code
(this package installs without them). Every field has a default and unknown fields are
tolerated, so a record the venue extends still decodes. ``tests/foundation/test_client_package.py``
checks that every field of the services' models is here with the same type.

Numbers the venue may leave empty (``avg_fill_price``, ``trigger_price``, ``liquidation_price``,
``leverage``, ``underlying_price``) stay text (``""`` = none): read them with the ``*_value``
properties.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import msgspec

ZERO = Decimal(0)


def opt_decimal(text: str) -> Decimal | None:
    """``text`` as a Decimal; None for ``""`` (or anything that is not a number)."""
    if not text:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


class Record(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Base of the venue records (frozen, keyword-only, unknown fields tolerated)."""


class RequestInfo(Record, frozen=True, kw_only=True):
    """A modify request on an order (``request_type`` ``MODIFY_ORDER``) and its status."""

    id: str = ""
    status: str = ""
    message: str = ""
    request_type: str = ""


class Order(Record, frozen=True, kw_only=True):
    """A venue order (times in ms since the epoch; ``seq_no`` per source)."""

    id: str = ""
    account: str = ""
    market: str = ""
    side: str = ""
    type: str = ""
    size: Decimal = ZERO
    remaining_size: Decimal = ZERO
    price: Decimal = ZERO
    status: str = ""
    created_at: int = 0
    last_updated_at: int = 0
    timestamp: int = 0
    cancel_reason: str = ""
    client_id: str = ""
    seq_no: int = 0
    instruction: str = ""
    avg_fill_price: str = ""
    received_at: int = 0
    published_at: int = 0
    flags: list[str] = []
    trigger_price: str = ""
    stp: str = ""
    request_info: RequestInfo | None = None

    @property
    def avg_fill_price_value(self) -> Decimal | None:
        return opt_decimal(self.avg_fill_price)

    @property
    def trigger_price_value(self) -> Decimal | None:
        return opt_decimal(self.trigger_price)


class Fill(Record, frozen=True, kw_only=True):
    """One execution of one of our orders (``liquidity`` MAKER/TAKER)."""

    id: str = ""
    side: str = ""
    liquidity: str = ""
    market: str = ""
    order_id: str = ""
    price: Decimal = ZERO
    size: Decimal = ZERO
    fee: Decimal = ZERO
    fee_currency: str = ""
    created_at: int = 0
    remaining_size: Decimal = ZERO
    client_id: str = ""
    fill_type: str = ""
    realized_pnl: Decimal = ZERO
    realized_funding: Decimal = ZERO
    account: str = ""
    underlying_price: str = ""
    flags: list[str] = []
    orderbook_seq_no: int | None = None

    @property
    def underlying_price_value(self) -> Decimal | None:
        return opt_decimal(self.underlying_price)


class Position(Record, frozen=True, kw_only=True):
    """The position in one market (``size`` read with ``side``: LONG or SHORT)."""

    id: str = ""
    account: str = ""
    market: str = ""
    status: str = ""
    side: str = ""
    size: Decimal = ZERO
    average_entry_price: Decimal = ZERO
    average_entry_price_usd: Decimal = ZERO
    average_exit_price: Decimal = ZERO
    unrealized_pnl: Decimal = ZERO
    unrealized_funding_pnl: Decimal = ZERO
    cost: Decimal = ZERO
    cost_usd: Decimal = ZERO
    cached_funding_index: Decimal = ZERO
    last_fill_id: str = ""
    seq_no: int = 0
    liquidation_price: str = ""
    leverage: str = ""
    realized_positional_pnl: Decimal = ZERO
    realized_positional_funding_pnl: Decimal = ZERO
    created_at: int | None = None
    last_updated_at: int | None = None
    closed_at: int | None = None

    @property
    def liquidation_price_value(self) -> Decimal | None:
        return opt_decimal(self.liquidation_price)

    @property
    def leverage_value(self) -> Decimal | None:
        return opt_decimal(self.leverage)

    @property
    def signed_size(self) -> Decimal:
        """``size`` negative for a SHORT (the venue's sign is not relied upon)."""
        return -abs(self.size) if self.side == "SHORT" else abs(self.size)


class Account(Record, frozen=True, kw_only=True):
    """The margin summary of the account."""

    account: str = ""
    initial_margin_requirement: Decimal = ZERO
    maintenance_margin_requirement: Decimal = ZERO
    account_value: Decimal = ZERO
    total_collateral: Decimal = ZERO
    free_collateral: Decimal = ZERO
    margin_cushion: Decimal = ZERO
    settlement_asset: str = ""
    updated_at: int = 0
    status: str = ""
    seq_no: int = 0
    last_seen_notification: int = 0


class Balance(Record, frozen=True, kw_only=True):
    """The balance of one token."""

    token: str = ""
    size: Decimal = ZERO
    last_updated_at: int | None = None
    cost: Decimal | None = None
    cost_usd: Decimal | None = None
    average_entry_price: Decimal | None = None
    average_entry_price_usd: Decimal | None = None
