"""Throughput of the state core (pure fold, one core): order events and book deltas per second.

``python -m bench.state_core`` prints human lines, then LAST one JSON line with
``order_events_per_s`` and ``book_deltas_per_s``. Events are built before timing (the core's input
is decoded events); each run folds them into a fresh core.

Order mix (per order): NEW, OPEN, two partial fills, CLOSED (WS), one WS duplicate, one stale REST
record; i.e. the merge path, the duplicate path and the suppression path.
Book mix: a 50+50 level snapshot, then contiguous deltas of 1-3 level changes near the top,
including removals of the best level (which forces the best-price recompute).
"""

from __future__ import annotations

import gc
import json
import random
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from services.state.core import StateCore
from shared.bus import BookEvent, OrderEvent
from shared.paradex.models.account import Order
from shared.paradex.models.market_data import BookLevel, BookUpdate

TARGET_ORDERS = 200_000
TARGET_BOOK = 100_000
T0 = 1_700_000_000_000
MARKET = "BTC-USD-PERP"


def _order(oid: int, status: str, remaining: str, lua: int, seq: int) -> Order:
    return Order(id=str(oid), account="0xabc", market=MARKET, side="BUY", type="LIMIT",
                 size=Decimal("1"), remaining_size=Decimal(remaining), price=Decimal("100"),
                 status=status, created_at=T0, last_updated_at=lua, timestamp=T0, cancel_reason="",
                 client_id=f"c{oid}", seq_no=seq, instruction="GTC", avg_fill_price="",
                 received_at=T0, published_at=lua, flags=[], trigger_price="")


def order_events(n_orders: int) -> list[OrderEvent]:
    """Seven events per order, interleaved across 64 concurrently active orders."""
    per_order: list[list[OrderEvent]] = []
    for i in range(n_orders):
        t = T0 + i * 10
        steps = [("NEW", "1"), ("OPEN", "1"), ("OPEN", "0.6"), ("OPEN", "0.2"), ("CLOSED", "0")]
        evs = [OrderEvent(source="ws", venue_ts_ms=t + k, recv_ns=(t + k) * 1_000_000, conn_epoch=1,
                          order=_order(i, s, r, t + k, k + 1)) for k, (s, r) in enumerate(steps)]
        evs.insert(3, evs[2])  # a WS duplicate
        stale = _order(i, "OPEN", "1", t + 1, 10**12 + 1)
        evs.insert(5, OrderEvent(source="rest", venue_ts_ms=t + 1, recv_ns=(t + 9) * 1_000_000, order=stale))
        per_order.append(evs)
    out: list[OrderEvent] = []
    width = 64
    for base in range(0, n_orders, width):
        group = per_order[base:base + width]
        for k in range(7):
            out.extend(g[k] for g in group)
    return out


def book_events(n: int, rng: random.Random) -> list[BookEvent]:
    """One snapshot then ``n`` contiguous deltas."""
    def lvl(side: str, price: int, size: int) -> BookLevel:
        return BookLevel(side=side, price=Decimal(price) / 10, size=Decimal(size) / 1000)

    snap = BookUpdate(seq_no=1, market=MARKET, last_updated_at=T0, update_type="s",
                      inserts=[lvl("BUY", 10_000 - i, 500 + i) for i in range(1, 51)]
                      + [lvl("SELL", 10_000 + i, 500 + i) for i in range(1, 51)],
                      updates=[], deletes=[])
    out = [BookEvent(source="ws", book=snap)]
    for k in range(n):
        seq = k + 2
        ups: list[BookLevel] = []
        dels: list[BookLevel] = []
        for _ in range(rng.randint(1, 3)):
            side = "BUY" if rng.random() < 0.5 else "SELL"
            off = rng.randint(1, 12)
            price = 10_000 - off if side == "BUY" else 10_000 + off
            if rng.random() < 0.2:
                dels.append(lvl(side, price, 0))
            else:
                ups.append(lvl(side, price, rng.randint(1, 5000)))
        out.append(BookEvent(source="ws", book=BookUpdate(
            seq_no=seq, market=MARKET, last_updated_at=T0 + k, update_type="d", inserts=[],
            updates=ups, deletes=dels)))
    return out


def fold_rate(events: list[Any], runs: int = 3) -> tuple[float, StateCore]:
    """Best events/s over ``runs`` folds into fresh cores."""
    best = 0.0
    core = StateCore()
    for _ in range(runs):
        core = StateCore()
        apply: Callable[[int, Any], Any] = core.apply
        gc.collect()
        start = time.perf_counter()
        for i, ev in enumerate(events, 1):
            apply(i, ev)
        best = max(best, len(events) / (time.perf_counter() - start))
    return best, core


def main() -> None:
    rng = random.Random(7)
    orders = order_events(30_000)
    order_rate, core = fold_rate(orders)
    closed = len(core.list_orders(status="CLOSED").value)
    print(f"order events: {len(orders):,} folded at {order_rate:>12,.0f} /s "
          f"({closed:,} orders closed, {core.counters.get('stale_rest_suppressed'):,} stale REST "
          f"suppressed, {core.counters.get('duplicate_ws_order'):,} duplicates)")
    books = book_events(200_000, rng)
    book_rate, core = fold_rate(books)
    top = core.get_bbo(MARKET).value
    print(f"book deltas:  {len(books):,} folded at {book_rate:>12,.0f} /s "
          f"(valid={top.valid}, bid={top.bid}, ask={top.ask})")
    for name, value, target in (("order events", order_rate, TARGET_ORDERS),
                                ("book deltas", book_rate, TARGET_BOOK)):
        verdict = "meets" if value >= target else "MISSES"
        print(f"{name}: {value:,.0f}/s {verdict} the {target:,}/s target (python {sys.version.split()[0]})")
    print(json.dumps({"order_events_per_s": round(order_rate), "book_deltas_per_s": round(book_rate)},
                     sort_keys=True))


if __name__ == "__main__":
    main()
