"""Per-strategy risk limits (pure): allowed markets, order notional, open orders, position.

:class:`Exposure` is what the shell knows of the account: live orders (from the state service's
Redis keys, plus this service's in-flight orders not yet seen there) and positions per market.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from services.commands.core.rules import ZERO, Intent, Violation
from services.commands.core.strategies import Strategy


@dataclass(frozen=True, slots=True)
class LiveOrder:
    """A live (non-terminal) order: who owns it, where, which side, how much is left."""

    client_id: str
    market: str
    side: str
    remaining: Decimal
    owner: str = ""


@dataclass
class Exposure:
    """Live orders by client id, signed positions by market, reference prices by market."""

    orders: dict[str, LiveOrder] = field(default_factory=dict)
    positions: dict[str, Decimal] = field(default_factory=dict)
    prices: dict[str, Decimal] = field(default_factory=dict)

    def open_orders(self, owner: str, market: str, pending: Sequence[LiveOrder] = ()) -> int:
        """How many live orders of ``owner`` rest (or are in flight) in ``market``, plus those of
        ``pending`` (orders being decided together with this one) not already counted."""
        live = sum(1 for o in self.orders.values() if o.owner == owner and o.market == market)
        return live + sum(
            1 for o in pending if o.owner == owner and o.market == market and not self._counted(o)
        )

    def _counted(self, o: LiveOrder) -> bool:
        """Whether ``o`` is already counted here under its owner (an order the view shows before
        it learnt its owner is counted from ``pending``, not skipped twice)."""
        mine = self.orders.get(o.client_id)
        return mine is not None and mine.owner == o.owner

    def open_size(self, market: str, side: str, pending: Sequence[LiveOrder] = ()) -> Decimal:
        """Remaining size of every live order of the account on ``side`` of ``market`` (plus
        ``pending`` ones not already counted)."""
        live = sum((o.remaining for o in self.orders.values() if o.market == market and o.side == side), ZERO)
        return live + sum(
            (
                o.remaining
                for o in pending
                if o.market == market and o.side == side and o.client_id not in self.orders
            ),
            ZERO,
        )


def _forbidden(error: str, rule: str, message: str) -> Violation:
    return Violation(error=error, rule=rule, message=message, status=403)


def check_market_allowed(strategy: Strategy, market: str) -> Violation | None:
    """403 when ``market`` is outside the strategy's allowed markets."""
    if not strategy.allows_market(market):
        return _forbidden(
            "MARKET_NOT_ALLOWED",
            "allowed_markets",
            f"strategy {strategy.name} may not trade {market} (allowed: {list(strategy.markets)})",
        )
    return None


def check_limits(
    strategy: Strategy,
    intent: Intent,
    exposure: Exposure,
    *,
    replaces: Decimal = ZERO,
    new_order: bool = True,
    pending: Sequence[LiveOrder] = (),
) -> Violation | None:
    """Every limit of ``strategy`` for ``intent``. ``replaces`` is the size a modify takes away
    (the order's current remaining size); ``new_order`` False for a modify (no new open order);
    ``pending``: orders passed just before this one and not yet in ``exposure`` (earlier items of
    the same batch, other replicas' reservations), which count as live.

    The position check is the worst case on the order's side: the account's position plus every
    live order on that side plus this one must stay within ``max_position`` in absolute value.
    """
    if (v := check_market_allowed(strategy, intent.market)) is not None:
        return v
    if strategy.max_order_notional is not None:
        notional = intent.notional(exposure.prices.get(intent.market))
        if notional is None:
            return _forbidden(
                "NO_REFERENCE_PRICE",
                "max_order_notional",
                f"no reference price for {intent.market} to check the notional of a {intent.type} order",
            )
        if notional > strategy.max_order_notional:
            return _forbidden(
                "ORDER_NOTIONAL_ABOVE_LIMIT",
                "max_order_notional",
                f"notional {notional} exceeds {strategy.name}'s max_order_notional "
                f"{strategy.max_order_notional}",
            )
    if new_order and strategy.max_open_orders_per_market is not None:
        count = exposure.open_orders(strategy.name, intent.market, pending)
        if count >= strategy.max_open_orders_per_market:
            return _forbidden(
                "OPEN_ORDERS_LIMIT",
                "max_open_orders_per_market",
                f"{strategy.name} already has {count} open orders in {intent.market} "
                f"(max {strategy.max_open_orders_per_market})",
            )
    if strategy.max_position is not None and "REDUCE_ONLY" not in intent.flags:
        position = exposure.positions.get(intent.market, ZERO)
        resting = exposure.open_size(intent.market, intent.side, pending) - replaces
        sign = 1 if intent.side == "BUY" else -1
        worst = position + sign * (resting + intent.size)
        if abs(worst) > strategy.max_position:
            return _forbidden(
                "POSITION_LIMIT",
                "max_position",
                f"position {position} with {resting} resting and this {intent.size} on the "
                f"{intent.side} side could reach {worst}, beyond {strategy.name}'s "
                f"max_position {strategy.max_position}",
            )
    return None


def check_cancel(strategy: Strategy, owner: str | None) -> Violation | None:
    """A strategy cancels only its own orders unless ``can_cancel_others``; ``owner`` None = unknown
    to this service (not placed through it)."""
    if strategy.can_cancel_others or owner == strategy.name:
        return None
    whose = "an order not placed through the hub" if owner is None else f"an order of {owner}"
    return _forbidden(
        "NOT_ORDER_OWNER", "can_cancel_others", f"strategy {strategy.name} may not cancel {whose}"
    )
