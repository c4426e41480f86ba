"""Engine state shared by the matching, query and command layers, and the event plumbing.

Time: every entry point passes ``now_ms``; the engine clamps it so its clock never goes back
(``last_updated_at`` and seq numbers therefore never decrease). Ids are 28-digit strings,
``<13-digit ms><15-digit counter>``, unique and increasing. Order/position/account ``seq_no`` come
from one ns-scale clock: ``max(previous + 1, now_ms * 10**6)``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from decimal import Decimal

from . import accounting
from .book import OrderBook
from .events import (
    AccountUpdate,
    AccountView,
    BalanceUpdate,
    BalanceView,
    FillView,
    OrderUpdate,
    OrderView,
    PositionUpdate,
    TradeEvent,
    VenueEvent,
)
from .market import MarketConfig, ScheduleConfig
from .state import AccountState, AlgoState, Order
from .stopqueue import TriggerQueue
from .types import ZERO, CancelReason, EngineError, ErrorCode, Status

#: A queued command: (kind, order or TWAP algo, price, size, trigger price).
Command = tuple[str, Order | AlgoState, Decimal, Decimal, Decimal]
DEFAULT_BALANCE = Decimal(100_000)
FUNDING_CAP = Decimal("0.005")
TRADES_KEPT = 1000


class Core:
    """State plus the helpers every layer uses. Not used directly: see :class:`Exchange`."""

    def __init__(
        self,
        markets: Iterable[MarketConfig],
        *,
        default_balance: Decimal = DEFAULT_BALANCE,
        schedule: ScheduleConfig | None = None,
    ) -> None:
        self.markets: dict[str, MarketConfig] = {m.symbol: m for m in markets}
        self.books: dict[str, OrderBook] = {s: OrderBook(s) for s in self.markets}
        self.accounts: dict[str, AccountState] = {}
        self.orders: dict[str, Order] = {}
        self.fills: dict[str, FillView] = {}
        self.busted: set[str] = set()
        self.trades: dict[str, deque[TradeEvent]] = {s: deque(maxlen=TRADES_KEPT) for s in self.markets}
        self.last_trade: dict[str, Decimal] = {}
        self.volume: dict[str, Decimal] = dict.fromkeys(self.markets, ZERO)
        self.index_price: dict[str, Decimal] = {}
        self.funding_index: dict[str, Decimal] = dict.fromkeys(self.markets, ZERO)
        #: When each market's index last accrued (set by the first schedule tick).
        self._funding_accrued_at: dict[str, int] = {}
        #: How far the schedule (accrual, TWAP children, payments, health checks) runs ahead of
        #: the event clock: the total ``skip_ms`` of ``advance`` (schedule time = now + shift).
        self._shift_ms = 0
        #: Mark prices pinned by the operator (control API); they replace the computed mark.
        self.mark_override: dict[str, Decimal] = {}
        #: Untriggered stop/take-profit orders per market, and markets whose mark (or queue)
        #: changed since their last trigger check.
        self.stops: dict[str, TriggerQueue] = {s: TriggerQueue() for s in self.markets}
        self._trigger_dirty: set[str] = set()
        self._stop_seq = 0
        self.algos: dict[str, AlgoState] = {}
        self._live_algos: dict[str, AlgoState] = {}
        self.default_balance = default_balance
        self.schedule = schedule or ScheduleConfig()
        #: Next periodic funding payment / health check (0: set by the first advance).
        self._next_payment_at = 0
        self._next_health_at = 0
        self._now = 0
        self._seq = 0
        self._id_counter = 0
        #: Commands accepted (REST 201/204) and waiting for the risk step (:meth:`Exchange.process`).
        self._queue: deque[Command] = deque()
        # Event buffers of the command in progress.
        self._outbox: list[VenueEvent] = []
        self._private: list[VenueEvent] = []
        self._public: list[VenueEvent] = []
        self._dirty_books: set[str] = set()
        self._dirty_accounts: dict[str, set[str]] = {}

    # ------------------------------------------------------------ clocks and ids

    def _tick(self, now_ms: int) -> int:
        self._now = max(self._now, now_ms)
        return self._now

    def _schedule_now(self) -> int:
        return self._now + self._shift_ms

    def _next_seq(self) -> int:
        self._seq = max(self._seq + 1, self._now * 1_000_000)
        return self._seq

    def _next_id(self) -> str:
        self._id_counter += 1
        return f"{self._now:013d}{self._id_counter:015d}"

    # ------------------------------------------------------------ lookups

    def market(self, symbol: str) -> MarketConfig:
        cfg = self.markets.get(symbol)
        if cfg is None:
            raise EngineError(ErrorCode.MARKET_NOT_FOUND, f"unknown market {symbol!r}")
        return cfg

    def account_state(self, account: str, *, internal: bool = False) -> AccountState:
        """The account (created with the default balance on first use)."""
        acct = self.accounts.get(account)
        if acct is None:
            acct = self.accounts[account] = AccountState(account, self.default_balance, internal=internal)
        return acct

    def mark_price(self, market: str) -> Decimal:
        """The pinned mark if any; else mid of the book if both sides exist, else the last
        trade, else the initial price."""
        if self.mark_override:
            pinned = self.mark_override.get(market)
            if pinned is not None:
                return pinned
        book = self.books[market]
        bid, ask = book.best_bid(), book.best_ask()
        if bid is not None and ask is not None:
            return (bid + ask) / 2
        last = self.last_trade.get(market)
        return last if last is not None else self.markets[market].initial_price

    def marks(self, markets: Iterable[str]) -> dict[str, Decimal]:
        return {m: self.mark_price(m) for m in markets}

    def _funding_rate(self, market: str) -> tuple[Decimal, Decimal]:
        """(premium rate, funding rate per period): premium = (mark - index) / index, rate =
        the market's base rate + premium clamped to ±0.5% (the index price is the synthetic
        market's fair price; without one the mark, so the rate is the base rate)."""
        mark = self.mark_price(market)
        index = self.index_price.get(market, mark)
        premium = (mark - index) / index if index else ZERO
        rate = max(-FUNDING_CAP, min(FUNDING_CAP, self.markets[market].funding_rate + premium))
        return premium, rate

    # ------------------------------------------------------------ order views and events

    def order_view(self, order: Order) -> OrderView:
        return OrderView(
            id=order.id,
            client_id=order.client_id,
            account=order.account,
            market=order.market,
            side=order.side,
            type=order.type,
            size=order.size,
            remaining_size=order.remaining_size,
            price=order.price,
            avg_fill_price=order.avg_fill_price,
            status=order.status,
            cancel_reason=order.cancel_reason,
            instruction=order.instruction,
            flags=order.flags,
            stp=order.stp,
            created_at=order.created_at,
            last_updated_at=order.last_updated_at,
            received_at=order.received_at,
            published_at=order.published_at,
            timestamp=order.timestamp,
            trigger_price=order.trigger_price,
            seq_no=order.seq_no,
        )

    def _emit_order(self, order: Order) -> None:
        """Stamp a new state of ``order`` (time, seq_no) and queue its update event."""
        if order.internal:
            order.last_updated_at = self._now
            return
        order.last_updated_at = max(order.last_updated_at, self._now)
        order.published_at = self._now
        order.seq_no = self._next_seq()
        self._private.append(OrderUpdate(self.order_view(order)))

    def _touch(self, acct: AccountState, market: str | None) -> None:
        if acct.internal:
            return
        markets = self._dirty_accounts.setdefault(acct.account, set())
        if market is not None:
            markets.add(market)

    def _rest(self, order: Order) -> None:
        self.books[order.market].rest(order)
        order.resting = True
        acct = self.accounts[order.account]
        key = (order.market, order.side)
        acct.resting[key] = acct.resting.get(key, ZERO) + order.remaining_size
        self._dirty_books.add(order.market)
        self._touch(acct, None)

    def _unrest(self, order: Order) -> None:
        self.books[order.market].unrest(order)
        order.resting = False
        acct = self.accounts[order.account]
        key = (order.market, order.side)
        acct.resting[key] -= order.remaining_size
        self._dirty_books.add(order.market)
        self._touch(acct, None)

    def _register(self, order: Order) -> None:
        """Record a new order (NEW) and queue its acknowledgement (not for internal accounts)."""
        acct = self.accounts[order.account]
        self.orders[order.id] = order
        acct.orders[order.id] = order
        if order.client_id:
            acct.client_ids[order.client_id] = order.id
        acct.live_counts[order.market] = acct.live_counts.get(order.market, 0) + 1
        if not order.internal:
            order.seq_no = self._next_seq()
            self._outbox.append(OrderUpdate(self.order_view(order)))

    def _arm(self, order: Order) -> None:
        """Queue an UNTRIGGERED order for its trigger check."""
        self._stop_seq += 1
        order.trigger_seq = self._stop_seq
        self.stops[order.market].add(order)
        self._trigger_dirty.add(order.market)

    def _disarm(self, order: Order) -> None:
        if order.trigger_seq:
            self.stops[order.market].remove(order)
            order.trigger_seq = 0

    def _close(self, order: Order, reason: CancelReason) -> None:
        """Move a live order to CLOSED (taking it off the book if resting) and emit it."""
        if order.status is Status.CLOSED:
            return
        if order.resting:
            self._unrest(order)
        elif order.status is Status.UNTRIGGERED:
            self._disarm(order)
        order.status = Status.CLOSED
        order.cancel_reason = reason
        acct = self.accounts[order.account]
        acct.live_counts[order.market] -= 1
        self._touch(acct, None)
        self._emit_order(order)
        if order.internal:
            self.orders.pop(order.id, None)
            acct.orders.pop(order.id, None)

    def _end_command(self) -> list[VenueEvent]:
        """Close the current frame(s) (see :meth:`_flush`), then trigger the stop orders the
        new marks reach, each as its own command right after."""
        out = self._flush()
        if self._trigger_dirty:
            out.extend(self._run_triggers())
        return out

    def _run_triggers(self) -> list[VenueEvent]:
        """Trigger due stop orders (implemented by the trigger layer)."""
        self._trigger_dirty.clear()
        return []

    def _flush(self) -> list[VenueEvent]:
        """Close the current frame(s): book delta, BBO, trades, then private events, then
        position/account/balance updates of every account the command touched."""
        out: list[VenueEvent] = []
        stops = self.stops
        for market in sorted(self._dirty_books):
            book = self.books[market]
            delta = book.flush(self._now)
            if delta is not None:
                out.append(delta)
            bbo = book.bbo_if_changed()
            if bbo is not None:
                out.append(bbo)
                if stops[market]:  # the mark moves only with the top of book (mid or last trade)
                    self._trigger_dirty.add(market)
        self._dirty_books.clear()
        out.extend(self._public)
        out.extend(self._private)
        self._public.clear()
        self._private.clear()
        for account, markets in self._dirty_accounts.items():
            out.extend(self._entity_updates(self.accounts[account], markets))
        self._dirty_accounts.clear()
        return out

    def _entity_updates(self, acct: AccountState, markets: Iterable[str]) -> list[VenueEvent]:
        out: list[VenueEvent] = []
        for market in sorted(markets):
            pos = acct.position(market)
            pos.seq_no = self._next_seq()
            pos.last_updated_at = max(pos.last_updated_at, self._now)
            view = accounting.position_view(
                pos, self.markets[market], self.mark_price(market), self.funding_index[market]
            )
            out.append(PositionUpdate(view))
        if out:
            out.append(BalanceUpdate(acct.account, self.balance_view(acct)))
        acct.seq_no = self._next_seq()
        acct.updated_at = self._now
        out.append(AccountUpdate(self.account_view(acct)))
        return out

    def account_view(self, acct: AccountState) -> AccountView:
        names = set(acct.positions) | {m for m, _ in acct.resting}
        return accounting.account_view(
            acct, self.markets, self.marks(names), acct.updated_at, self.funding_index
        )

    def balance_view(self, acct: AccountState) -> BalanceView:
        return BalanceView(token="USDC", size=acct.balance, last_updated_at=acct.balance_updated_at)

    def _drain(self, events: list[VenueEvent] | None = None) -> list[VenueEvent]:
        """Outbox first (NEW acknowledgements), then ``events``."""
        out = self._outbox
        self._outbox = []
        if events:
            out.extend(events)
        return out
