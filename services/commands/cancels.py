"""Cancels, cancel-all, batch cancel and modify: ownership check, intent event, one venue call.

Every venue failure is classified (``core.outcome``), for cancels and modifies as for places:

* a definite refusal (4xx with a venue error body) publishes ``CmdCancelFailed`` /
  ``CmdModifyFailed`` with the venue's code, so the state clears PENDING_CANCEL/PENDING_MODIFY at
  once (the order keeps its venue status); the answer is 400 (404 for an unknown order, 429 with
  Retry-After) ``status: rejected`` with the venue's code. A cancel of an order the venue does not
  know (``ORDER_ID_NOT_FOUND``/``CLIENT_ORDER_ID_NOT_FOUND``) also asks for a lookup, so the state
  settles it from the venue's record (closed, or absent per DESIGN rule 5). No CmdRejected: that
  event means "this ORDER was refused" and would mark a live or filled order REJECTED;
* an ambiguous one (5xx, timeout, connection lost after writing, garbage) publishes
  ``CmdCancelUnknown`` / ``CmdModifyUnknown`` and one lookup request (a full snapshot for a
  cancel-all): 202 ``status: unknown``;
* not sent (nothing reached the venue) publishes ``CmdCancelFailed``/``CmdModifyFailed`` with code
  ``NOT_SENT`` (the venue did not act) and answers 503 ``status: not_sent`` with Retry-After: safe
  to send again.

A batch cancel's per-item refusals (``ALREADY_CLOSED``, ``NOT_FOUND``) publish CmdCancelFailed with
that code; the NOT_FOUND ones are looked up.

A modify keeps the order's market, side and type: a request that changes one is refused with 422
(``MODIFY_SIDE_MISMATCH``/``MODIFY_TYPE_MISMATCH``/``MODIFY_MARKET_MISMATCH``) before the venue,
judged from the stored accepted reply of the order's client id (else the live-order view's side).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import msgspec

from services.commands.core.outcome import Failure, NotSent, Rejected, Unknown, classify
from services.commands.core.risk import check_cancel, check_limits
from services.commands.core.rules import ZERO, Intent, check_modify, check_order, check_system
from services.commands.core.strategies import Strategy
from services.commands.engine import Engine, violation
from services.commands.wire import CancelBatch, ModifyOrder, Reply, reply, with_seq
from shared.bus import (
    CmdCancelFailed,
    CmdCancelRequested,
    CmdCancelUnknown,
    CmdModifyFailed,
    CmdModifyRequested,
    CmdModifyUnknown,
    subjects,
)
from shared.bus.requests import ReconcileRequest, encode_request
from shared.errors import BusError
from shared.paradex.rest import build_modify

log = logging.getLogger("commands.cancels")


class _Shape(msgspec.Struct):
    market: str = ""
    side: str = ""
    type: str = ""


class _Stored(msgspec.Struct):
    order: _Shape | None = None


_shape = msgspec.json.Decoder(_Stored)


def _not_found(failure: Rejected) -> bool:
    """The venue does not know the order (``ORDER_ID_NOT_FOUND``, ``CLIENT_ORDER_ID_NOT_FOUND``)."""
    return failure.http_status == 404 or failure.code.endswith("NOT_FOUND")


def _venue_error(failure: Rejected, **extra: str) -> Reply:
    headers = {}
    if failure.retry_after_s is not None:
        headers["Retry-After"] = str(max(1, int(failure.retry_after_s + 0.999)))
    limited = failure.http_status == 429
    status = 429 if limited else (404 if failure.http_status == 404 else 400)
    return reply(
        status,
        {
            "status": "rejected",
            "error": failure.code,
            "message": failure.message,
            "http_status": failure.http_status,
            **extra,
        },
        headers,
    )


def _unknown(what: str, reason: str, **extra: object) -> Reply:
    return reply(
        202,
        {
            "status": "unknown",
            **extra,
            "message": f"the venue's answer to the {what} does not say whether it acted ({reason}); "
            "the order is looked up",
        },
    )


def _not_sent(what: str, reason: str, **extra: object) -> Reply:
    return reply(
        503,
        {
            "status": "not_sent",
            **extra,
            "error": "VENUE_NOT_REACHED",
            "message": f"the {what} did not reach the venue ({reason}); nothing changed: safe to send again",
        },
        {"Retry-After": "1"},
    )


_BUS_DOWN = {
    "error": "BUS_UNAVAILABLE",
    "rule": "bus",
    "message": "the command could not be recorded; nothing was sent",
}

Target = tuple[str, str]
"""(client_id, order_id) of one order a cancel or modify is about; either may be ""."""


class Cancels:
    """The non-place commands of :class:`Engine`."""

    def __init__(self, engine: Engine) -> None:
        self.e = engine

    async def _publish_all(self, events: list[Any]) -> list[int] | None:
        """Publish intent events (all acked), or None when the bus did not store them."""
        try:
            return list(await asyncio.gather(*(self.e.publisher.publish(ev) for ev in events)))
        except BusError as exc:
            log.error("cancel/modify intent not stored, nothing sent: %s", exc)
            return None

    async def _publish_outcomes(self, events: list[Any]) -> None:
        """Publish outcome events; a bus failure is logged (the in-flight check resolves them)."""
        try:
            await asyncio.gather(*(self.e.publisher.publish(ev) for ev in events))
        except BusError as exc:
            log.error("cancel/modify outcome events not stored: %s", exc)

    async def _cancel_failed(
        self, strategy: Strategy, targets: list[Target], code: str, message: str, http_status: int
    ) -> None:
        """The venue definitely did not cancel: CmdCancelFailed each (PENDING_CANCEL is cleared)."""
        await self._publish_outcomes(
            [
                CmdCancelFailed(
                    source="cmd", recv_ns=time.time_ns(), client_id=c, strategy=strategy.name,
                    order_id=o, code=code, message=message, http_status=http_status,
                )
                for c, o in targets
            ]
        )

    async def _cancel_unknown(
        self, strategy: Strategy, targets: list[Target], reason: str, *, snapshot: bool = False
    ) -> None:
        """An ambiguous cancel: CmdCancelUnknown each, then one lookup of them all (a full
        snapshot if ``snapshot``: a cancel-all names no orders)."""
        self.e.metrics.unknown.inc(max(1, len(targets)))
        await self._publish_outcomes(
            [
                CmdCancelUnknown(
                    source="cmd", recv_ns=time.time_ns(), client_id=c, strategy=strategy.name,
                    order_id=o, reason=reason,
                )
                for c, o in targets
            ]
        )
        if snapshot:
            await self._request(ReconcileRequest(reason="cancel_unknown"))
        else:
            await self._look_up("cancel_unknown", [o for _, o in targets], [c for c, _ in targets])

    async def _cancel_failure(
        self, strategy: Strategy, targets: list[Target], failure: Failure, *, snapshot: bool = False
    ) -> None:
        """Publish what a failed cancel request means for each target."""
        if isinstance(failure, Unknown):
            await self._cancel_unknown(strategy, targets, failure.reason, snapshot=snapshot)
        elif isinstance(failure, NotSent):
            self.e.metrics.not_sent.inc(len(targets))
            await self._cancel_failed(strategy, targets, "NOT_SENT", failure.reason, 0)
        else:
            await self._cancel_failed(
                strategy, targets, failure.code, failure.message, failure.http_status
            )

    async def _owner_of_order(self, order_id: str) -> tuple[str | None, str]:
        found = await self.e.store.order_owner(order_id)
        if found is not None:
            return found
        cid = self.e.exposure.by_order_id.get(order_id, "")
        owner = self.e.exposure.owners.get(cid) if cid else None
        return owner or None, cid

    async def _order_shape(self, cid: str) -> tuple[str, str, str]:
        """(market, side, type) of the order placed under ``cid``: from its stored accepted reply,
        else the live-order view (side only); "" where unknown."""
        rec = await self.e.store.get(cid) if cid else None
        if rec is not None and rec.st == "done":
            try:
                order = _shape.decode(bytes(rec.body)).order
            except (msgspec.ValidationError, msgspec.DecodeError):
                order = None
            if order is not None:
                return order.market, order.side, order.type
        live = self.e.exposure.exposure.orders.get(cid) if cid else None
        return (live.market, live.side, "") if live is not None else ("", "", "")

    async def _owner_of_client_id(self, client_id: str) -> str | None:
        rec = await self.e.store.get(client_id)
        return rec.s if rec is not None else None

    async def cancel(self, strategy: Strategy, order_id: str) -> Reply:
        """``DELETE /v1/orders/{order_id}``."""
        owner, cid = await self._owner_of_order(order_id)
        if (v := check_cancel(strategy, owner)) is not None:
            return violation(v)
        return await self._send_cancel(
            strategy, cid, order_id, "", lambda: self.e.rest.cancel_order(order_id)
        )

    async def cancel_by_client_id(self, strategy: Strategy, client_id: str, market: str | None) -> Reply:
        """``DELETE /v1/orders/by_client_id/{client_id}``."""
        owner = await self._owner_of_client_id(client_id)
        if (v := check_cancel(strategy, owner)) is not None:
            return violation(v)
        return await self._send_cancel(
            strategy,
            client_id,
            "",
            market or "",
            lambda: self.e.rest.cancel_order_by_client_id(client_id, market),
        )

    async def _send_cancel(
        self, strategy: Strategy, cid: str, order_id: str, market: str, call: Callable[[], Awaitable[Any]]
    ) -> Reply:
        if (limited := self.e.rate_limited()) is not None:
            return limited
        acked = await self._publish_all(
            [
                CmdCancelRequested(
                    source="cmd",
                    recv_ns=time.time_ns(),
                    client_id=cid,
                    strategy=strategy.name,
                    order_id=order_id,
                    market=market,
                )
            ]
        )
        if acked is None:
            return reply(503, _BUS_DOWN)
        seq = acked[0]
        target = [(cid, order_id)]
        try:
            await call()
        except Exception as exc:  # classified: definite refusal, ambiguous, not sent
            failure = classify(exc)
            await self._cancel_failure(strategy, target, failure)
            if isinstance(failure, Unknown):
                return with_seq(_unknown("cancel", failure.reason, order_id=order_id, client_id=cid), seq)
            if isinstance(failure, NotSent):
                return with_seq(_not_sent("cancel", failure.reason, order_id=order_id, client_id=cid), seq)
            if _not_found(failure):
                await self._look_up("cancel_not_found", [order_id], [cid])
            return with_seq(_venue_error(failure, order_id=order_id, client_id=cid), seq)
        return with_seq(
            reply(202, {"status": "cancel_requested", "order_id": order_id, "client_id": cid}), seq
        )

    async def _look_up(self, reason: str, order_ids: list[str], cids: list[str]) -> None:
        """Ask the reconciler for the venue's record of orders our intent events already named
        (their CmdCancelRequested shows PENDING_CANCEL until a venue record settles it)."""
        await self._request(
            ReconcileRequest(
                reason=reason,
                order_ids=tuple(o for o in order_ids if o),
                client_ids=tuple(c for c in cids if c),
            )
        )

    async def _request(self, request: ReconcileRequest) -> None:
        try:
            await self.e.nc.publish(subjects.RECONCILE_REQUEST, encode_request(request))
        except Exception as exc:  # core NATS publish: only fails when disconnected
            log.error("reconcile request %s not sent: %r", request.reason, exc)

    async def cancel_all(self, strategy: Strategy, market: str | None) -> Reply:
        """``DELETE /v1/orders[?market=]``: every order of the account if the strategy may cancel
        others; otherwise the strategy's own live orders, by client id, through the batch cancel."""
        if market is not None and not strategy.allows_market(market) and not strategy.can_cancel_others:
            return reply(
                403,
                {
                    "error": "MARKET_NOT_ALLOWED",
                    "rule": "allowed_markets",
                    "message": f"strategy {strategy.name} may not trade {market}",
                },
            )
        live = [o for o in self.e.exposure.exposure.orders.values() if market in (None, o.market)]
        if strategy.can_cancel_others:
            if (limited := self.e.rate_limited()) is not None:
                return limited
            named = [o for o in live if not o.client_id.startswith("id:")]
            acked = await self._publish_all(
                [
                    CmdCancelRequested(
                        source="cmd",
                        recv_ns=time.time_ns(),
                        client_id=o.client_id,
                        strategy=strategy.name,
                        market=o.market,
                    )
                    for o in named
                ]
            )
            if acked is None:
                return reply(503, _BUS_DOWN)
            seq = max(acked, default=0)
            try:
                await self.e.rest.cancel_all_orders(market)
            except Exception as exc:  # classified
                failure = classify(exc)
                targets = [(o.client_id, "") for o in named]
                await self._cancel_failure(strategy, targets, failure, snapshot=True)
                if isinstance(failure, Unknown):
                    return with_seq(_unknown("cancel-all", failure.reason), seq)
                if isinstance(failure, NotSent):
                    return with_seq(_not_sent("cancel-all", failure.reason), seq)
                return with_seq(_venue_error(failure), seq)
            return with_seq(
                reply(202, {"status": "cancel_requested", "scope": "account", "market": market}), seq
            )
        own = [o.client_id for o in live if o.owner == strategy.name]
        return await self.batch(strategy, CancelBatch(client_ids=own))

    async def batch(self, strategy: Strategy, req: CancelBatch) -> Reply:
        """``DELETE /v1/orders/batch``: owned items go to the venue in one call; others are FORBIDDEN."""
        results: list[dict[str, str]] = []
        order_ids: list[str] = []
        client_ids: list[str] = []
        owners = await self.e.store.owners(req.client_ids)
        for cid in req.client_ids:
            if check_cancel(strategy, owners.get(cid)) is None:
                client_ids.append(cid)
            else:
                results.append({"client_id": cid, "status": "FORBIDDEN"})
        for oid in req.order_ids:
            owner, _ = await self._owner_of_order(oid)
            if check_cancel(strategy, owner) is None:
                order_ids.append(oid)
            else:
                results.append({"id": oid, "status": "FORBIDDEN"})
        seq = 0
        if order_ids or client_ids:
            if (limited := self.e.rate_limited()) is not None:
                return limited
            acked = await self._publish_all(
                [
                    CmdCancelRequested(
                        source="cmd", recv_ns=time.time_ns(), client_id=c, strategy=strategy.name
                    )
                    for c in client_ids
                ]
                + [
                    CmdCancelRequested(
                        source="cmd",
                        recv_ns=time.time_ns(),
                        client_id="",
                        strategy=strategy.name,
                        order_id=o,
                    )
                    for o in order_ids
                ]
            )
            if acked is None:
                return reply(503, _BUS_DOWN)
            seq = max(acked)
            targets = [(c, "") for c in client_ids] + [("", o) for o in order_ids]
            try:
                answer = await self.e.rest.cancel_orders(order_ids, client_ids)
            except Exception as exc:  # classified
                failure = classify(exc)
                await self._cancel_failure(strategy, targets, failure)
                if isinstance(failure, Unknown):
                    return with_seq(_unknown("batch cancel", failure.reason, results=results), seq)
                if isinstance(failure, NotSent):
                    return with_seq(_not_sent("batch cancel", failure.reason, results=results), seq)
                return with_seq(_venue_error(failure), seq)
            refused = [r for r in answer.results if r.status != "QUEUED_FOR_CANCELLATION"]
            if refused:
                await self._publish_outcomes(
                    [
                        CmdCancelFailed(
                            source="cmd", recv_ns=time.time_ns(), client_id=r.client_id,
                            strategy=strategy.name, order_id=r.id, code=r.status,
                        )
                        for r in refused
                    ]
                )
                await self._look_up(
                    "cancel_not_found",
                    [r.id for r in refused if r.status == "NOT_FOUND"],
                    [r.client_id for r in refused if r.status == "NOT_FOUND"],
                )
            results.extend(
                {k: v for k, v in {"id": r.id, "client_id": r.client_id, "status": r.status}.items() if v}
                for r in answer.results
            )
        return with_seq(reply(200, {"results": results}), seq)

    async def modify(self, strategy: Strategy, order_id: str, req: ModifyOrder) -> Reply:
        """``PUT /v1/orders/{order_id}``: same rules and limits as a new order (minus the open-order
        count), signed ``ModifyOrder``, CmdModifyRequested before the venue call."""
        owner, cid = await self._owner_of_order(order_id)
        if (v := check_cancel(strategy, owner)) is not None:
            return violation(v)
        intent = Intent(
            market=req.market,
            side=req.side,
            type=req.type,
            size=req.size,
            price=req.price,
            client_id=cid,
            trigger_price=req.trigger_price,
        )
        e = self.e
        market, side, type_ = await self._order_shape(cid)
        v = (
            check_modify(market, side, type_, intent)
            or check_system(e.venue.system_status, intent)
            or check_order(
                intent,
                e.venue.markets.get(req.market),
                int(time.time() * 1000),
                e.exposure.exposure.prices.get(req.market),
            )
        )
        if v is None:
            current = e.exposure.exposure.orders.get(cid)
            replaces = current.remaining if current is not None else ZERO
            v = check_limits(strategy, intent, e.exposure.exposure, replaces=replaces, new_order=False)
        if v is not None:
            return violation(v)
        if (limited := e.rate_limited()) is not None:
            return limited
        body = build_modify(
            e.rest._signer(),
            order_id=order_id,
            market=req.market,
            side=req.side,
            type=req.type,
            size=req.size,
            price=req.price,
            now_ms=e.rest.now_ms(),
            trigger_price=req.trigger_price,
        )
        acked = await self._publish_all(
            [
                CmdModifyRequested(
                    source="cmd",
                    recv_ns=time.time_ns(),
                    client_id=cid,
                    strategy=strategy.name,
                    order_id=order_id,
                    size=str(req.size),
                    price=str(req.price or Decimal(0)),
                )
            ]
        )
        if acked is None:
            return reply(503, _BUS_DOWN)
        seq = acked[0]
        try:
            order = await e.rest.modify_order(body)
        except Exception as exc:  # classified: definite refusal, ambiguous, not sent
            failure = classify(exc)
            if isinstance(failure, Unknown):
                e.metrics.unknown.inc()
                await self._publish_outcomes(
                    [
                        CmdModifyUnknown(
                            source="cmd", recv_ns=time.time_ns(), client_id=cid,
                            strategy=strategy.name, order_id=order_id, reason=failure.reason,
                        )
                    ]
                )
                await self._look_up("modify_unknown", [order_id], [cid])
                return with_seq(_unknown("modify", failure.reason, order_id=order_id), seq)
            code, message, http_status = (
                ("NOT_SENT", failure.reason, 0)
                if isinstance(failure, NotSent)
                else (failure.code, failure.message, failure.http_status)
            )
            await self._publish_outcomes(
                [
                    CmdModifyFailed(
                        source="cmd", recv_ns=time.time_ns(), client_id=cid, strategy=strategy.name,
                        order_id=order_id, code=code, message=message, http_status=http_status,
                    )
                ]
            )
            if isinstance(failure, NotSent):
                e.metrics.not_sent.inc()
                return with_seq(_not_sent("modify", failure.reason, order_id=order_id), seq)
            return with_seq(_venue_error(failure, order_id=order_id), seq)
        return with_seq(
            reply(200, {"status": "modify_requested", "order_id": order.id, "order": order}), seq
        )
