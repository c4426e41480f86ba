"""TWAP algo orders: a parent split into MARKET child orders placed on a schedule.

From the OpenAPI (``POST /algo/orders``): sub-orders every ``frequency`` seconds (default 30),
``duration_seconds`` between 30 and 86 400 in multiples of 30, child type MARKET only. Where the
spec is silent (our choices, in the README):

- ``duration_seconds / frequency`` children (the duration must be a multiple of the frequency,
  the frequency a multiple of 30 and at most the duration); the first child goes at the risk
  step (NEW → OPEN), then one every ``frequency`` on the schedule (``advance``), so the last is
  at ``created + duration - frequency``; ``end_at`` = created + duration.
- Each child takes ``remaining / children left`` rounded down to the size increment (the last
  child everything left), capped at ``max_order_size``: a child's unfilled part (no liquidity
  within the MARKET band) is spread over the later children. The parent's size may exceed
  ``max_order_size``; an equal share may not, nor be below the increment.
- Children are ordinary MARKET orders of the account (NEW → OPEN → CLOSED on ``orders``, fills
  on ``fills``), each through the normal risk step. A child refused for margin, position limit
  or the open-orders cap stops the algo: CLOSED with that cancel reason (the spec's example
  reason is NOT_ENOUGH_MARGIN). After the last child the algo is CLOSED: reason "" when filled,
  NO_LIQUIDITY when some size could not be filled.
- ``DELETE /algo/orders/{id}`` is queued like an order cancel (CLOSED, USER_CANCELED); a
  liquidation closes the account's algos (LIQUIDATION).
- No channel carries algo state (the AsyncAPI has none): :class:`AlgoUpdate` events exist for
  in-process listeners and the REST views; product code sees the children on ``orders``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from .events import AlgoUpdate, AlgoView, VenueEvent
from .funding import Funding
from .market import on_grid, parse_decimal
from .state import AlgoState, Order
from .types import ZERO, CancelReason, EngineError, ErrorCode, Instruction, OrderType, Side, Status, Stp

MIN_DURATION_S = 30
MAX_DURATION_S = 86_400
FREQUENCY_STEP_S = 30
DEFAULT_FREQUENCY_S = 30
#: A child closed for one of these stops its algo with the same reason.
STOPPING = frozenset({
    CancelReason.NOT_ENOUGH_MARGIN, CancelReason.ORDER_EXCEEDS_POSITION_LIMIT,
    CancelReason.MAX_OPEN_ORDERS_EXCEEDED,
})


@dataclass(frozen=True, slots=True, kw_only=True)
class AlgoRequest:
    """What ``POST /algo/orders`` carries, minus the signature (checked by the REST layer)."""

    market: str
    side: str
    type: str
    size: Decimal | str
    duration_seconds: int
    algo_type: str = "TWAP"
    frequency: int | None = None
    signature_timestamp: int | None = None


class Algos(Funding):
    """TWAP submission, its schedule, cancel and queries."""

    def submit_algo(self, account: str, request: AlgoRequest, now_ms: int) -> AlgoView:
        """Validate and queue a TWAP; returns it NEW (REST: 201). Raises EngineError."""
        now = self._tick(now_ms)
        cfg = self.market(request.market)
        if request.algo_type != "TWAP":
            raise EngineError(ErrorCode.VALIDATION_ERROR, f"algo_type {request.algo_type!r}: only TWAP")
        if request.type != OrderType.MARKET:
            raise EngineError(ErrorCode.VALIDATION_ERROR, "TWAP child orders are MARKET: type must be MARKET")
        try:
            side = Side(request.side)
        except ValueError:
            bad = f"side: unsupported value {request.side!r}"
            raise EngineError(ErrorCode.VALIDATION_ERROR, bad) from None
        duration = request.duration_seconds
        frequency = request.frequency if request.frequency is not None else DEFAULT_FREQUENCY_S
        if not MIN_DURATION_S <= duration <= MAX_DURATION_S or duration % FREQUENCY_STEP_S:
            raise EngineError(
                ErrorCode.VALIDATION_ERROR,
                f"duration_seconds must be {MIN_DURATION_S}..{MAX_DURATION_S}, "
                f"a multiple of {FREQUENCY_STEP_S}",
            )
        if frequency < FREQUENCY_STEP_S or frequency % FREQUENCY_STEP_S or frequency > duration:
            raise EngineError(
                ErrorCode.VALIDATION_ERROR,
                f"frequency must be a multiple of {FREQUENCY_STEP_S} s, at most duration_seconds",
            )
        if duration % frequency:
            raise EngineError(ErrorCode.VALIDATION_ERROR, "duration_seconds must be a multiple of frequency")
        size = parse_decimal(request.size, "size")
        if size <= ZERO or not on_grid(size, cfg.order_size_increment):
            step = cfg.order_size_increment
            raise EngineError(ErrorCode.INVALID_ORDER_SIZE, f"size must be a positive multiple of {step}")
        children = duration // frequency
        share = size / children
        if share < cfg.order_size_increment or share > cfg.max_order_size:
            raise EngineError(
                ErrorCode.INVALID_ORDER_SIZE,
                f"each of the {children} child orders would be {share:.8f}: it must be within "
                f"[{cfg.order_size_increment}, {cfg.max_order_size}]",
            )
        acct = self.account_state(account)
        algo = AlgoState(
            id=self._next_id(), account=acct.account, market=cfg.symbol, side=side,
            size=size.quantize(cfg.order_size_increment), created_at=now, end_at=now + duration * 1000,
            duration_s=duration, frequency_s=frequency, children_total=children,
            timestamp=request.signature_timestamp if request.signature_timestamp is not None else now,
            last_updated_at=now,
        )
        algo.remaining_size = algo.size
        self.algos[algo.id] = algo
        acct.algo_ids.append(algo.id)
        self._outbox.append(AlgoUpdate(self.algo_view(algo)))
        self._queue.append(("algo", algo, ZERO, ZERO, ZERO))
        return self.algo_view(algo)

    def cancel_algo(self, account: str, algo_id: str, now_ms: int) -> AlgoView:
        """Queue the cancel of a live algo (REST: 204). ORDER_ID_NOT_FOUND / ORDER_IS_CLOSED."""
        self._tick(now_ms)
        algo = self._find_algo(account, algo_id)
        if algo.status is Status.CLOSED:
            raise EngineError(ErrorCode.ORDER_IS_CLOSED, f"algo order {algo_id} is closed")
        if not algo.cancel_queued:
            algo.cancel_queued = True
            self._queue.append(("algo_cancel", algo, ZERO, ZERO, ZERO))
        return self.algo_view(algo)

    # ------------------------------------------------------------ running

    def _run_algo_command(self, kind: str, algo: AlgoState) -> None:
        if kind == "algo_cancel":
            algo.cancel_queued = False
            self._close_algo(algo, CancelReason.USER_CANCELED)
        elif algo.status is Status.NEW:
            algo.status = Status.OPEN
            algo.last_updated_at = max(algo.last_updated_at, self._now)
            self._outbox.append(AlgoUpdate(self.algo_view(algo)))  # before its first child's NEW
            self._live_algos[algo.id] = algo
            algo.next_child_at = self._schedule_now()
            self._place_child(algo)

    def _run_algos(self, now_ms: int) -> list[VenueEvent]:
        """Place every child due by schedule time ``now_ms`` (after a skip, the missed ones at once)."""
        out: list[VenueEvent] = []
        for algo in sorted(self._live_algos.values(), key=lambda a: a.next_child_at):
            while algo.status is Status.OPEN and algo.next_child_at <= now_ms:
                self._place_child(algo)
                out.extend(self._drain(self._end_command()))
        return out

    def _place_child(self, algo: AlgoState) -> None:
        cfg = self.markets[algo.market]
        left = algo.children_total - algo.children_sent
        size = algo.remaining_size
        if left > 1:
            steps = (algo.remaining_size / left / cfg.order_size_increment).to_integral_value(ROUND_FLOOR)
            size = max(steps * cfg.order_size_increment, cfg.order_size_increment)
        size = min(size, cfg.max_order_size, algo.remaining_size)
        child = Order(
            id=self._next_id(), account=algo.account, market=algo.market, side=algo.side,
            type=OrderType.MARKET, size=size, price=ZERO, instruction=Instruction.GTC, flags=(),
            stp=Stp.EXPIRE_TAKER, client_id="", now_ms=self._now, timestamp=algo.timestamp, algo_id=algo.id,
        )
        self._register(child)
        algo.child_ids.append(child.id)
        algo.children_sent += 1
        algo.next_child_at += algo.frequency_s * 1000
        self._accept(child)
        algo.remaining_size -= child.filled_size
        algo.filled_notional += child.filled_notional
        if child.cancel_reason in STOPPING:
            self._close_algo(algo, child.cancel_reason)
        elif algo.remaining_size == ZERO:
            self._close_algo(algo, CancelReason.NONE)
        elif algo.children_sent >= algo.children_total:
            self._close_algo(algo, CancelReason.NO_LIQUIDITY)
        else:
            self._emit_algo(algo)

    def _close_algo(self, algo: AlgoState, reason: CancelReason) -> None:
        if algo.status is Status.CLOSED:
            return
        algo.status = Status.CLOSED
        algo.cancel_reason = reason
        self._live_algos.pop(algo.id, None)
        self._emit_algo(algo)

    def _emit_algo(self, algo: AlgoState) -> None:
        algo.last_updated_at = max(algo.last_updated_at, self._now)
        self._private.append(AlgoUpdate(self.algo_view(algo)))

    # ------------------------------------------------------------ queries

    def algo_view(self, algo: AlgoState) -> AlgoView:
        filled = algo.filled_size
        return AlgoView(
            id=algo.id, account=algo.account, market=algo.market, side=algo.side, size=algo.size,
            remaining_size=algo.remaining_size,
            avg_fill_price=algo.filled_notional / filled if filled else None,
            status=algo.status, cancel_reason=algo.cancel_reason, algo_type=algo.algo_type,
            created_at=algo.created_at, last_updated_at=algo.last_updated_at, end_at=algo.end_at,
            duration_s=algo.duration_s, frequency_s=algo.frequency_s,
        )

    def _find_algo(self, account: str, algo_id: str) -> AlgoState:
        algo = self.algos.get(algo_id)
        if algo is None or algo.account != account:
            raise EngineError(ErrorCode.ORDER_ID_NOT_FOUND, f"algo order {algo_id} not found")
        return algo

    def get_algo(self, account: str, algo_id: str) -> AlgoView:
        return self.algo_view(self._find_algo(account, algo_id))

    def algo_children(self, account: str, algo_id: str) -> list[str]:
        """Ids of the child orders an algo placed, oldest first."""
        return list(self._find_algo(account, algo_id).child_ids)

    def open_algos(self, account: str, market: str | None = None) -> list[AlgoView]:
        """NEW and OPEN algos of ``account``, oldest first."""
        acct = self.accounts.get(account)
        if acct is None:
            return []
        algos = (self.algos[i] for i in acct.algo_ids)
        return [
            self.algo_view(a) for a in algos
            if a.status is not Status.CLOSED and market in (None, a.market)
        ]

    def algo_history(
        self,
        account: str,
        *,
        market: str | None = None,
        side: Side | None = None,
        status: Status | None = None,
        start_at: int | None = None,
        end_at: int | None = None,
    ) -> list[AlgoView]:
        """Every algo of ``account``, newest first, filtered (``start_at``/``end_at``: created_at)."""
        acct = self.accounts.get(account)
        if acct is None:
            return []
        out: list[AlgoView] = []
        for algo_id in reversed(acct.algo_ids):
            a = self.algos[algo_id]
            if (
                (market is not None and a.market != market)
                or (side is not None and a.side is not side)
                or (status is not None and a.status is not status)
                or (start_at is not None and a.created_at < start_at)
                or (end_at is not None and a.created_at > end_at)
            ):
                continue
            out.append(self.algo_view(a))
        return out
