"""Who owns an order: this service's records (Redis) first, else the exposure book's view; while
Redis does not answer, the book alone (so cancels, the kill switch's included, still go out)."""

from __future__ import annotations

import logging

import msgspec

from services.commands.core.exposure import ExposureBook
from services.commands.store import CommandStore, StoreUnavailable

log = logging.getLogger("commands.ownership")


class _Shape(msgspec.Struct):
    market: str = ""
    side: str = ""
    type: str = ""


class _Stored(msgspec.Struct):
    order: _Shape | None = None


_shape = msgspec.json.Decoder(_Stored)


class Ownership:
    """Owners and shapes of orders, for the cancel/modify ownership rule and modify's checks."""

    def __init__(self, store: CommandStore, book: ExposureBook) -> None:
        self.store = store
        self.book = book

    async def of_order(self, order_id: str) -> tuple[str | None, str]:
        """(owner strategy or None when not placed through this service, client id or "")."""
        try:
            found = await self.store.order_owner(order_id)
        except StoreUnavailable as exc:
            log.warning("owner of order %s from the live-order view (Redis down): %s", order_id, exc)
            found = None
        if found is not None:
            return found
        cid = self.book.by_order_id.get(order_id, "")
        owner = self.book.owners.get(cid) if cid else None
        return owner or None, cid

    async def of_client_id(self, client_id: str) -> str | None:
        try:
            rec = await self.store.get(client_id)
        except StoreUnavailable:
            return self.book.owners.get(client_id) or None
        return rec.s if rec is not None else None

    async def of_client_ids(self, client_ids: list[str]) -> dict[str, str]:
        try:
            return await self.store.owners(client_ids)
        except StoreUnavailable:
            return {c: self.book.owners[c] for c in client_ids if self.book.owners.get(c)}

    async def shape(self, cid: str) -> tuple[str, str, str]:
        """(market, side, type) of the order placed under ``cid``: from its stored accepted answer,
        else the live-order view (market and side); "" where unknown."""
        try:
            rec = await self.store.get(cid) if cid else None
        except StoreUnavailable:
            rec = None
        if rec is not None and rec.st == "done":
            try:
                order = _shape.decode(bytes(rec.body)).order
            except (msgspec.ValidationError, msgspec.DecodeError):
                order = None
            if order is not None:
                return order.market, order.side, order.type
        live = self.book.exposure.orders.get(cid) if cid else None
        return (live.market, live.side, "") if live is not None else ("", "", "")
