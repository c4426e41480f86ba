"""``POST /v1/orders/batch`` through the venue's ``POST /orders/batch`` (PROTOCOL 3.5).

The venue takes 1-10 orders per batch for ONE rate-limit unit; if basic validation (any signature
included) fails, the whole batch is rejected, otherwise each order is risk-checked on its own. We
keep per-item idempotency around it:

1. each item is checked by the static rules (422 per item); a client id repeated inside the batch
   is refused (422 ``DUPLICATE_CLIENT_ID``);
2. every remaining client id is claimed in ONE Redis pipeline; an item whose client id is already
   known returns its stored reply (waiting for it if pending) and is NOT sent again;
3. limits per item, in order (earlier items count against later ones), then one token of the
   client-side bucket per venue batch of up to 10;
4. CmdSubmitted per item, all acked before the request (bus down: 503 per item, nothing sent);
5. one signed ``POST /orders/batch`` per 10 items; CmdAccepted per order in the answer's
   ``orders`` (matched by client id), CmdRejected per item for the answer's ``errors`` (matched by
   ``data.client_id`` when the venue gives it, else in item order among the items not accepted),
   CmdUnknown for an item the answer does not mention. A failure of the whole request is
   classified (``core.outcome``): ambiguous (5xx, timeout, lost connection, garbage) means
   CmdUnknown for every item and one reconcile request looking them all up; not sent means
   CmdNotSent for every item and their claims released (503, safe to retry with the same ids); a
   definite venue refusal (4xx with a venue error body) rejects every item with it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from services.commands import outcomes
from services.commands.core.ids import new_client_id
from services.commands.core.outcome import NotSent, Unknown, classify
from services.commands.core.risk import LiveOrder, check_limits
from services.commands.core.strategies import Strategy
from services.commands.engine import Engine, violation
from services.commands.wire import PlaceBatch, PlaceOrder, Reply, reply, seq_of, with_seq
from shared.bus import CmdAccepted, CmdRejected, CmdSubmitted
from shared.errors import BusError
from shared.paradex.models.requests import OrderRequest
from shared.paradex.models.rest import ApiError, BatchOrderResponse
from shared.paradex.rest import build_order

log = logging.getLogger("commands.batch")
VENUE_BATCH_MAX = 10
API_BATCH_MAX = 50


class BatchPlacer:
    """Places a strategy's batch through the venue's batch endpoint (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.e = engine

    async def place(self, strategy: Strategy, req: PlaceBatch) -> Reply:
        """One reply per item, in order: ``{"seq", "results": [{"http_status", "reply"}...]}`` (207 if
        mixed); each item's reply carries the ``seq`` of its CmdSubmitted, the top level their max."""
        if not 1 <= len(req.orders) <= API_BATCH_MAX:
            return reply(
                422,
                {
                    "error": "BATCH_SIZE_OUT_OF_RANGE",
                    "rule": "batch_size",
                    "message": f"a batch holds 1 to {API_BATCH_MAX} orders",
                },
            )
        replies = await self._place(strategy, req.orders, req.wait)
        body = (
            b'{"results":['
            + b",".join(b'{"http_status":%d,"reply":%s}' % (r.status, r.body) for r in replies)
            + b"]}"
        )
        status = 207 if len({r.status for r in replies}) > 1 else replies[0].status
        return with_seq(Reply(status, body), max(seq_of(r) for r in replies))

    async def _place(self, strategy: Strategy, items: list[PlaceOrder], wait: str) -> list[Reply]:
        e = self.e
        n = len(items)
        out: list[Reply | None] = [None] * n
        cids = [o.client_id or new_client_id(strategy.name) for o in items]
        intents = [e.intent(o, c) for o, c in zip(items, cids, strict=True)]
        todo: list[int] = []
        seen: set[str] = set()
        for i, intent in enumerate(intents):
            if (v := e.static_check(intent)) is not None:
                e.metrics.refused.labels(v.error).inc()
                out[i] = violation(v)
            elif cids[i] in seen:
                out[i] = reply(
                    422,
                    {
                        "error": "DUPLICATE_CLIENT_ID",
                        "rule": "client_id",
                        "message": f"client_id {cids[i]} appears more than once in the batch",
                    },
                )
            else:
                seen.add(cids[i])
                todo.append(i)
        claims = await e.store.claim_many(strategy.name, [cids[i] for i in todo]) if todo else []
        won: list[int] = []
        replays: list[tuple[int, Any]] = []
        for i, claim in zip(todo, claims, strict=True):
            if claim.won:
                won.append(i)
            elif claim.record is not None and claim.record.s != strategy.name:
                out[i] = reply(
                    409,
                    {
                        "error": "CLIENT_ID_TAKEN",
                        "rule": "client_id",
                        "message": f"client_id {cids[i]} belongs to another strategy",
                    },
                )
            else:
                replays.append((i, claim.record))
        send, release = self._limits(strategy, won, intents, out)
        chunks = [send[k : k + VENUE_BATCH_MAX] for k in range(0, len(send), VENUE_BATCH_MAX)]
        if chunks and (limited := e.rate_limited(len(chunks))) is not None:
            for i in send:
                e.exposure.drop_inflight(cids[i])
                out[i] = limited
            release += [cids[i] for i in send]
            send, chunks = [], []
        await e.store.release(release)
        seqs = await self._submitted(strategy, send, intents, items, out) if send else {}
        if seqs is None:
            send, chunks = [], []
            seqs = {}
        loop = asyncio.get_running_loop()
        for i in send:
            e.inflight[cids[i]] = loop.create_future()  # duplicates in this process wait on it
        orders = {i: self._sign(items[i], cids[i]) for i in send}
        tasks = [
            e.spawn(self._send(strategy, [(cids[i], orders[i]) for i in chunk], seqs)) for chunk in chunks
        ]
        replayed = await asyncio.gather(
            *(self._replay(strategy, items[i], cids[i], rec) for i, rec in replays)
        )
        for (i, _), r in zip(replays, replayed, strict=True):
            out[i] = r
        if wait == "none":
            for i in send:
                out[i] = with_seq(reply(202, {"status": "submitted", "client_id": cids[i]}), seqs[cids[i]])
        else:
            results: dict[str, Reply] = {}
            for part in await asyncio.gather(*(asyncio.shield(t) for t in tasks)):
                results.update(part)
            for i in send:
                out[i] = results[cids[i]]
        return [r if r is not None else reply(500, {"error": "INTERNAL"}) for r in out]

    def _limits(
        self, strategy: Strategy, won: list[int], intents: list[Any], out: list[Reply | None]
    ) -> tuple[list[int], list[str]]:
        """Items within the strategy's limits (counted in flight as they pass) and claims to drop."""
        e = self.e
        send: list[int] = []
        release: list[str] = []
        for i in won:
            intent = intents[i]
            if (v := check_limits(strategy, intent, e.exposure.exposure)) is not None:
                e.metrics.refused.labels(v.error).inc()
                out[i] = violation(v)
                release.append(intent.client_id)
                continue
            e.exposure.add_inflight(
                LiveOrder(intent.client_id, intent.market, intent.side, intent.size, strategy.name)
            )
            send.append(i)
        return send, release

    async def _submitted(
        self, strategy: Strategy, send: list[int], intents: list[Any], items: list[PlaceOrder],
        out: list[Reply | None],
    ) -> dict[str, int] | None:
        """Publish CmdSubmitted of every item to send: the stream sequence of each by client id;
        None (503 each, claims dropped) if the bus did not store them all."""
        e = self.e
        events = [
            CmdSubmitted(
                source="cmd",
                recv_ns=time.time_ns(),
                client_id=intents[i].client_id,
                strategy=strategy.name,
                market=intents[i].market,
                side=intents[i].side,
                type=intents[i].type,
                size=str(intents[i].size),
                price=str(items[i].price if intents[i].priced and items[i].price is not None else 0),
                instruction=intents[i].instruction,
                flags=intents[i].flags,
            )
            for i in send
        ]
        try:
            acked = await asyncio.gather(*(e.publisher.publish(ev) for ev in events))
        except BusError as exc:
            log.error("CmdSubmitted not stored, batch of %d not sent: %s", len(send), exc)
            for i in send:
                e.exposure.drop_inflight(intents[i].client_id)
                out[i] = reply(
                    503,
                    {
                        "error": "BUS_UNAVAILABLE",
                        "rule": "bus",
                        "message": "the command could not be recorded; nothing was sent",
                    },
                )
            await e.store.release([intents[i].client_id for i in send])
            return None
        return {ev.client_id: seq for ev, seq in zip(events, acked, strict=True)}

    def _sign(self, item: PlaceOrder, cid: str) -> OrderRequest:
        rest = self.e.rest
        return build_order(
            rest._signer(),
            market=item.market,
            side=item.side,
            type=item.type,
            size=item.size,
            price=item.price,
            now_ms=rest.now_ms(),
            instruction=item.instruction,
            client_id=cid,
            flags=item.flags,
            trigger_price=item.trigger_price,
        )

    async def _replay(self, strategy: Strategy, item: PlaceOrder, cid: str, record: Any) -> Reply:
        """The stored reply of a known client id; if its claim was released meanwhile, the item
        goes through the single-order path (it was never sent)."""
        replayed = await self.e.replay(cid, record)
        if replayed is not None:
            return replayed
        return await self.e.place(strategy, item)

    async def _send(
        self, strategy: Strategy, items: list[tuple[str, OrderRequest]], seqs: dict[str, int]
    ) -> dict[str, Reply]:
        """One venue batch request; outcome of every item published, stored (with the ``seq`` of its
        CmdSubmitted) and handed to duplicates."""
        e = self.e
        cids = [c for c, _ in items]
        pairs: dict[str, tuple[Reply, CmdAccepted | CmdRejected]]
        unknown: dict[str, Reply] = {}
        try:
            answer = await e.rest.create_orders([o for _, o in items])
        except Exception as exc:  # classified: definite refusal of the whole batch, ambiguous, not sent
            failure = classify(exc)
            if isinstance(failure, Unknown):
                lost = {c: with_seq(outcomes.unknown(c, failure.reason), seqs.get(c)) for c in cids}
                await self._unknown(strategy, lost, f"batch: {failure.reason}", seqs)
                return lost
            if isinstance(failure, NotSent):
                return await e.not_sent(strategy, cids, failure, seqs)
            pairs = {c: outcomes.rejected_from(strategy.name, c, failure) for c in cids}
            for c in cids:
                e.exposure.drop_inflight(c)
            e.metrics.rejected.labels(failure.code).inc(len(cids))
        except BaseException as exc:
            for c in cids:
                fut = e.inflight.pop(c, None)
                if fut is not None and not fut.done():
                    fut.set_exception(exc)
                    fut.exception()
            raise
        else:
            pairs, missing = self._match(strategy, cids, answer)
            unknown = {
                c: with_seq(outcomes.unknown(c, "the batch answer does not mention it"), seqs.get(c))
                for c in missing
            }
            if unknown:
                await self._unknown(strategy, unknown, "batch answer without this order", seqs)
        pairs = {c: (with_seq(r, seqs.get(c)), ev) for c, (r, ev) in pairs.items()}
        events: list[CmdAccepted | CmdRejected] = [ev for _, ev in pairs.values()]
        await asyncio.gather(
            *(e.publisher.publish(ev) for ev in events),
            *(
                e._finish(
                    strategy, c, r, ev.order_id if isinstance(ev, CmdAccepted) else "", seqs.get(c, 0)
                )
                for c, (r, ev) in pairs.items()
            ),
        )
        return {**unknown, **{c: r for c, (r, _) in pairs.items()}}

    async def _unknown(
        self, strategy: Strategy, results: dict[str, Reply], reason: str, seqs: dict[str, int]
    ) -> None:
        """Store ``unknown`` for these items, then CmdUnknown each and one lookup request."""
        e = self.e
        await asyncio.gather(
            *(e._finish(strategy, c, r, "", seqs.get(c, 0)) for c, r in results.items())
        )
        for c in results:
            e.watch.unresolved[c] = strategy.name
        await e.unknown_many(strategy, tuple(results), reason)

    def _match(
        self, strategy: Strategy, cids: list[str], answer: BatchOrderResponse
    ) -> tuple[dict[str, tuple[Reply, CmdAccepted | CmdRejected]], list[str]]:
        """Outcome per client id from the venue's ``orders`` and ``errors``; the ids it omits."""
        e = self.e
        pairs: dict[str, tuple[Reply, CmdAccepted | CmdRejected]] = {}
        for order in answer.orders:
            if order.client_id in cids and order.client_id not in pairs:
                e.metrics.accepted.inc()
                pairs[order.client_id] = outcomes.accepted(strategy.name, order.client_id, order)
        left = [c for c in cids if c not in pairs]
        unnamed: list[ApiError] = []
        for err in answer.errors:
            named = err.data.get("client_id") if isinstance(err.data, dict) else None
            if isinstance(named, str) and named in left:
                pairs[named] = self._rejected(strategy, named, err)
                left.remove(named)
            else:
                unnamed.append(err)
        for c, err in zip(list(left), unnamed, strict=False):
            pairs[c] = self._rejected(strategy, c, err)
            left.remove(c)
        return pairs, left

    def _rejected(self, strategy: Strategy, cid: str, err: ApiError) -> tuple[Reply, CmdRejected]:
        self.e.exposure.drop_inflight(cid)
        self.e.metrics.rejected.labels(err.error).inc()
        return outcomes.rejected(strategy.name, cid, err.error, err.message, 400)
