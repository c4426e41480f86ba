"""The engine facade the simulator server drives.

Flow (PROTOCOL.md §3.5, §5.5): ``submit_order`` validates synchronously (typed ``EngineError``
for 4xx), stores the order as NEW and queues it; ``cancel``/``modify`` validate and queue too.
``process(now_ms)`` runs the queue in arrival order (risk step, matching, cancels, modifies)
and returns every resulting event in venue order. Every method that returns events first hands
out the queued NEW acknowledgements, so the concatenation of all returned lists is the venue's
one event order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from .admin import Admin
from .events import OrderView, VenueEvent
from .market import MarketConfig, ScheduleConfig, check_price, check_size, check_trigger_price, parse_decimal
from .state import AlgoState, Order
from .triggers import default_condition
from .types import (
    ZERO,
    CancelReason,
    CancelStatus,
    EngineError,
    ErrorCode,
    Flag,
    Instruction,
    OrderType,
    Side,
    Status,
    Stp,
)

MAX_CLIENT_ID = 64


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRequest:
    """What POST /orders carries, minus the signature (checked by the REST layer)."""

    market: str
    side: str
    type: str
    size: Decimal | str
    price: Decimal | str | None = None
    instruction: str = "GTC"
    client_id: str = ""
    flags: Sequence[str] = ()
    stp: str = ""
    signature_timestamp: int | None = None
    trigger_price: Decimal | str | None = None


@dataclass(frozen=True, slots=True)
class CancelResult:
    """One item of a batch cancel."""

    status: CancelStatus
    id: str = ""
    client_id: str = ""
    account: str = ""
    market: str = ""


_E = TypeVar("_E", Side, OrderType, Instruction, Stp, Flag)
_CONDITIONS = (Flag.STOP_CONDITION_ABOVE_TRIGGER, Flag.STOP_CONDITION_BELOW_TRIGGER)


def _enum(kind: type[_E], raw: str, what: str) -> _E:
    try:
        return kind(raw)
    except ValueError:
        raise EngineError(ErrorCode.VALIDATION_ERROR, f"{what}: unsupported value {raw!r}") from None


class Exchange(Admin):
    """A local Paradex: markets, books, accounts. Pure: no I/O, time is passed in."""

    def __init__(
        self,
        markets: Iterable[MarketConfig],
        *,
        default_balance: Decimal | None = None,
        schedule: ScheduleConfig | None = None,
    ) -> None:
        if default_balance is None:
            super().__init__(markets, schedule=schedule)
        else:
            super().__init__(markets, default_balance=default_balance, schedule=schedule)

    # ------------------------------------------------------------ orders

    def submit_order(
        self, account: str, request: OrderRequest, now_ms: int, *, internal: bool = False
    ) -> OrderView:
        """Validate and queue an order; returns it as NEW (REST: 201). Raises EngineError."""
        now = self._tick(now_ms)
        cfg = self.market(request.market)
        side = _enum(Side, request.side, "side")
        otype = _enum(OrderType, request.type, "type")
        instruction = _enum(Instruction, request.instruction or "GTC", "instruction")
        stp = _enum(Stp, request.stp or "EXPIRE_TAKER", "stp")
        flags = tuple(dict.fromkeys(_enum(Flag, f, "flags") for f in request.flags))
        trigger = self._trigger(cfg.symbol, otype, flags, request.trigger_price)
        if trigger and not any(f in flags for f in _CONDITIONS):
            flags += (default_condition(otype, side, trigger, self.mark_price(cfg.symbol)),)
        raw_size = parse_decimal(request.size, "size")
        position_sized = raw_size == ZERO and otype.is_tpsl and Flag.REDUCE_ONLY in flags
        size = ZERO if position_sized else check_size(cfg, raw_size)
        raw_price = parse_decimal(request.price, "price") if request.price not in (None, "") else ZERO
        if otype.child is OrderType.LIMIT:
            price = check_price(cfg, raw_price)
            if size * price < cfg.min_notional and Flag.REDUCE_ONLY not in flags:
                raise EngineError(
                    ErrorCode.INVALID_ORDER_SIZE, f"notional below min_notional {cfg.min_notional}"
                )
        else:
            if raw_price != ZERO:
                raise EngineError(ErrorCode.VALIDATION_ERROR, f"price must be 0 or absent for {otype} orders")
            if instruction is Instruction.POST_ONLY:
                raise EngineError(ErrorCode.VALIDATION_ERROR, f"{otype} orders cannot be POST_ONLY")
            price = ZERO
        if len(request.client_id) > MAX_CLIENT_ID:
            raise EngineError(ErrorCode.VALIDATION_ERROR, f"client_id longer than {MAX_CLIENT_ID}")
        acct = self.account_state(account, internal=internal)
        if request.client_id:
            prior = self.orders.get(acct.client_ids.get(request.client_id, ""))
            if prior is not None and prior.is_live:
                raise EngineError(
                    ErrorCode.DUPLICATED_CLIENT_ID, f"client_id {request.client_id!r} is in use"
                )
        order = Order(
            id=self._next_id(),
            account=account,
            market=cfg.symbol,
            side=side,
            type=otype,
            size=size,
            price=price,
            instruction=instruction,
            flags=flags,
            stp=stp,
            client_id=request.client_id,
            now_ms=now,
            timestamp=request.signature_timestamp if request.signature_timestamp is not None else now,
            internal=internal,
            trigger_price=trigger,
            trigger_above=Flag.STOP_CONDITION_ABOVE_TRIGGER in flags,
            position_sized=position_sized,
        )
        self._register(order)
        self._queue.append(("new", order, ZERO, ZERO, ZERO))
        return self.order_view(order)

    def _trigger(
        self, market: str, otype: OrderType, flags: tuple[Flag, ...], raw: Decimal | str | None
    ) -> Decimal:
        """Validate ``trigger_price`` and the STOP_CONDITION flags against the order type."""
        conditions = [f for f in flags if f in _CONDITIONS]
        value = parse_decimal(raw, "trigger_price") if raw not in (None, "") else ZERO
        if not otype.is_trigger:
            if value != ZERO:
                raise EngineError(
                    ErrorCode.VALIDATION_ERROR, f"trigger_price is for stop/take-profit orders, not {otype}"
                )
            if conditions:
                raise EngineError(
                    ErrorCode.VALIDATION_ERROR, f"{conditions[0]} applies only to stop and take-profit orders"
                )
            return ZERO
        if value == ZERO:
            raise EngineError(ErrorCode.VALIDATION_ERROR, f"trigger_price is required for {otype} orders")
        if len(conditions) > 1:
            raise EngineError(ErrorCode.VALIDATION_ERROR, "flags hold both STOP_CONDITION_ABOVE and _BELOW")
        return check_trigger_price(self.markets[market], value)

    def cancel(
        self,
        account: str,
        order_id: str | None = None,
        *,
        client_id: str | None = None,
        market: str | None = None,
        now_ms: int,
    ) -> OrderView:
        """Queue a cancel by id or client id (REST: 204). Errors: ORDER_ID_NOT_FOUND,
        CLIENT_ORDER_ID_NOT_FOUND, ORDER_IS_CLOSED. Cancelling twice is harmless."""
        self._tick(now_ms)
        if order_id is not None:
            order = self._find(account, order_id)
        elif client_id:
            order = self._find_by_client_id(account, client_id, market)
        else:
            raise EngineError(ErrorCode.VALIDATION_ERROR, "order id or client id required")
        if order.status is Status.CLOSED:
            raise EngineError(ErrorCode.ORDER_IS_CLOSED, f"order {order.id} is closed")
        self._queue_cancel(order)
        return self.order_view(order)

    def _queue_cancel(self, order: Order) -> None:
        if not order.cancel_queued:
            order.cancel_queued = True
            self._queue.append(("cancel", order, ZERO, ZERO, ZERO))

    def cancel_all(self, account: str, market: str | None = None, *, now_ms: int) -> int:
        """Queue cancels for every live order of ``account`` (optionally one market); returns how many."""
        self._tick(now_ms)
        if market is not None:
            self.market(market)
        acct = self.accounts.get(account)
        live = [o for o in acct.orders.values() if o.is_live and market in (None, o.market)] if acct else []
        for order in live:
            self._queue_cancel(order)
        return len(live)

    def cancel_batch(
        self, account: str, order_ids: Sequence[str] = (), client_ids: Sequence[str] = (), *, now_ms: int
    ) -> list[CancelResult]:
        """Batch cancel: per item QUEUED_FOR_CANCELLATION, ALREADY_CLOSED or NOT_FOUND."""
        self._tick(now_ms)
        results: list[CancelResult] = []
        lookups = [(oid, None) for oid in order_ids] + [(None, cid) for cid in client_ids]
        for oid, cid in lookups:
            try:
                order = (
                    self._find(account, oid)
                    if oid is not None
                    else self._find_by_client_id(account, cid or "")
                )
            except EngineError:
                results.append(CancelResult(CancelStatus.NOT_FOUND, id=oid or "", client_id=cid or ""))
                continue
            if order.status is Status.CLOSED:
                status = CancelStatus.ALREADY_CLOSED
            else:
                status = CancelStatus.QUEUED_FOR_CANCELLATION
                self._queue_cancel(order)
            results.append(CancelResult(status, order.id, order.client_id, account, order.market))
        return results

    def modify(
        self,
        account: str,
        order_id: str,
        *,
        side: str,
        type: str,
        size: Decimal | str,
        price: Decimal | str,
        now_ms: int,
        market: str | None = None,
        trigger_price: Decimal | str | None = None,
    ) -> OrderView:
        """Queue a modify (same id kept) of an OPEN LIMIT-kind order or of an UNTRIGGERED stop
        order. ``side``/``type`` must match the order; the new size must exceed what is already
        filled; ``trigger_price`` (stop orders) may change only while untriggered. Errors:
        ORDER_ID_NOT_FOUND, ORDER_IS_CLOSED, ORDER_IS_NOT_OPEN, VALIDATION_ERROR,
        INVALID_ORDER_SIZE, INVALID_PRICE_PRECISION."""
        self._tick(now_ms)
        order = self._find(account, order_id)
        if market is not None and market != order.market:
            raise EngineError(ErrorCode.VALIDATION_ERROR, "market differs from the order's")
        if order.status is Status.CLOSED:
            raise EngineError(ErrorCode.ORDER_IS_CLOSED, f"order {order.id} is closed")
        untriggered = order.status is Status.UNTRIGGERED
        if order.status is not Status.OPEN and not untriggered:
            raise EngineError(ErrorCode.ORDER_IS_NOT_OPEN, f"order {order.id} is {order.status}")
        if side != order.side or type != order.type:
            raise EngineError(ErrorCode.VALIDATION_ERROR, "side and type must equal the existing order's")
        if order.kind is not OrderType.LIMIT and not untriggered:
            raise EngineError(
                ErrorCode.VALIDATION_ERROR, "only LIMIT orders and untriggered stop orders can be modified"
            )
        cfg = self.markets[order.market]
        new_size = check_size(cfg, parse_decimal(size, "size"))
        if order.kind is OrderType.LIMIT:
            new_price = check_price(cfg, parse_decimal(price, "price"))
        elif parse_decimal(price, "price") != ZERO:
            raise EngineError(ErrorCode.VALIDATION_ERROR, f"price must be 0 for {order.type} orders")
        else:
            new_price = ZERO
        new_trigger = order.trigger_price
        raw = parse_decimal(trigger_price, "trigger_price") if trigger_price not in (None, "") else ZERO
        if raw != ZERO and raw != order.trigger_price:
            if not order.type.is_trigger:
                raise EngineError(ErrorCode.VALIDATION_ERROR, f"{order.type} orders have no trigger_price")
            if not untriggered:
                raise EngineError(ErrorCode.VALIDATION_ERROR, "trigger_price cannot change once triggered")
            new_trigger = check_trigger_price(cfg, raw)
        if new_size <= order.filled_size:
            raise EngineError(ErrorCode.INVALID_ORDER_SIZE, f"size must exceed filled {order.filled_size}")
        self._queue.append(("modify", order, new_price, new_size, new_trigger))
        return self.order_view(order)

    def pending(self) -> int:
        """Commands waiting for :meth:`process`."""
        return len(self._queue)

    def process(self, now_ms: int, max_commands: int | None = None) -> list[VenueEvent]:
        """Run queued commands in arrival order; return all events in venue order."""
        self._tick(now_ms)
        out = self._drain()
        done = 0
        while self._queue and (max_commands is None or done < max_commands):
            kind, target, price, size, trigger = self._queue.popleft()
            if isinstance(target, AlgoState):
                self._run_algo_command(kind, target)
            elif kind == "new":
                self._accept(target)
            elif kind == "cancel":
                target.cancel_queued = False
                self._close(target, CancelReason.USER_CANCELED)
            else:
                self._modify(target, price, size, trigger)
            out.extend(self._drain(self._end_command()))  # a TWAP child's NEW ack comes first
            done += 1
        return out

    # ------------------------------------------------------------ the venue's clock

    def advance(self, now_ms: int, skip_ms: int = 0) -> list[VenueEvent]:
        """The venue's periodic work up to ``now_ms`` (call it often, e.g. every second):
        funding index accrual, due TWAP children, periodic funding payments, health checks.

        ``skip_ms`` moves the *schedule* that far ahead for good (tests: "8 hours later"): the
        accrual, children, payments and checks due in the skipped span run now, while event
        timestamps keep following ``now_ms`` (a consumer's clock checks stay valid). Returns the
        events in venue order."""
        self._tick(now_ms)
        self._shift_ms += max(0, skip_ms)
        now = self._schedule_now()
        out = self._drain()
        self._accrue(now)
        out.extend(self._run_algos(now))
        interval = self.schedule.funding_payment_interval_ms
        if interval > 0:
            if self._next_payment_at and now >= self._next_payment_at:
                self._pay(self.markets)
                out.extend(self._end_command())
            if not self._next_payment_at or now >= self._next_payment_at:
                self._next_payment_at = (now // interval + 1) * interval
        interval = self.schedule.health_check_interval_ms
        if interval > 0:
            if self._next_health_at and now >= self._next_health_at:
                out.extend(self._health())
            if not self._next_health_at or now >= self._next_health_at:
                self._next_health_at = (now // interval + 1) * interval
        return self._drain(out)

    # ------------------------------------------------------------ immediate operations

    def run_now(
        self, account: str, request: OrderRequest, now_ms: int, *, internal: bool = True
    ) -> tuple[OrderView, list[VenueEvent]]:
        """Submit and execute one order immediately, bypassing the queue (synthetic market flow).
        Returns the order's state after execution and the events."""
        view = self.submit_order(account, request, now_ms, internal=internal)
        order = self._queue.pop()[1]
        if not isinstance(order, Order) or order.id != view.id:
            raise RuntimeError("run_now: queue out of order")
        self._accept(order)
        return self.order_view(order), self._drain(self._end_command())

    def quote_now(
        self, account: str, market: str, side: Side, price: Decimal, size: Decimal, now_ms: int
    ) -> tuple[str, list[VenueEvent]]:
        """:meth:`run_now` of an internal POST_ONLY LIMIT quote (the synthetic market maker's hot
        path) without the request parsing: ``price`` and ``size`` must already be checked with
        ``check_price`` / ``check_size`` for ``market`` (the caller caches them). The order, its
        effects and the events are those of ``run_now`` with the same request; returns its id."""
        now = self._tick(now_ms)
        cfg = self.market(market)
        if size * price < cfg.min_notional:
            raise EngineError(ErrorCode.INVALID_ORDER_SIZE, f"notional below min_notional {cfg.min_notional}")
        self.account_state(account, internal=True)
        order = Order(
            id=self._next_id(), account=account, market=market, side=side, type=OrderType.LIMIT, size=size,
            price=price, instruction=Instruction.POST_ONLY, flags=(), stp=Stp.EXPIRE_TAKER, client_id="",
            now_ms=now, timestamp=now, internal=True,
        )
        self._register(order)
        self._accept(order)
        return order.id, self._drain(self._end_command())

    def cancel_now(self, order_id: str, now_ms: int) -> list[VenueEvent]:
        """Cancel immediately (synthetic market); a closed/unknown order is ignored."""
        self._tick(now_ms)
        order = self.orders.get(order_id)
        if order is not None:
            self._close(order, CancelReason.USER_CANCELED)
        return self._drain(self._end_command())
