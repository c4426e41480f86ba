"""The account's live orders and positions as the commands service follows them (pure).

The state service writes every change to Redis, and a notification of it to the change stream
``pdx:<a>:changes`` (README "Redis key schema": fields ``kind``, ``key``, ``seq``, ``value``, the
record JSON or ``null`` when deleted). The shell reads the entity keys once (a snapshot), then
follows the stream and hands each entry to :meth:`ExposureBook.apply`; nothing is re-read per
order. An entry older (by ``seq``) than what the book holds for that key is ignored, so the
overlap between the snapshot and the stream is harmless.

Orders this service is sending but the state does not show yet are held as *in flight*
(:meth:`ExposureBook.add_inflight`) and counted like live ones, so two quick orders cannot both
slip under a limit; the state's record of the client id replaces it (the state shows a command as
PENDING_NEW as soon as its CmdSubmitted is folded).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

import msgspec

from services.commands.core.risk import Exposure, LiveOrder

TERMINAL = frozenset({"CLOSED", "REJECTED"})
ZERO = Decimal(0)


class OrderRecord(msgspec.Struct, frozen=True):
    """The fields of the state's ``OrderState`` record the limits need."""

    client_id: str = ""
    id: str = ""
    market: str = ""
    side: str = ""
    remaining_size: Decimal = ZERO
    status: str = ""


class _Position(msgspec.Struct, frozen=True):
    side: str = ""
    size: Decimal = ZERO


class PositionRecord(msgspec.Struct, frozen=True):
    """The state's ``PositionState`` record (its venue position)."""

    position: _Position = msgspec.field(default_factory=_Position)

    def signed(self) -> Decimal:
        """The size, negative for a SHORT position."""
        size = abs(self.position.size)
        return -size if self.position.side == "SHORT" else size


_orders = msgspec.json.Decoder(OrderRecord)
_positions = msgspec.json.Decoder(PositionRecord)


def decode_order(raw: bytes | None) -> OrderRecord | None:
    """An order record, or None (deleted, ``null`` or malformed)."""
    if not raw or raw == b"null":
        return None
    try:
        return _orders.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None


def decode_position(raw: bytes | None) -> PositionRecord | None:
    """A position record, or None (deleted, ``null`` or malformed)."""
    if not raw or raw == b"null":
        return None
    try:
        return _positions.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None


def cid_of(record: OrderRecord) -> str:
    """The book's name of an order: its client id, or ``id:<exchange id>`` without one."""
    return record.client_id or f"id:{record.id}"


class ExposureBook:
    """Live orders (by client id), signed positions and reference prices of the account."""

    def __init__(self) -> None:
        self.exposure = Exposure()
        #: owner strategy of each client id known to this service ("" = not placed through it)
        self.owners: dict[str, str] = {}
        #: exchange order id -> client id (or ``id:<id>``), for cancels by exchange id
        self.by_order_id: dict[str, str] = {}
        self.inflight: dict[str, tuple[LiveOrder, float]] = {}
        self._key_cid: dict[str, str] = {}
        self._cid_key: dict[str, str] = {}
        self._key_seq: dict[str, int] = {}
        #: highest change-stream ``seq`` applied (0 before the first snapshot)
        self.seq = 0

    # ------------------------------------------------------------------ the state's records

    def reset(
        self, orders: Iterable[tuple[str, int, OrderRecord]], positions: dict[str, Decimal], seq: int
    ) -> None:
        """Replace everything the state showed with a snapshot: (order key, seq, record) of each
        live order, signed positions by market, and the stream ``seq`` the snapshot reflects.
        In-flight orders stay (they are not in the state yet)."""
        prices = self.exposure.prices
        self.exposure = Exposure(positions=dict(positions), prices=prices)
        self._key_cid, self._cid_key, self._key_seq, self.by_order_id = {}, {}, {}, {}
        for key, key_seq, record in orders:
            self._put(key, key_seq, record)
        for cid, (order, _) in self.inflight.items():
            self.exposure.orders.setdefault(cid, order)
        self.seq = seq

    def apply(self, kind: str, key: str, seq: int, value: bytes | None) -> None:
        """One change-stream entry (other kinds than ``order``/``position`` are ignored)."""
        self.seq = max(self.seq, seq)
        if kind == "order":
            if seq < self._key_seq.get(key, 0):
                return
            self._put(key, seq, decode_order(value))
        elif kind == "position":
            record = decode_position(value)
            if record is None:
                self.exposure.positions.pop(key, None)
            else:
                self.exposure.positions[key] = record.signed()

    def _put(self, key: str, seq: int, record: OrderRecord | None) -> None:
        old = self._key_cid.pop(key, None)
        self._key_seq[key] = seq
        # the order's record under this key is gone (a ``client:`` key replaced by the exchange id
        # arrives in any order with the new key's record: only the key now holding it counts)
        if old is not None and self._cid_key.get(old) == key:
            del self._cid_key[old]
            if old not in self.inflight:
                self.exposure.orders.pop(old, None)
        if record is None:
            return
        cid = cid_of(record)
        if record.id:
            self.by_order_id[record.id] = cid
        self.inflight.pop(cid, None)  # the state shows it now: its record replaces ours
        if record.status in TERMINAL:
            if self._cid_key.pop(cid, None) is not None or cid in self.exposure.orders:
                self.exposure.orders.pop(cid, None)
            return
        self._key_cid[key] = cid
        self._cid_key[cid] = key
        self.exposure.orders[cid] = LiveOrder(
            cid, record.market, record.side, record.remaining_size, self.owners.get(cid, "")
        )

    def missing_owners(self) -> list[str]:
        """Client ids of live orders whose owner this book does not know yet."""
        return [c for c in self.exposure.orders if c not in self.owners and not c.startswith("id:")]

    def set_owners(self, owners: dict[str, str], asked: Iterable[str] = ()) -> None:
        """Record owners (``asked`` ids absent from ``owners`` are not ours: owner "")."""
        for cid in asked:
            owners.setdefault(cid, "")
        self.owners.update(owners)
        for cid, owner in owners.items():
            o = self.exposure.orders.get(cid)
            if o is not None and o.owner != owner:
                self.exposure.orders[cid] = LiveOrder(o.client_id, o.market, o.side, o.remaining, owner)

    def set_price(self, market: str, price: Decimal | None) -> None:
        """The reference price (mid) of ``market``, None to keep the last one."""
        if price is not None and price > ZERO:
            self.exposure.prices[market] = price

    # ------------------------------------------------------------------ this service's orders

    def add_inflight(self, order: LiveOrder, now: float) -> None:
        """Count an order this service is sending, until the state shows it (or it expires)."""
        self.inflight[order.client_id] = (order, now)
        self.owners[order.client_id] = order.owner
        self.exposure.orders[order.client_id] = order

    def drop_inflight(self, client_id: str) -> None:
        """Stop counting an order the venue refused or never received."""
        if self.inflight.pop(client_id, None) is not None:
            self.exposure.orders.pop(client_id, None)

    def expire_inflight(self, now: float, max_age_s: float) -> None:
        """Drop in-flight orders the state never showed within ``max_age_s``."""
        for cid, (_, at) in list(self.inflight.items()):
            if now - at > max_age_s:
                self.drop_inflight(cid)
