"""Shared helpers for the engine tests: building exchanges and orders, replaying books."""

from __future__ import annotations

from decimal import Decimal

from services.simulator.engine import (
    BookDelta,
    Exchange,
    OrderRequest,
    OrderUpdate,
    OrderView,
    Side,
    VenueEvent,
    default_markets,
)

BTC = "BTC-USD-PERP"


def exchange() -> Exchange:
    return Exchange(default_markets())


def limit(side: str, size: str, price: str, **kw: object) -> OrderRequest:
    return OrderRequest(market=BTC, side=side, type="LIMIT", size=size, price=price, **kw)  # type: ignore[arg-type]


def market(side: str, size: str, **kw: object) -> OrderRequest:
    return OrderRequest(market=BTC, side=side, type="MARKET", size=size, **kw)  # type: ignore[arg-type]


def place(
    ex: Exchange, account: str, req: OrderRequest, now: int = 1_000
) -> tuple[OrderView, list[VenueEvent]]:
    """Submit and run the risk step; return the order's final view and the events."""
    view = ex.submit_order(account, req, now)
    events = ex.process(now + 1)
    return ex.get_order(account, view.id), events


def order_updates(events: list[VenueEvent], order_id: str) -> list[OrderView]:
    return [e.order for e in events if isinstance(e, OrderUpdate) and e.order.id == order_id]


def apply_frame(book: dict[tuple[Side, Decimal], Decimal], frame: BookDelta) -> None:
    """Apply a delta (or replace with a snapshot) the way a feed consumer does."""
    if frame.update_type == "s":
        book.clear()
    for lv in (*frame.inserts, *frame.updates):
        book[(lv.side, lv.price)] = lv.size
    for lv in frame.deletes:
        book.pop((lv.side, lv.price), None)


def engine_book(ex: Exchange, mkt: str = BTC) -> dict[tuple[Side, Decimal], Decimal]:
    snap = ex.orderbook(mkt, depth=None)
    return {(lv.side, lv.price): lv.size for lv in snap.inserts}
