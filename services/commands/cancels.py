"""Cancels, cancel-all, batch cancel and modify: ownership check, intent event, one venue call.

A cancel the venue answers ``ORDER_ID_NOT_FOUND``/``CLIENT_ORDER_ID_NOT_FOUND`` gets 404 with the
venue's code (``status: rejected``). No CmdRejected is published: that event means "this ORDER was
refused" and would mark a live or filled order REJECTED; instead, as the CmdCancelRequested already
on the stream shows the order PENDING_CANCEL, a reconcile request looks the order up so the state
settles it from the venue's record (closed, or absent per DESIGN rule 5). ``ORDER_IS_CLOSED`` and
other refusals: 400 with the venue's code, nothing else published.

A modify keeps the order's market, side and type: a request that changes one is refused with 422
(``MODIFY_SIDE_MISMATCH``/``MODIFY_TYPE_MISMATCH``/``MODIFY_MARKET_MISMATCH``) before the venue,
judged from the stored accepted reply of the order's client id (else the live-order view's side).
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import msgspec

from services.commands.core.risk import check_cancel, check_limits
from services.commands.core.rules import ZERO, Intent, check_modify, check_order, check_system
from services.commands.core.strategies import Strategy
from services.commands.engine import Engine, violation
from services.commands.wire import CancelBatch, ModifyOrder, Reply, reply, with_seq
from shared.bus import CmdCancelRequested, CmdModifyRequested, subjects
from shared.bus.requests import ReconcileRequest, encode_request
from shared.errors import RateLimitedError, TransportError, VenueError
from shared.paradex.rest import build_modify


class _Shape(msgspec.Struct):
    market: str = ""
    side: str = ""
    type: str = ""


class _Stored(msgspec.Struct):
    order: _Shape | None = None


_shape = msgspec.json.Decoder(_Stored)


def _not_found(exc: VenueError) -> bool:
    """The venue does not know the order (``ORDER_ID_NOT_FOUND``, ``CLIENT_ORDER_ID_NOT_FOUND``)."""
    return exc.status == 404 or exc.code.endswith("NOT_FOUND")


def _venue_error(exc: VenueError, **extra: str) -> Reply:
    headers = {}
    if isinstance(exc, RateLimitedError) and exc.retry_after_s is not None:
        headers["Retry-After"] = str(max(1, int(exc.retry_after_s + 0.999)))
    status = 429 if isinstance(exc, RateLimitedError) else (404 if exc.status == 404 else 400)
    return reply(
        status,
        {
            "status": "rejected",
            "error": exc.code,
            "message": exc.venue_message,
            "http_status": exc.status,
            **extra,
        },
        headers,
    )


class Cancels:
    """The non-place commands of :class:`Engine`."""

    def __init__(self, engine: Engine) -> None:
        self.e = engine

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
        self, strategy: Strategy, cid: str, order_id: str, market: str, call: object
    ) -> Reply:
        if (limited := self.e.rate_limited()) is not None:
            return limited
        seq = await self.e.publisher.publish(
            CmdCancelRequested(
                source="cmd",
                recv_ns=time.time_ns(),
                client_id=cid,
                strategy=strategy.name,
                order_id=order_id,
                market=market,
            )
        )
        try:
            await call()  # type: ignore[operator]
        except TransportError as exc:
            await self.e.unknown(strategy, cid, f"cancel: {exc}", (order_id,) if order_id else ())
            return with_seq(reply(202, {"status": "unknown", "order_id": order_id, "client_id": cid}), seq)
        except VenueError as exc:
            if _not_found(exc):
                await self._look_up("cancel_not_found", order_id, cid)
            return with_seq(_venue_error(exc, order_id=order_id, client_id=cid), seq)
        return with_seq(
            reply(202, {"status": "cancel_requested", "order_id": order_id, "client_id": cid}), seq
        )

    async def _look_up(self, reason: str, order_id: str, cid: str) -> None:
        """Ask the reconciler for the venue's record of an order our intent events already named
        (its CmdCancelRequested shows PENDING_CANCEL until a venue record settles it)."""
        request = ReconcileRequest(
            reason=reason, order_ids=(order_id,) if order_id else (), client_ids=(cid,) if cid else ()
        )
        await self.e.nc.publish(subjects.RECONCILE_REQUEST, encode_request(request))

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
            acked = await asyncio.gather(
                *(
                    self.e.publisher.publish(
                        CmdCancelRequested(
                            source="cmd",
                            recv_ns=time.time_ns(),
                            client_id=o.client_id,
                            strategy=strategy.name,
                            market=o.market,
                        )
                    )
                    for o in live
                    if not o.client_id.startswith("id:")
                )
            )
            seq = max(acked, default=0)
            try:
                await self.e.rest.cancel_all_orders(market)
            except TransportError as exc:
                await self.e.unknown(strategy, "", f"cancel_all: {exc}")
                return with_seq(reply(202, {"status": "unknown"}), seq)
            except VenueError as exc:
                return with_seq(_venue_error(exc), seq)
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
            acked = await asyncio.gather(
                *(
                    self.e.publisher.publish(
                        CmdCancelRequested(
                            source="cmd", recv_ns=time.time_ns(), client_id=c, strategy=strategy.name
                        )
                    )
                    for c in client_ids
                ),
                *(
                    self.e.publisher.publish(
                        CmdCancelRequested(
                            source="cmd",
                            recv_ns=time.time_ns(),
                            client_id="",
                            strategy=strategy.name,
                            order_id=o,
                        )
                    )
                    for o in order_ids
                ),
            )
            seq = max(acked)
            try:
                answer = await self.e.rest.cancel_orders(order_ids, client_ids)
            except TransportError as exc:
                await self.e.unknown(strategy, "", f"cancel_batch: {exc}", tuple(order_ids))
                return with_seq(reply(202, {"status": "unknown", "results": results}), seq)
            except VenueError as exc:
                return with_seq(_venue_error(exc), seq)
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
        seq = await e.publisher.publish(
            CmdModifyRequested(
                source="cmd",
                recv_ns=time.time_ns(),
                client_id=cid,
                strategy=strategy.name,
                order_id=order_id,
                size=str(req.size),
                price=str(req.price or Decimal(0)),
            )
        )
        try:
            order = await e.rest.modify_order(body)
        except TransportError as exc:
            await e.unknown(strategy, cid, f"modify: {exc}", (order_id,))
            return with_seq(reply(202, {"status": "unknown", "order_id": order_id}), seq)
        except VenueError as exc:
            return with_seq(_venue_error(exc, order_id=order_id), seq)
        return with_seq(
            reply(200, {"status": "modify_requested", "order_id": order.id, "order": order}), seq
        )
