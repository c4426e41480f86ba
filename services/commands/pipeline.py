"""The place pipeline: one path for ``POST /v1/orders`` (a batch of one) and ``/v1/orders/batch``.

Steps (decisions in ``core.place``; this shell only moves data in and out):

1. static rules per item (pure) -> refused items answered 422/403;
2. ONE Redis round trip claims every remaining client id; a known id replays its stored answer
   (waiting for it while in flight), another strategy's id is 409;
3. limits per item (pure, the exposure book in memory), then the venue budget: one unit per venue
   request (10 orders per batch request);
4. CmdSubmitted per item, all acked by JetStream before the venue request leaves (an order never
   exists at the venue without its intent on the stream; bus down: 503, nothing sent), signing
   while the acks travel;
5. one venue request per chunk through the transport, each outcome classified (``core.outcome``);
   per item: the outcome event, the stored answer, duplicates resolved. Ambiguous items get one
   lookup request per chunk; not-sent items get CmdNotSent and their claims released.

Hot path of a single place (what ``added`` latency measures): decode -> static rules -> claim (one
Redis round trip) -> limits -> budget -> publish started -> sign -> JetStream ack -> venue request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import msgspec

from services.commands.budget import Budget
from services.commands.core import answers, events
from services.commands.core import place as placing
from services.commands.core.exposure import ExposureBook
from services.commands.core.ids import new_client_id
from services.commands.core.messages import Answer, BatchItem, BatchReply, PlaceOrder, encode_body
from services.commands.core.outcome import Accepted, NotSent, Outcome, Rejected, Unknown
from services.commands.core.strategies import Strategy
from services.commands.inflight import Inflight, Tasks
from services.commands.metrics import Metrics
from services.commands.outbox import Outbox
from services.commands.store import CommandStore, Record
from services.commands.transport import OrderTransport
from services.commands.venue import VenueView
from services.commands.watch import CONFIRMED, TERMINAL_ONLY, OrderWatch
from shared.paradex.models.account import Order
from shared.paradex.models.requests import OrderRequest
from shared.paradex.rest import ParadexRest

log = logging.getLogger("commands.pipeline")
INFLIGHT_MAX_AGE_S = 30.0


@dataclass(frozen=True)
class Waits:
    """Bounds of ``wait=ws`` and of waiting for another process's pending claim."""

    ws_default_s: float = 5.0
    ws_max_s: float = 60.0
    pending_stale_s: float = 30.0


class PlacePipeline:
    """Places orders (see the module docstring). Dependencies are the narrow pieces it uses."""

    def __init__(
        self,
        *,
        store: CommandStore,
        outbox: Outbox,
        transport: OrderTransport,
        signer: ParadexRest,
        book: ExposureBook,
        venue: VenueView,
        budget: Budget,
        watch: OrderWatch,
        metrics: Metrics,
        waits: Waits,
        context: Callable[[Strategy], placing.Context] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.outbox, self.transport, self.signer = store, outbox, transport, signer
        self.book, self.venue, self.budget, self.watch = book, venue, budget, watch
        self.metrics, self.waits, self.clock = metrics, waits, clock
        self.inflight = Inflight()
        self.tasks = Tasks()
        self._context = context or self.default_context

    def default_context(self, strategy: Strategy) -> placing.Context:
        """What the static rules read now."""
        return placing.Context(
            markets=self.venue.markets,
            system_status=self.venue.system_status,
            prices=self.book.exposure.prices,
            now_ms=int(time.time() * 1000),
        )

    # ------------------------------------------------------------------ entry points

    async def place_one(self, strategy: Strategy, req: PlaceOrder) -> Answer:
        """``POST /v1/orders``."""
        return (await self.place(strategy, [req], req.wait))[0]

    async def place_batch(self, strategy: Strategy, orders: Sequence[PlaceOrder], wait: str) -> Answer:
        """``POST /v1/orders/batch``: one result per item; 207 when their statuses differ."""
        out = await self.place(strategy, orders, wait)
        items = [
            BatchItem(
                http_status=a.status,
                reply=msgspec.Raw(encode_body(a.body)),
                replayed=answers.REPLAY_HEADER in a.headers,
            )
            for a in out
        ]
        seq = max((a.seq for a in out), default=0)
        headers = {answers.REPLAY_HEADER: "true"} if all(i.replayed for i in items) else {}
        return Answer(
            placing.batch_status([a.status for a in out]), BatchReply(seq=seq, results=items), headers, seq
        )

    async def place(self, strategy: Strategy, orders: Sequence[PlaceOrder], wait: str) -> list[Answer]:
        """The answer of each order, in order."""
        cids = [o.client_id or new_client_id(strategy.name) for o in orders]
        items, out = placing.plan(orders, cids, self._context(strategy))
        for a in out.values():
            self.metrics.refused.labels(_code(a)).inc()
        if items:
            out.update(await self._claimed(strategy, items, wait))
        return [out[i] for i in range(len(orders))]

    # ------------------------------------------------------------------ steps

    async def _claimed(self, strategy: Strategy, items: list[placing.Item], wait: str) -> dict[int, Answer]:
        out: dict[int, Answer] = {}
        claims = await self.store.claim(strategy.name, [it.client_id for it in items])
        won: list[placing.Item] = []
        replays: list[tuple[placing.Item, Record | None]] = []
        for it, claim in zip(items, claims, strict=True):
            if claim.won:
                won.append(it)
            elif claim.record is not None and claim.record.s != strategy.name:
                out[it.index] = placing.taken(it.client_id)
            else:
                replays.append((it, claim.record))
        for it in won:
            self.inflight.open(it.client_id)  # duplicates in this process wait on it from now on
        try:
            return await self._decided(strategy, won, replays, out, wait)
        except BaseException as exc:
            for it in won:
                self.inflight.fail(it.client_id, exc)
            raise

    async def _decided(
        self,
        strategy: Strategy,
        won: list[placing.Item],
        replays: list[tuple[placing.Item, Record | None]],
        out: dict[int, Answer],
        wait: str,
    ) -> dict[int, Answer]:
        send, refused = placing.within_limits(strategy, won, self.book.exposure)
        for a in refused.values():
            self.metrics.refused.labels(_code(a)).inc()
        release = [it for it in won if it.index in refused]
        chunks = placing.chunks(send)
        if chunks and (wait_s := await self.budget.take(len(chunks))) > 0:
            self.metrics.rate_limited.inc()
            limited = answers.rate_limited(wait_s)
            refused.update({it.index: limited for it in send})
            release += send
            send, chunks = [], []
        out.update(refused)
        await self.store.release([it.client_id for it in release])
        for it in release:
            self.inflight.resolve(it.client_id, answers.replayed(refused[it.index]))

        async def sent() -> dict[int, Answer]:
            return await self._send_all(strategy, send, chunks, wait) if send else {}

        replayed, fresh = await asyncio.gather(
            asyncio.gather(*(self._replay(strategy, it, rec, wait) for it, rec in replays)), sent()
        )
        out.update(fresh)
        for (it, _), answer in zip(replays, replayed, strict=True):
            out[it.index] = answer
        return out

    async def _send_all(
        self, strategy: Strategy, send: list[placing.Item], chunks: list[list[placing.Item]], wait: str
    ) -> dict[int, Answer]:
        now = self.clock()
        for it in send:
            self.book.add_inflight(it.live(strategy.name), now)
        recv_ns = time.time_ns()
        acks = asyncio.ensure_future(
            self.outbox.intents([events.submitted(strategy.name, it.intent, recv_ns) for it in send])
        )
        try:
            signed = {it.client_id: self._sign(it) for it in send}
        except Exception as exc:  # no signer / a value the signer refuses: nothing is sent
            log.exception("signing failed; %d orders not sent", len(send))
            await acks
            failed = NotSent(reason=f"signing failed: {exc}")
            await self.outbox.outcomes(
                [events.place_outcome(strategy.name, it.client_id, failed, time.time_ns()) for it in send]
            )
            answer = answers.error(500, "SIGNING_FAILED", "signer", f"the order could not be signed: {exc}")
            for it in send:
                self.book.drop_inflight(it.client_id)
                self.inflight.resolve(it.client_id, answers.replayed(answer))
            await self._release_quietly([it.client_id for it in send])
            return {it.index: answer for it in send}
        except BaseException:
            acks.cancel()
            for it in send:
                self.book.drop_inflight(it.client_id)
            raise
        seqs_list = await acks
        if seqs_list is None:
            await self.budget.refund(len(chunks))
            down = answers.unavailable(*answers.BUS_DOWN)
            for it in send:
                self.book.drop_inflight(it.client_id)
                self.inflight.resolve(it.client_id, answers.replayed(down))
            await self.store.release([it.client_id for it in send])
            return {it.index: down for it in send}
        seqs = {it.client_id: s for it, s in zip(send, seqs_list, strict=True)}
        # wait=ws (a single order): the waiter is registered BEFORE the venue request leaves
        waiter = self.watch.expect(send[0].client_id, ws_statuses(send[0].request)) if wait == "ws" else None
        tasks = [
            self.tasks.spawn(self._send(strategy, chunk, signed, seqs, waiter), "place-send")
            for chunk in chunks
        ]
        if wait == "none":
            return {it.index: answers.submitted(it.client_id, seqs[it.client_id]) for it in send}
        results: dict[str, Answer] = {}
        for part in await asyncio.gather(*(asyncio.shield(t) for t in tasks)):
            results.update(part)
        return {it.index: results[it.client_id] for it in send}

    def _sign(self, it: placing.Item) -> OrderRequest:
        r = it.request
        return self.signer.sign_order(
            market=r.market,
            side=r.side,
            type=r.type,
            size=r.size,
            price=r.price,
            instruction=r.instruction,
            client_id=it.client_id,
            flags=r.flags,
            trigger_price=r.trigger_price,
        )

    async def _send(
        self,
        strategy: Strategy,
        chunk: list[placing.Item],
        signed: dict[str, OrderRequest],
        seqs: dict[str, int],
        waiter: asyncio.Future[Order] | None,
    ) -> dict[str, Answer]:
        """One venue request; every item's outcome published, stored and handed to duplicates (an
        accepted ``wait=ws`` order's duplicates get the final answer after the wait instead)."""
        cids = [it.client_id for it in chunk]
        try:
            outcomes, _venue_ms = await self.transport.place([signed[c] for c in cids])
            keep = waiter is not None and isinstance(outcomes[0], Accepted)
            if waiter is not None and not keep:
                self.watch.forget(cids[0], waiter)
            results = await self._record(strategy, cids, outcomes, seqs, () if not keep else (cids[0],))
            if keep and waiter is not None:  # inside the task: finishes even if the caller went away
                results[cids[0]] = await self._wait_ws(strategy, chunk[0], results[cids[0]], waiter)
            return results
        except BaseException as exc:
            for c in cids:
                self.inflight.fail(c, exc)
            raise

    async def _record(
        self,
        strategy: Strategy,
        cids: list[str],
        outcomes: list[Outcome],
        seqs: dict[str, int],
        unresolved: Sequence[str],
    ) -> dict[str, Answer]:
        """Publish, store and hand out the outcome of each item (except ``unresolved`` ones, whose
        duplicates keep waiting for a final answer)."""
        recv_ns = time.time_ns()
        results: dict[str, Answer] = {}
        done: list[tuple[str, Answer, str]] = []
        unknown: list[str] = []
        not_sent: list[str] = []
        for cid, outcome in zip(cids, outcomes, strict=True):
            answer = answers.of_outcome(cid, outcome, seqs[cid])
            results[cid] = answer
            if isinstance(outcome, Accepted):
                self.metrics.accepted.inc()
                done.append((cid, answer, outcome.order.id))
            elif isinstance(outcome, Rejected):
                self.book.drop_inflight(cid)
                self.metrics.rejected.labels(outcome.code).inc()
                done.append((cid, answer, ""))
            elif isinstance(outcome, NotSent):
                self.book.drop_inflight(cid)
                self.metrics.not_sent.inc()
                not_sent.append(cid)
            else:
                assert isinstance(outcome, Unknown)
                self.metrics.unknown.inc()
                self.watch.unresolved[cid] = strategy.name
                done.append((cid, answer, ""))
                unknown.append(cid)
        publish = self.outbox.outcomes(
            [events.place_outcome(strategy.name, c, o, recv_ns) for c, o in zip(cids, outcomes, strict=True)]
        )
        try:
            await asyncio.gather(publish, self._store(strategy, done, not_sent))
        finally:
            for cid in cids:
                if cid not in unresolved:
                    self.inflight.resolve(cid, answers.replayed(results[cid]))
        if unknown:
            await self.outbox.lookup("unknown_command", client_ids=unknown)
        return results

    async def _release_quietly(self, cids: list[str]) -> None:
        try:
            await self.store.release(cids)
        except Exception as exc:
            log.error("claims of %s could not be released: %r", cids, exc)

    async def _store(
        self, strategy: Strategy, done: list[tuple[str, Answer, str]], not_sent: list[str]
    ) -> None:
        try:
            await self.store.finish(strategy.name, done)
        except Exception as exc:
            log.error("outcomes of %s could not be stored: %r", [c for c, _, _ in done], exc)
        if not_sent:
            await self._release_quietly(not_sent)

    # ------------------------------------------------------------------ duplicates and wait=ws

    async def _replay(self, strategy: Strategy, it: placing.Item, record: Record | None, wait: str) -> Answer:
        """The stored answer of a known client id (waiting for it while pending); if its claim was
        released meanwhile (never sent), the item is placed afresh."""
        self.metrics.duplicates.inc()
        cid = it.client_id
        fut = self.inflight.get(cid)
        if fut is not None:
            return await asyncio.shield(fut)
        if record is not None and record.st == "pending":
            age_s = time.time() - record.at / 1000
            record = await self.store.wait_done(cid, max(0.0, self.waits.pending_stale_s - age_s))
        if record is None:
            return (await self.place(strategy, [it.request], wait))[0]
        if record.st == "done":
            return record.answer()
        return answers.never_finished(cid)

    async def _wait_ws(
        self, strategy: Strategy, it: placing.Item, acked: Answer, waiter: asyncio.Future[Order]
    ) -> Answer:
        """``wait=ws``: the WebSocket's confirmation (200), or 202 ``pending`` after the timeout.
        The final answer is stored and handed to duplicates (a replay equals the first answer)."""
        cid = it.client_id
        if acked.status != 201:
            return acked
        final = acked
        try:
            timeout = min(
                self.waits.ws_max_s,
                self.waits.ws_default_s if it.request.timeout_s is None else max(0.0, it.request.timeout_s),
            )
            try:
                order: Order = await asyncio.wait_for(waiter, timeout)
                final = answers.confirmed(cid, order, acked.seq)
            except TimeoutError:
                self.watch.forget(cid, waiter)
                final = answers.wait_timed_out(acked)
            try:
                await self.store.finish(strategy.name, [(cid, final, _order_id(acked))])
            except Exception as exc:
                log.error("final answer of %s could not be stored: %r", cid, exc)
        finally:
            self.inflight.resolve(cid, answers.replayed(final))
        return final


def ws_statuses(req: PlaceOrder) -> frozenset[str]:
    """What ``wait=ws`` waits for: an IOC or MARKET order's outcome is its CLOSED update (the venue
    shows it OPEN for an instant first); any other order is confirmed by OPEN/UNTRIGGERED/CLOSED."""
    if req.instruction == "IOC" or req.type == "MARKET":
        return TERMINAL_ONLY
    return CONFIRMED


def _code(answer: Answer) -> str:
    return str(getattr(answer.body, "error", "") or answer.status)


def _order_id(answer: Answer) -> str:
    return str(getattr(answer.body, "order_id", ""))
