"""Risk step and matching: price-time priority, STP, reduce-only, fees, fills.

Decisions (documented for the REST/WS layer):
- Risk step order: max open orders -> reduce-only must reduce -> post-only must not cross ->
  position limit (worst case with resting orders) -> initial margin (worst case, at mark) ->
  OPEN. Failures close the order with the matching ``CancelReason``. Reduce-only orders skip the
  margin and position-limit checks. Internal (synthetic market) accounts skip the whole risk step.
- MARKET orders trade only within ``mark * (1 ± max_slippage)`` (rounded inward to the tick);
  MARKET and IOC remainders close with NO_LIQUIDITY. LIMIT prices are not banded.
- Reduce-only: checked on acceptance (rejected when the position is flat or on the same side);
  each execution is capped at the current reducing amount; a reduce-only order that can no longer
  reduce is closed (REDUCE_ONLY_WOULD_INCREASE) when it would trade. Sizes are not clipped up front.
- Self-trade prevention follows the taker's ``stp``: EXPIRE_TAKER (default) closes the taker's
  remainder, EXPIRE_MAKER closes the resting order and continues, EXPIRE_BOTH closes both; the
  cancel reason is SELF_TRADE. Fills already made stay.
- Fees: ``size * price * rate`` rounded to 1e-8, maker/taker rate from the market (negative =
  rebate). The balance changes by ``realized_pnl - fee`` per fill, exactly.
- Modify keeps the id but always loses time priority (the order is re-queued at its new price);
  a modified order that would cross trades as a taker (a POST_ONLY one is closed instead).
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from . import accounting
from .book import Level
from .events import TradeEvent
from .ledger import Ledger
from .state import Order
from .types import (
    MONEY_QUANTUM,
    ONE,
    ZERO,
    CancelReason,
    Instruction,
    Liquidity,
    OrderType,
    Side,
    Status,
    Stp,
)


class Matching(Ledger):
    """The risk step and the matching loop."""

    def _risk_reason(self, order: Order) -> CancelReason | None:
        cfg = self.markets[order.market]
        acct = self.accounts[order.account]
        if acct.live_counts.get(order.market, 0) > cfg.max_open_orders:
            return CancelReason.MAX_OPEN_ORDERS_EXCEEDED
        pos = acct.position(order.market)
        if order.reduce_only:
            if accounting.reducing_capacity(pos.size, order.side) == ZERO:
                return CancelReason.REDUCE_ONLY_WOULD_INCREASE
        if order.instruction is Instruction.POST_ONLY and self.books[order.market].crosses(
            order.side, order.price
        ):
            return CancelReason.POST_ONLY_WOULD_CROSS
        if order.reduce_only:
            return None
        buys = acct.resting.get((order.market, Side.BUY), ZERO)
        sells = acct.resting.get((order.market, Side.SELL), ZERO)
        if order.side is Side.BUY:
            buys += order.remaining_size
        else:
            sells += order.remaining_size
        new_exposure = accounting.worst_exposure(pos.size, buys, sells)
        if new_exposure > cfg.position_limit and new_exposure > abs(pos.size):
            return CancelReason.ORDER_EXCEEDS_POSITION_LIMIT
        names = set(acct.positions) | {m for m, _ in acct.resting} | {order.market}
        marks = self.marks(names)
        _, _, imr_before = accounting.requirements(acct, self.markets, marks)
        _, _, imr_after = accounting.requirements(
            acct, self.markets, marks, extra=(order.market, order.side, order.remaining_size)
        )
        if imr_after > imr_before and imr_after > accounting.account_value(acct, marks, self.funding_index):
            return CancelReason.NOT_ENOUGH_MARGIN
        return None

    def _accept(self, order: Order) -> None:
        """Risk-check a NEW order, then open, match and rest or close it."""
        if order.status is not Status.NEW:
            return
        self._touch(self.accounts[order.account], None)
        self._open(order)

    def _open(self, order: Order) -> None:
        """The risk step, then OPEN and match: a new order, or a stop order that triggered."""
        if not order.internal:
            reason = self._risk_reason(order)
            if reason is not None:
                self._close(order, reason)
                return
        order.status = Status.OPEN
        self._emit_order(order)
        self._match(order)

    def _limit_price(self, order: Order) -> Decimal:
        if order.kind is OrderType.LIMIT:
            return order.price
        cfg = self.markets[order.market]
        mark = self.mark_price(order.market)
        tick = cfg.price_tick_size
        if order.side is Side.BUY:
            bound = mark * (ONE + cfg.max_slippage)
            return (bound / tick).to_integral_value(rounding=ROUND_FLOOR) * tick
        bound = mark * (ONE - cfg.max_slippage)
        return (bound / tick).to_integral_value(rounding=ROUND_CEILING) * tick

    def _match(self, taker: Order) -> None:
        """Trade ``taker`` against the book; rest or close what is left."""
        book = self.books[taker.market]
        opposite = book.side(taker.side.opposite)
        limit = self._limit_price(taker)
        is_buy = taker.side is Side.BUY
        filled_before = taker.filled_size
        while taker.remaining_size > ZERO:
            level = opposite.best()
            if level is None or (level.price > limit if is_buy else level.price < limit):
                break
            maker = level.orders[0]
            if maker.account == taker.account:
                if taker.stp is not Stp.EXPIRE_TAKER:
                    self._close(maker, CancelReason.SELF_TRADE)
                if taker.stp is not Stp.EXPIRE_MAKER:
                    self._finish_taker(taker, CancelReason.SELF_TRADE)
                    return
                continue
            qty = min(taker.remaining_size, maker.remaining_size)
            if maker.reduce_only:
                cap = accounting.reducing_capacity(
                    self.accounts[maker.account].position(maker.market).size, maker.side
                )
                if cap == ZERO:
                    self._close(maker, CancelReason.REDUCE_ONLY_WOULD_INCREASE)
                    continue
                qty = min(qty, cap)
            if taker.reduce_only:
                cap = accounting.reducing_capacity(
                    self.accounts[taker.account].position(taker.market).size, taker.side
                )
                if cap == ZERO:
                    break
                qty = min(qty, cap)
            self._execute(taker, maker, level, qty)
        if taker.remaining_size == ZERO:
            self._finish_taker(taker, CancelReason.NONE)
        elif taker.reduce_only and self._reduce_exhausted(taker):
            self._finish_taker(taker, CancelReason.REDUCE_ONLY_WOULD_INCREASE)
        elif taker.kind is OrderType.MARKET or taker.instruction is Instruction.IOC:
            self._finish_taker(taker, CancelReason.NO_LIQUIDITY)
        else:
            self._rest(taker)
            if taker.filled_size > filled_before:
                self._emit_order(taker)

    def _reduce_exhausted(self, order: Order) -> bool:
        pos = self.accounts[order.account].position(order.market)
        return accounting.reducing_capacity(pos.size, order.side) == ZERO

    def _finish_taker(self, taker: Order, reason: CancelReason) -> None:
        if reason is CancelReason.NONE:
            taker.status = Status.CLOSED
            self.accounts[taker.account].live_counts[taker.market] -= 1
            self._emit_order(taker)
            if taker.internal:
                self.orders.pop(taker.id, None)
                self.accounts[taker.account].orders.pop(taker.id, None)
        else:
            self._close(taker, reason)

    def _execute(self, taker: Order, maker: Order, level: Level, qty: Decimal) -> None:
        """One execution at the maker's price: book, orders, trade, both fills."""
        market = taker.market
        book = self.books[market]
        price = maker.price
        maker.remaining_size -= qty
        maker.filled_notional += qty * price
        maker_acct = self.accounts[maker.account]
        maker_acct.resting[(market, maker.side)] -= qty
        book.consume(level, qty, maker.side)
        self._dirty_books.add(market)
        taker.remaining_size -= qty
        taker.filled_notional += qty * price
        self.last_trade[market] = price
        self.volume[market] += qty
        book_seq = book.seq_no + 1  # the frame this execution lands in (flushed at command end)
        trade = TradeEvent(
            id=self._next_id(), market=market, side=taker.side, size=qty, price=price, created_at=self._now,
            seq_no=book_seq,
        )
        self.trades[market].append(trade)
        self._public.append(trade)
        cfg = self.markets[market]
        self._fill(maker, Liquidity.MAKER, qty, price, cfg.maker_fee, book_seq)
        if maker.remaining_size == ZERO:
            maker.resting = False
            maker.status = Status.CLOSED
            maker_acct.live_counts[market] -= 1
            self._touch(maker_acct, None)
        self._emit_order(maker)
        if maker.internal and maker.status is Status.CLOSED:
            self.orders.pop(maker.id, None)
            maker_acct.orders.pop(maker.id, None)
        self._fill(taker, Liquidity.TAKER, qty, price, cfg.taker_fee, book_seq)

    def _fill(
        self, order: Order, liquidity: Liquidity, qty: Decimal, price: Decimal, rate: Decimal, book_seq: int
    ) -> None:
        fee = (qty * price * rate).quantize(MONEY_QUANTUM)
        self._record_fill(
            self.accounts[order.account], order.market, order.side, qty, price, fee,
            order_id=order.id, client_id=order.client_id, remaining=order.remaining_size,
            liquidity=liquidity, book_seq=book_seq,
        )

    def _apply_modify(self, order: Order, price: Decimal, size: Decimal) -> None:
        """Re-price/re-size a live order (queued modify), keeping its id."""
        if order.status is not Status.OPEN or size <= order.filled_size:
            return
        if order.resting:
            self._unrest(order)
        order.price = price
        order.remaining_size = size - order.filled_size
        order.size = size
        if order.instruction is Instruction.POST_ONLY and self.books[order.market].crosses(order.side, price):
            self._close(order, CancelReason.POST_ONLY_WOULD_CROSS)
            return
        self._emit_order(order)
        self._match(order)
