"""The decisions of the place pipeline (pure). A single place is a batch of one.

The shell (``services.commands.pipeline``) runs, for a list of orders:

1. :func:`plan` - every item typed into an :class:`Item` and checked by the static rules (client
   id, numbers, system state, market specs, the kill switch); a client id repeated inside the
   request is refused (422 ``DUPLICATE_CLIENT_ID``). Refused items get their answer now;
2. the idempotency claims (one Redis round trip for all items) sorted by :func:`sort_claims`:
   won (this request sends it), another strategy's (409), or known (its stored answer replayed);
3. :func:`within_limits` - the strategy's limits item by item, each passing item counted for the
   next ones (as are orders reserved before them by other requests or replicas);
4. the venue budget, then the intent events, signing, one venue request per :func:`chunks`, and
   the answer per outcome (``core.answers.of_outcome``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import msgspec

from services.commands.core import answers
from services.commands.core.messages import Answer, PlaceOrder
from services.commands.core.risk import Exposure, LiveOrder, check_limits
from services.commands.core.rules import (
    Intent,
    Violation,
    check_client_id,
    check_numbers,
    check_order,
    check_system,
)
from services.commands.core.strategies import Strategy
from shared.paradex.models.reference import Market

VENUE_BATCH_MAX = 10
"""Orders per venue ``POST /orders/batch`` (PROTOCOL 3.5: 1-10)."""
API_BATCH_MAX = 50
"""Orders per ``POST /v1/orders/batch``."""


class Item(msgspec.Struct, frozen=True):
    """One order of a request: its position, client id, the request and its typed intent."""

    index: int
    client_id: str
    request: PlaceOrder
    intent: Intent

    def live(self, owner: str) -> LiveOrder:
        """The order as the limits count it while it is in flight."""
        return LiveOrder(self.client_id, self.intent.market, self.intent.side, self.intent.size, owner)


@dataclass(frozen=True)
class Context:
    """What the static rules read: venue specs and state, reference prices, the time, and the
    kill switch's refusal for this strategy (None when orders are allowed)."""

    markets: Mapping[str, Market]
    system_status: str
    prices: Mapping[str, Decimal]
    now_ms: int
    killed: Violation | None = None
    extra_rules: tuple[Callable[[Intent], Violation | None], ...] = field(default=())


def intent_of(req: PlaceOrder, client_id: str) -> Intent:
    """The typed intent of a place request."""
    return Intent(
        market=req.market,
        side=req.side,
        type=req.type,
        size=req.size,
        price=req.price,
        instruction=req.instruction,
        flags=tuple(req.flags),
        client_id=client_id,
        trigger_price=req.trigger_price,
    )


def static_check(intent: Intent, ctx: Context) -> Violation | None:
    """Rules that depend only on the request, the venue's specs and state, and the kill switch."""
    v = (
        check_client_id(intent.client_id)
        or check_numbers(intent)
        or ctx.killed
        or check_system(ctx.system_status, intent)
        or check_order(intent, ctx.markets.get(intent.market), ctx.now_ms, ctx.prices.get(intent.market))
    )
    if v is None:
        for rule in ctx.extra_rules:
            if (v := rule(intent)) is not None:
                break
    return v


def plan(
    orders: Sequence[PlaceOrder], client_ids: Sequence[str], ctx: Context
) -> tuple[list[Item], dict[int, Answer]]:
    """Items that pass the static rules, and the answer of each refused item by index."""
    items: list[Item] = []
    refused: dict[int, Answer] = {}
    seen: set[str] = set()
    for i, (req, cid) in enumerate(zip(orders, client_ids, strict=True)):
        intent = intent_of(req, cid)
        if (v := static_check(intent, ctx)) is not None:
            refused[i] = answers.violation(v)
        elif cid in seen:
            refused[i] = answers.error(
                422,
                "DUPLICATE_CLIENT_ID",
                "client_id",
                f"client_id {cid} appears more than once in the batch",
            )
        else:
            seen.add(cid)
            items.append(Item(i, cid, req, intent))
    return items, refused


def taken(cid: str) -> Answer:
    """409: the client id belongs to another strategy."""
    return answers.error(409, "CLIENT_ID_TAKEN", "client_id", f"client_id {cid} belongs to another strategy")


def within_limits(
    strategy: Strategy, items: Sequence[Item], exposure: Exposure, reserved: Sequence[LiveOrder] = ()
) -> tuple[list[Item], dict[int, Answer]]:
    """Items within the strategy's limits, in order: each passing item counts against the next
    ones, as do ``reserved`` orders (decided before these, not yet in ``exposure``)."""
    passed: list[Item] = []
    refused: dict[int, Answer] = {}
    pending = list(reserved)
    for item in items:
        if (v := check_limits(strategy, item.intent, exposure, pending=pending)) is not None:
            refused[item.index] = answers.violation(v)
            continue
        pending.append(item.live(strategy.name))
        passed.append(item)
    return passed, refused


def reservation_markets(strategy: Strategy, items: Sequence[Item]) -> frozenset[str]:
    """The markets whose reservations (other requests' and replicas' orders in flight) the limits
    of ``strategy`` read for ``items``: only the open-orders and position limits count them, each
    in the item's own market; none when the strategy has neither."""
    if strategy.max_open_orders_per_market is None and strategy.max_position is None:
        return frozenset()
    return frozenset(it.intent.market for it in items)


def chunks(items: Sequence[Item], size: int = VENUE_BATCH_MAX) -> list[list[Item]]:
    """Venue requests: up to ``size`` items each."""
    return [list(items[k : k + size]) for k in range(0, len(items), size)]


def batch_status(statuses: Sequence[int]) -> int:
    """The HTTP status of a batch answer: the items' common status, else 207."""
    return statuses[0] if len(set(statuses)) == 1 else 207
