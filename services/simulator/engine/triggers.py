"""Stop and take-profit orders: UNTRIGGERED until the mark price reaches the trigger.

Decisions (the docs say the trigger is the instrument's **mark price**; the rest is our choice
where the spec is silent, documented in the README):

- Types STOP_LIMIT, STOP_MARKET, TAKE_PROFIT_LIMIT, TAKE_PROFIT_MARKET, STOP_LOSS_LIMIT,
  STOP_LOSS_MARKET carry a ``trigger_price`` (required, on the tick). ``*_LIMIT`` ones need a
  LIMIT price, ``*_MARKET`` ones price 0 or none.
- Condition: ``STOP_CONDITION_ABOVE_TRIGGER`` triggers when mark >= trigger,
  ``STOP_CONDITION_BELOW_TRIGGER`` when mark <= trigger. Without a flag the venue's "mark crosses
  the trigger" rule decides at submission: a trigger above the current mark waits for the mark to
  rise (ABOVE), below it for the mark to fall (BELOW); a trigger equal to the mark uses the
  type's usual direction (stops and stop-losses: BUY above / SELL below; take-profits: BUY below
  / SELL above), so it triggers at once. The chosen flag is added to the order's ``flags``.
- Flow (one order id throughout): NEW → (risk step: only the open-orders cap) UNTRIGGERED →
  (trigger) the child's own risk step → OPEN → CLOSED, or CLOSED with the child's reason.
  Untriggered orders are not margin exposure. A triggered order behaves exactly as a LIMIT or
  MARKET order submitted at that moment (same code path: ``Order.kind``).
- Trigger checks run at the end of every command that changed a market's top of book (the only
  way its mark can move; also after a pinned mark changes or a stop is armed), against
  per-market sorted queues (:mod:`.stopqueue`): O(1) per check, and no Decimal arithmetic while
  the nearest triggers are outside the spread. Each
  triggered order is its own command, right after the command that moved the mark; several due
  at once trigger lowest-above / highest-below first, older first at equal prices.
- REDUCE_ONLY stops become reduce-only children (checked at trigger time, not at submission,
  so a bracket can be placed before the position exists). A TAKE_PROFIT_* / STOP_LOSS_* order
  with size 0 and REDUCE_ONLY (what ccxt sends for TP/SL) is *position-sized*: at trigger its
  size becomes the reducible position (capped at ``max_order_size``).
- Cancel works on UNTRIGGERED orders like on OPEN ones. Modify of an UNTRIGGERED order may
  change size, price and trigger_price (the condition flag stays); once triggered, a LIMIT-child
  order is modified like a LIMIT order and its trigger_price can no longer change.
"""

from __future__ import annotations

from decimal import Decimal

from . import accounting
from .events import VenueEvent
from .matching import Matching
from .state import Order
from .stopqueue import TriggerQueue
from .types import ZERO, CancelReason, Flag, OrderType, Side, Status


def default_condition(order_type: OrderType, side: Side, trigger: Decimal, mark: Decimal) -> Flag:
    """The STOP_CONDITION flag of a stop order submitted without one (see module doc)."""
    if trigger > mark:
        return Flag.STOP_CONDITION_ABOVE_TRIGGER
    if trigger < mark:
        return Flag.STOP_CONDITION_BELOW_TRIGGER
    rising = (side is Side.BUY) != order_type.is_take_profit
    return Flag.STOP_CONDITION_ABOVE_TRIGGER if rising else Flag.STOP_CONDITION_BELOW_TRIGGER


class Triggers(Matching):
    """Arms stop orders after their risk step and fires them when the mark reaches them."""

    def _accept(self, order: Order) -> None:
        if order.status is not Status.NEW or not order.trigger_price:
            super()._accept(order)
            return
        acct = self.accounts[order.account]
        self._touch(acct, None)
        if acct.live_counts.get(order.market, 0) > self.markets[order.market].max_open_orders:
            self._close(order, CancelReason.MAX_OPEN_ORDERS_EXCEEDED)
            return
        order.status = Status.UNTRIGGERED
        self._emit_order(order)
        self._arm(order)

    def _run_triggers(self) -> list[VenueEvent]:
        """Fire every due stop order, each as its own command (events in venue order)."""
        out: list[VenueEvent] = []
        dirty = self._trigger_dirty
        while dirty:
            market = min(dirty) if len(dirty) > 1 else next(iter(dirty))
            queue = self.stops[market]
            order = queue.pop_due(self.mark_price(market)) if self._may_trigger(market, queue) else None
            if order is None:
                dirty.discard(market)
                continue
            order.trigger_seq = 0
            self._fire(order)
            out.extend(self._flush())  # the market stays dirty: re-checked at its new mark
        return out

    def _may_trigger(self, market: str, queue: TriggerQueue) -> bool:
        """Cheap pre-check: with both sides and no pinned mark, the mark is within the spread."""
        if not queue:
            return False
        book = self.books[market]
        bid, ask = book.best_bid(), book.best_ask()
        if bid is None or ask is None or market in self.mark_override:
            return True
        return queue.may_trigger(bid, ask)

    def _fire(self, order: Order) -> None:
        """The trigger: the order now runs the risk step and matching of its child type."""
        acct = self.accounts[order.account]
        self._touch(acct, None)
        if order.position_sized:
            cap = accounting.reducing_capacity(acct.position(order.market).size, order.side)
            cap = min(cap, self.markets[order.market].max_order_size)
            if cap == ZERO:
                self._close(order, CancelReason.REDUCE_ONLY_WOULD_INCREASE)
                return
            order.size = order.remaining_size = cap
        self._open(order)

    def _modify(self, order: Order, price: Decimal, size: Decimal, trigger: Decimal) -> None:
        """A queued modify: an UNTRIGGERED order is re-armed with its new trigger price."""
        if order.status is not Status.UNTRIGGERED:
            self._apply_modify(order, price, size)
            return
        self._disarm(order)
        order.price = price
        order.size = order.remaining_size = size
        order.position_sized = False
        order.trigger_price = trigger
        self._emit_order(order)
        self._arm(order)

    def _pin_mark(self, market: str, price: Decimal | None) -> None:
        if price is None:
            self.mark_override.pop(market, None)
        else:
            self.mark_override[market] = price
        self._trigger_dirty.add(market)

