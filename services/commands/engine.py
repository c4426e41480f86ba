"""The order path: validate, claim the client id, publish intent, sign, send, record the outcome.

Hot path of a place (what ``added`` latency measures): decode -> static rules (pure) -> token
bucket (pure) -> ONE Redis round trip (claim) -> limits (pure, in-memory exposure) -> CmdSubmitted
publish started -> sign (~0.3 ms) -> wait for the JetStream ack -> venue request leaves.
The venue request waits for the ack so an order never exists at the venue without its intent on
the ACCOUNT stream (if the bus is down the order is refused with 503, nothing is sent).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from services.commands import outcomes
from services.commands.core.bucket import TokenBucket
from services.commands.core.ids import new_client_id
from services.commands.core.outcome import NotSent, Unknown, classify
from services.commands.core.risk import LiveOrder, check_limits
from services.commands.core.rules import Intent, Violation, check_client_id, check_order, check_system
from services.commands.core.strategies import Strategy
from services.commands.metrics import Metrics
from services.commands.store import CommandStore, Record
from services.commands.views import ExposureView, VenueView
from services.commands.watch import CONFIRMED, TERMINAL_ONLY, OrderWatch
from services.commands.wire import SEQ_HEADER, PlaceOrder, Reply, reply, seq_of, with_seq
from shared.bus import (
    CmdAccepted,
    CmdNotSent,
    CmdRejected,
    CmdSubmitted,
    CmdUnknown,
    EventPublisher,
    subjects,
)
from shared.bus.requests import ReconcileRequest, encode_request
from shared.errors import BusError
from shared.paradex.models.account import Order
from shared.paradex.models.common import encode
from shared.paradex.models.requests import OrderRequest
from shared.paradex.rest import ParadexRest, build_order

log = logging.getLogger("commands.engine")


def violation(v: Violation) -> Reply:
    return reply(v.status, v.body())


class Engine:
    """Everything a command needs; the HTTP layer calls :meth:`place` and friends."""

    def __init__(
        self,
        *,
        rest: ParadexRest,
        publisher: EventPublisher,
        nc: Any,
        store: CommandStore,
        venue: VenueView,
        exposure: ExposureView,
        bucket: TokenBucket,
        watch: OrderWatch,
        metrics: Metrics,
        pending_stale_s: float = 30.0,
        ws_wait_default_s: float = 5.0,
        ws_wait_max_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rest, self.publisher, self.nc, self.store = rest, publisher, nc, store
        self.venue, self.exposure, self.bucket, self.watch = venue, exposure, bucket, watch
        self.metrics = metrics
        self.pending_stale_s = pending_stale_s
        self.ws_wait = (ws_wait_default_s, ws_wait_max_s)
        self.clock = clock
        self.inflight: dict[str, asyncio.Future[Reply]] = {}
        self.tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ helpers

    def rate_limited(self, n: float = 1.0) -> Reply | None:
        """429 with Retry-After when the client-side bucket is empty (else a token is taken)."""
        wait = self.bucket.take(self.clock(), n)
        if wait <= 0:
            return None
        self.metrics.rate_limited.inc()
        retry = max(1, int(wait + 0.999))
        return reply(
            429,
            {
                "error": "RATE_LIMITED",
                "rule": "rate_limit",
                "message": f"client-side order rate limit; retry in {wait:.3f} s",
                "retry_after_s": round(wait, 3),
            },
            {"Retry-After": str(retry)},
        )

    def intent(self, req: PlaceOrder, client_id: str) -> Intent:
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

    def static_check(self, intent: Intent) -> Violation | None:
        """Rules that depend only on the request and the venue's specs/state."""
        return (
            check_client_id(intent.client_id)
            or check_system(self.venue.system_status, intent)
            or check_order(
                intent,
                self.venue.markets.get(intent.market),
                int(time.time() * 1000),
                self.exposure.exposure.prices.get(intent.market),
            )
        )

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def replay(self, client_id: str, record: Record | None) -> Reply | None:
        """The stored reply of a duplicate (waiting for the first request if still pending);
        None when the first request released its claim (the caller claims again)."""
        self.metrics.duplicates.inc()
        fut = self.inflight.get(client_id)
        if fut is not None:
            return await asyncio.shield(fut)
        if record is not None and record.st == "pending":
            age_s = time.time() - record.at / 1000
            record = await self.store.wait_done(client_id, max(0.0, self.pending_stale_s - age_s))
        if record is None:
            return None
        if record.st == "done":
            headers = {"Idempotent-Replay": "true"}
            if record.q:
                headers[SEQ_HEADER] = str(record.q)
            return Reply(record.code, bytes(record.body), headers)
        return reply(
            202,
            {
                "status": "unknown",
                "client_id": client_id,
                "message": "a request with this client_id was claimed but never finished "
                "(service restart?); its outcome is resolved by lookup",
            },
        )

    async def unknown(
        self, strategy: Strategy, cid: str, reason: str, order_ids: tuple[str, ...] = ()
    ) -> None:
        """Publish CmdUnknown and ask the reconciler to look the order up (never resend)."""
        await self.unknown_many(strategy, (cid,) if cid else (), reason, order_ids, blank_event=not cid)

    async def unknown_many(
        self,
        strategy: Strategy,
        cids: tuple[str, ...],
        reason: str,
        order_ids: tuple[str, ...] = (),
        *,
        blank_event: bool = False,
    ) -> None:
        """CmdUnknown for each client id (one with an empty client id if ``blank_event``), then ONE
        reconcile request looking them all up."""
        self.metrics.unknown.inc(max(1, len(cids)))
        events = [
            CmdUnknown(
                source="cmd", recv_ns=time.time_ns(), client_id=c, strategy=strategy.name, reason=reason
            )
            for c in (cids or (("",) if blank_event else ()))
        ]
        try:
            await asyncio.gather(*(self.publisher.publish(e) for e in events))
        finally:
            request = ReconcileRequest(reason="unknown_command", client_ids=cids, order_ids=order_ids)
            await self.nc.publish(subjects.RECONCILE_REQUEST, encode_request(request))

    # ------------------------------------------------------------------ place

    async def place(self, strategy: Strategy, req: PlaceOrder) -> Reply:
        """``POST /v1/orders``: see the module docstring for the order of steps."""
        cid = req.client_id or new_client_id(strategy.name)
        intent = self.intent(req, cid)
        if (v := self.static_check(intent)) is not None:
            self.metrics.refused.labels(v.error).inc()
            return violation(v)
        if (limited := self.rate_limited()) is not None:
            return limited
        while True:
            claim = await self.store.claim(strategy.name, cid)
            if claim.won:
                break
            self.bucket.refund()
            if claim.record is not None and claim.record.s != strategy.name:
                return reply(
                    409,
                    {
                        "error": "CLIENT_ID_TAKEN",
                        "rule": "client_id",
                        "message": f"client_id {cid} belongs to another strategy",
                    },
                )
            replayed = await self.replay(cid, claim.record)
            if replayed is not None:
                return replayed
            if (limited := self.rate_limited()) is not None:
                return limited
        fut: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self.inflight[cid] = fut
        try:
            return await self._place_claimed(strategy, req, intent)
        except BaseException as exc:
            if self.inflight.get(cid) is fut:
                del self.inflight[cid]
            if not fut.done():
                fut.set_exception(exc)
                fut.exception()  # duplicates may not be waiting: mark it retrieved
            raise

    def _resolve(self, cid: str, result: Reply) -> Reply:
        """Hand ``result`` to duplicates waiting in this process."""
        fut = self.inflight.pop(cid, None)
        if fut is not None and not fut.done():
            fut.set_result(result)
        return result

    async def _place_claimed(self, strategy: Strategy, req: PlaceOrder, intent: Intent) -> Reply:
        cid = intent.client_id
        if (v := check_limits(strategy, intent, self.exposure.exposure)) is not None:
            await self.store.release([cid])
            self.bucket.refund()
            self.metrics.refused.labels(v.error).inc()
            return self._resolve(cid, violation(v))
        self.exposure.add_inflight(LiveOrder(cid, intent.market, intent.side, intent.size, strategy.name))
        submitted = CmdSubmitted(
            source="cmd",
            recv_ns=time.time_ns(),
            client_id=cid,
            strategy=strategy.name,
            market=intent.market,
            side=intent.side,
            type=intent.type,
            size=str(intent.size),
            price=str(intent.price if intent.priced and intent.price is not None else 0),
            instruction=intent.instruction,
            flags=intent.flags,
        )
        ack = asyncio.ensure_future(self.publisher.publish(submitted))
        order = build_order(
            self.rest._signer(),
            market=req.market,
            side=req.side,
            type=req.type,
            size=req.size,
            price=req.price,
            now_ms=self.rest.now_ms(),
            instruction=req.instruction,
            client_id=cid,
            flags=req.flags,
            trigger_price=req.trigger_price,
        )
        try:
            seq = await ack
        except BusError as exc:
            self.exposure.drop_inflight(cid)
            await self.store.release([cid])
            log.error("CmdSubmitted not stored, order %s not sent: %s", cid, exc)
            return self._resolve(
                cid,
                reply(
                    503,
                    {
                        "error": "BUS_UNAVAILABLE",
                        "rule": "bus",
                        "message": "the command could not be recorded; nothing was sent",
                    },
                ),
            )
        waiter = self.watch.expect(cid, ws_statuses(req)) if req.wait == "ws" else None
        send = self.spawn(self._send(strategy, cid, order, seq))
        if req.wait == "none":
            if waiter is not None:
                self.watch.forget(cid, waiter)
            return with_seq(reply(202, {"status": "submitted", "client_id": cid}), seq)
        result: Reply = await asyncio.shield(send)
        if waiter is None or result.status != 201:
            if waiter is not None:
                self.watch.forget(cid, waiter)
            return result
        return await self._wait_ws(cid, waiter, req.timeout_s, result)

    async def _send(self, strategy: Strategy, cid: str, order: OrderRequest, seq: int) -> Reply:
        """Send the signed order once; publish and store the outcome (its reply carrying ``seq``,
        the stream sequence of the order's CmdSubmitted); resolve duplicates."""
        order_id = ""
        event: CmdAccepted | CmdRejected
        try:
            placed = await self.rest.create_order(order)
        except Exception as exc:  # every failure is classified: definite, ambiguous or not sent
            failure = classify(exc)
            if isinstance(failure, Unknown):
                result = with_seq(outcomes.unknown(cid, failure.reason), seq)
                await self._finish(strategy, cid, result, "", seq)
                self.watch.unresolved[cid] = strategy.name
                await self.unknown(strategy, cid, failure.reason)
                return result
            if isinstance(failure, NotSent):
                return (await self.not_sent(strategy, [cid], failure, {cid: seq}))[cid]
            self.exposure.drop_inflight(cid)
            self.metrics.rejected.labels(failure.code).inc()
            result, event = outcomes.rejected_from(strategy.name, cid, failure)
        else:
            order_id = placed.id
            self.metrics.accepted.inc()
            result, event = outcomes.accepted(strategy.name, cid, placed)
        result = with_seq(result, seq)
        await asyncio.gather(
            self.publisher.publish(event), self._finish(strategy, cid, result, order_id, seq)
        )
        return result

    async def not_sent(
        self, strategy: Strategy, cids: list[str], failure: NotSent, seqs: dict[str, int]
    ) -> dict[str, Reply]:
        """Orders that never reached the venue: CmdNotSent each (the state withdraws the PENDING_NEW
        record), claims released so the same client id can be sent again, 503 answers saying so."""
        self.metrics.not_sent.inc(len(cids))
        results = {c: with_seq(outcomes.not_sent(c, failure.reason), seqs.get(c)) for c in cids}
        for c in cids:
            self.exposure.drop_inflight(c)
        events = [
            CmdNotSent(
                source="cmd", recv_ns=time.time_ns(), client_id=c, strategy=strategy.name,
                reason=failure.reason,
            )
            for c in cids
        ]
        try:
            await asyncio.gather(*(self.publisher.publish(ev) for ev in events))
        except BusError as exc:
            log.error("CmdNotSent of %s not stored (the in-flight check resolves them): %s", cids, exc)
        try:
            await self.store.release(cids)
        finally:
            for c in cids:
                self._resolve(c, results[c])
        return results

    async def _finish(
        self, strategy: Strategy, cid: str, result: Reply, order_id: str, seq: int = 0
    ) -> None:
        try:
            await self.store.finish(strategy.name, cid, result.status, result.body, order_id, seq)
        finally:
            self._resolve(cid, result)

    async def _wait_ws(
        self, cid: str, waiter: asyncio.Future[Any], timeout_s: float | None, acked: Reply
    ) -> Reply:
        default, most = self.ws_wait
        timeout = min(most, default if timeout_s is None else max(0.0, timeout_s))
        try:
            order: Order = await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            self.watch.forget(cid, waiter)
            return Reply(
                202,
                acked.body.replace(b'"status":"accepted"', b'"status":"pending"', 1),
                {**acked.headers, "Wait-Timeout": "true"},
            )
        return with_seq(
            reply(
                200,
                {"status": order.status.lower(), "client_id": cid, "order_id": order.id, "order": order},
            ),
            seq_of(acked),
        )


def ws_statuses(req: PlaceOrder) -> frozenset[str]:
    """What ``wait=ws`` waits for: an IOC or MARKET order's outcome is its CLOSED update (the venue
    shows it OPEN for an instant first); any other order is confirmed by OPEN/UNTRIGGERED/CLOSED."""
    if req.instruction == "IOC" or req.type == "MARKET":
        return TERMINAL_ONLY
    return CONFIRMED


def encode_order(order: OrderRequest) -> bytes:
    """Wire bytes of a signed order (for tests and the bench)."""
    return encode(order)
