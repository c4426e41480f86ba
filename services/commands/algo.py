"""TWAP algo orders through the commands service: place, cancel, list.

The venue (OpenAPI tag Algos): ``POST /algo/orders`` with an ``AlgoOrderRequest`` signed like a
MARKET order (``Order`` typed data, price 0), answered 201 with the AlgoOrderResp in status NEW;
``DELETE /algo/orders/{algo_id}`` answered 204 (queued); ``GET /algo/orders`` the NEW/OPEN algos.
The AsyncAPI has no algo channel, so after every accepted place and every cancel the venue's
record is published as an :class:`~shared.bus.events.AlgoEvent` (the state folds it; the
reconciler's snapshots bring the later updates), with the strategy and the signature timestamp
that only this service knows.

Validation before anything is sent or published (422 naming the rule; 403 for the strategy's
limits, the kill switch): the numbers (:func:`~services.commands.core.rules.check_number`), the
market (known, open, allowed), the system state, ``size`` positive on the size increment,
``duration_seconds`` 30..86 400 in multiples of 30, ``frequency`` a multiple of 30 dividing the
duration, every child's share within [size increment, max order size], and the strategy's
notional and position limits on the whole parent. An algo is owned by the strategy that placed
it (``<cmd>:algo:<id>`` in Redis); cancelling another's needs ``can_cancel_others``.

No idempotency key: the venue's algo orders carry no client id, so a place whose answer was lost
(202 ``unknown``) must be checked with ``GET /v1/algo/orders`` before it is sent again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Literal

import msgspec
from redis.exceptions import RedisError

from services.commands import audit
from services.commands.budget import Budget
from services.commands.core import answers
from services.commands.core.exposure import ExposureBook
from services.commands.core.messages import Answer
from services.commands.core.outcome import NotSent, Rejected, Unknown, classify
from services.commands.core.place import Context
from services.commands.core.risk import check_cancel, check_limits
from services.commands.core.rules import (
    Intent,
    Violation,
    check_market_open,
    check_number,
    check_system,
    on_grid,
)
from services.commands.core.strategies import Strategy
from services.commands.outbox import Outbox
from services.commands.pipeline import strategy_rate
from services.commands.store import CommandStore
from shared.bus import AlgoEvent
from shared.paradex.models.algo import AlgoOrder
from shared.paradex.models.requests import SideLiteral
from shared.paradex.rest import ParadexRest

log = logging.getLogger("commands.algo")

MIN_DURATION_S = 30
MAX_DURATION_S = 86_400
STEP_S = 30
DEFAULT_FREQUENCY_S = 30
OWNER_TTL_S = 7 * 86_400
CANCEL_READ_TRIES = 10


class PlaceAlgo(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /v1/algo/orders``: a TWAP of MARKET child orders, one every ``frequency`` seconds
    (default 30) over ``duration_seconds``."""

    market: str
    side: SideLiteral
    size: Decimal
    duration_seconds: int
    frequency: int | None = None
    type: Literal["MARKET"] = "MARKET"
    algo_type: Literal["TWAP"] = "TWAP"
    recv_window: int | None = None


class AlgoReply(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The answer to an algo place or cancel: ``status`` accepted / rejected / unknown / not_sent /
    cancel_requested; ``seq`` the ACCOUNT stream sequence of the published AlgoEvent."""

    seq: int = 0
    status: str
    algo_id: str = ""
    algo: AlgoOrder | None = None
    strategy: str = ""
    error: str = ""
    message: str = ""
    http_status: int = 0


class AlgoList(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /v1/algo/orders``: the venue's NEW/OPEN algos (``strategy`` by id where known)."""

    results: list[AlgoOrder]
    strategies: dict[str, str]


_enc = msgspec.json.Encoder(decimal_format="string")


def _answer(status: int, body: msgspec.Struct, seq: int = 0, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, msgspec.Raw(_enc.encode(body)), headers or {}, seq)


def _bad(error: str, rule: str, message: str) -> Violation:
    return Violation(error=error, rule=rule, message=message)


def check_algo(req: PlaceAlgo, strategy: Strategy, ctx: Context, book: ExposureBook) -> Violation | None:
    """Every rule of a TWAP place, in a fixed order (the first broken one is reported)."""
    if (v := check_number("size", req.size)) is not None:
        return v
    if ctx.killed is not None:
        return ctx.killed
    market = ctx.markets.get(req.market)
    if market is None:
        return _bad("MARKET_NOT_FOUND", "market", f"unknown market {req.market!r}")
    if (v := check_market_open(market, ctx.now_ms)) is not None:
        return v
    intent = Intent(market=req.market, side=req.side, type="MARKET", size=req.size)
    if (v := check_system(ctx.system_status, intent)) is not None:
        return v
    if req.size <= 0:
        return _bad("SIZE_NOT_POSITIVE", "size", f"size {req.size} must be > 0")
    step = market.order_size_increment
    if step is not None and not on_grid(req.size, step):
        return _bad("SIZE_NOT_ON_INCREMENT", "size_increment",
                    f"size {req.size} is not a multiple of the size increment {step} of {req.market}")
    duration = req.duration_seconds
    if not MIN_DURATION_S <= duration <= MAX_DURATION_S or duration % STEP_S:
        return _bad("DURATION_OUT_OF_RANGE", "duration_seconds",
                    f"duration_seconds must be {MIN_DURATION_S}..{MAX_DURATION_S}, a multiple of {STEP_S}")
    frequency = DEFAULT_FREQUENCY_S if req.frequency is None else req.frequency
    if frequency < STEP_S or frequency % STEP_S or frequency > duration or duration % frequency:
        return _bad("FREQUENCY_INVALID", "frequency",
                    f"frequency must be a multiple of {STEP_S} s that divides duration_seconds")
    if req.recv_window is not None and req.recv_window < 10:
        return _bad("RECV_WINDOW_TOO_SMALL", "recv_window", "recv_window is at least 10 ms")
    children = duration // frequency
    share = req.size / children
    if step is not None and share < step:
        return _bad("CHILD_SIZE_TOO_SMALL", "child_size",
                    f"each of the {children} child orders would be {share}, below the size increment {step}")
    if market.max_order_size is not None and share > market.max_order_size:
        return _bad("CHILD_SIZE_ABOVE_MAX", "child_size",
                    f"each of the {children} child orders would be {share}, above the max order size "
                    f"{market.max_order_size} of {req.market}")
    return check_limits(strategy, intent, book.exposure, new_order=False)


class Algos:
    """The algo commands (``api.Commands.place_algo`` / ``cancel_algo`` / ``list_algos``)."""

    def __init__(self, *, rest: ParadexRest, outbox: Outbox, redis: Any, owner_prefix: str,
                 book: ExposureBook, context: Callable[[Strategy], Context],
                 budget: Budget | None = None, store: CommandStore | None = None) -> None:
        self.rest = rest
        self.budget = budget
        self.store = store
        self.outbox = outbox
        self.redis = redis
        self.prefix = owner_prefix
        self.book = book
        self.context = context

    def _owner_key(self, algo_id: str) -> str:
        return f"{self.prefix}:algo:{algo_id}"

    async def place(self, s: Strategy, req: PlaceAlgo) -> Answer:
        base = audit.command("place_algo", s.name, market=req.market, side=req.side, type="TWAP",
                             size=req.size, duration_s=req.duration_seconds, frequency_s=req.frequency)
        answer, venue_ms, algo_id = await self._place(s, req)
        audit.outcome({**base, "order_id": algo_id} if algo_id else base, answer, venue_ms)
        return answer

    async def _place(self, s: Strategy, req: PlaceAlgo) -> tuple[Answer, float | None, str]:
        if (v := check_algo(req, s, self.context(s), self.book)) is not None:
            return answers.violation(v), None, ""
        if (limited := await self._take(s)) is not None:
            return limited, None, ""
        body = self.rest.sign_algo(market=req.market, side=req.side, size=req.size,
                                   duration_seconds=req.duration_seconds, frequency=req.frequency,
                                   recv_window=req.recv_window)
        started = time.perf_counter()
        try:
            algo = await self.rest.create_algo_order(body)
        except Exception as exc:  # every failure is classified
            return self._failure(classify(exc), "place"), (time.perf_counter() - started) * 1000, ""
        venue_ms = (time.perf_counter() - started) * 1000
        try:
            await self.redis.set(self._owner_key(algo.id), s.name, ex=OWNER_TTL_S)
        except Exception as exc:  # ownership is a convenience: the place did happen
            log.error("owner of algo %s not stored: %r", algo.id, exc)
        seq = await self._publish(algo, s.name, body.signature_timestamp)
        reply = AlgoReply(seq=seq, status="accepted", algo_id=algo.id, algo=algo, strategy=s.name)
        return _answer(201, reply, seq), venue_ms, algo.id

    async def _take(self, s: Strategy) -> Answer | None:
        """One unit of the account's venue write budget (the venue counts ``/algo/orders`` writes
        in its orders pool) and, when the strategy has a ``max_order_rate``, one order of its
        bucket (the parent counts as one order, as a place does); 429 with Retry-After when
        either is empty. With a rate, Redis down is StoreUnavailable (503, nothing sent), as for
        a place."""
        rate = strategy_rate(s)
        if rate is not None and self.store is not None:
            wait_s, rule = await self.store.take_order(s.name, rate)
            if wait_s <= 0:
                return None
            what = (
                "venue order-write budget (shared by every replica)"
                if rule == "rate_limit"
                else f"strategy {s.name}'s max_order_rate"
            )
            return answers.rate_limited(wait_s, rule, what)
        return await self._take_unit()

    async def _take_unit(self) -> Answer | None:
        """One unit of the venue write budget (a cancel; a place without a strategy rate)."""
        if self.budget is None:
            return None
        wait_s = await self.budget.take(1)
        return answers.rate_limited(wait_s) if wait_s > 0 else None

    def _failure(self, failure: Rejected | Unknown | NotSent, what: str, algo_id: str = "") -> Answer:
        if isinstance(failure, Rejected):
            status = {429: 429, 404: 404}.get(failure.http_status, 400)
            headers = {}
            if failure.retry_after_s is not None:
                headers["Retry-After"] = answers.retry_after(failure.retry_after_s)
            reply = AlgoReply(status="rejected", algo_id=algo_id, error=failure.code, message=failure.message,
                              http_status=failure.http_status)
            return _answer(status, reply, headers=headers)
        if isinstance(failure, NotSent):
            reply = AlgoReply(status="not_sent", algo_id=algo_id, error="VENUE_NOT_REACHED",
                              message=f"the algo {what} did not reach the venue ({failure.reason})")
            return _answer(503, reply, headers={"Retry-After": "1"})
        reply = AlgoReply(status="unknown", algo_id=algo_id,
                          message=f"the venue's answer to the algo {what} does not say whether it acted "
                                  f"({failure.reason}); check GET /v1/algo/orders before sending again")
        return _answer(202, reply)

    async def _publish(self, algo: AlgoOrder, strategy: str, signature_timestamp: int = 0) -> int:
        event = AlgoEvent(source="cmd", venue_ts_ms=algo.last_updated_at or algo.created_at,
                          recv_ns=time.time_ns(), algo=algo, strategy=strategy,
                          signature_timestamp=signature_timestamp)
        seqs = await self.outbox.intents([event])
        return seqs[0] if seqs else 0

    async def cancel(self, s: Strategy, algo_id: str) -> Answer:
        base = audit.command("cancel_algo", s.name, order_id=algo_id[:64])
        answer, venue_ms = await self._cancel(s, algo_id)
        audit.outcome(base, answer, venue_ms)
        return answer

    async def _cancel(self, s: Strategy, algo_id: str) -> tuple[Answer, float | None]:
        if not algo_id or len(algo_id) > 64 or not algo_id.isdigit() or not algo_id.isascii():
            return answers.error(422, "INVALID_ALGO_ID", "algo_id",
                                 "an algo id is 1-64 digits (the venue's algo id)"), None
        try:
            raw = await self.redis.get(self._owner_key(algo_id))
        except (RedisError, OSError) as exc:
            log.warning("owner of algo %s not read: %r", algo_id, exc)
            return answers.unavailable("REDIS_UNAVAILABLE", "redis",
                                       "the algo's owner could not be read (Redis); nothing was sent"), None
        owner = raw.decode() if isinstance(raw, bytes) else raw
        if (v := check_cancel(s, owner)) is not None:
            return answers.violation(v), None
        if (limited := await self._take_unit()) is not None:
            return limited, None
        started = time.perf_counter()
        try:
            await self.rest.cancel_algo_order(algo_id)
        except Exception as exc:  # classified
            return self._failure(classify(exc), "cancel", algo_id), (time.perf_counter() - started) * 1000
        venue_ms = (time.perf_counter() - started) * 1000
        algo = await self._read_closed(algo_id)
        seq = await self._publish(algo, owner or "") if algo is not None else 0
        reply = AlgoReply(seq=seq, status="cancel_requested", algo_id=algo_id, algo=algo,
                          strategy=owner or "")
        return _answer(200, reply, seq), venue_ms

    async def _read_closed(self, algo_id: str) -> AlgoOrder | None:
        """The algo after a cancel (204 = queued): read until CLOSED, a few tries; the last read
        otherwise (None when it could not be read: the reconciler's next snapshot brings it)."""
        last: AlgoOrder | None = None
        for i in range(CANCEL_READ_TRIES):
            try:
                last = await self.rest.algo_order(algo_id)
            except Exception as exc:
                log.warning("algo %s not read after its cancel: %r", algo_id, exc)
                return last
            if last.status == "CLOSED":
                return last
            await asyncio.sleep(0.02 * (i + 1))
        return last

    async def cancel_open(self, scope: str) -> int:
        """The kill switch: cancel every open algo of strategy ``scope`` ("" = the whole account),
        each audited and its record published like a cancel; returns how many were cancelled.
        Best effort: a failure is logged (a killed strategy's algos keep placing children until
        cancelled; the venue's DELETE /orders does not stop them)."""
        try:
            algos = await self.rest.open_algo_orders()
            owners = await self.redis.mget([self._owner_key(a.id) for a in algos]) if algos else []
        except Exception as exc:
            log.error("kill switch: open algo orders not read, none cancelled: %r", exc)
            return 0
        done = 0
        for algo, raw in zip(algos, owners, strict=True):
            owner = raw.decode() if isinstance(raw, bytes) else (raw or "")
            if scope and owner != scope:
                continue
            base = audit.command("cancel_algo", "admin" if not scope else scope, order_id=algo.id,
                                 reason="kill_switch")
            started = time.perf_counter()
            try:
                await self.rest.cancel_algo_order(algo.id)
            except Exception as exc:
                answer = self._failure(classify(exc), "cancel", algo.id)
                audit.outcome(base, answer, (time.perf_counter() - started) * 1000)
                log.error("kill switch: algo %s not cancelled: %r", algo.id, exc)
                continue
            venue_ms = (time.perf_counter() - started) * 1000
            record = await self._read_closed(algo.id)
            seq = await self._publish(record, owner) if record is not None else 0
            reply = AlgoReply(seq=seq, status="cancel_requested", algo_id=algo.id, algo=record,
                              strategy=owner)
            audit.outcome(base, _answer(200, reply, seq), venue_ms)
            done += 1
        return done

    async def list(self, s: Strategy, market: str | None) -> Answer:
        try:
            algos = await self.rest.open_algo_orders(market)
        except Exception as exc:
            failure = classify(exc)
            if isinstance(failure, Rejected):
                return answers.error(400, failure.code or "VENUE_REFUSED", "venue", failure.message)
            return answers.unavailable("VENUE_UNAVAILABLE", "venue", f"GET /algo/orders failed: {exc!r}")
        owners: dict[str, str] = {}
        values: list[Any] = []
        if algos:
            try:
                values = await self.redis.mget([self._owner_key(a.id) for a in algos])
            except (RedisError, OSError) as exc:  # the list stands without its owners
                log.warning("owners of %d algos not read: %r", len(algos), exc)
                values = [None] * len(algos)
            owners = {a.id: (v.decode() if isinstance(v, bytes) else v)
                      for a, v in zip(algos, values, strict=True) if v}
        return _answer(200, AlgoList(results=algos, strategies=owners))
