"""The place pipeline: one path for ``POST /v1/orders`` (a batch of one) and ``/v1/orders/batch``.

Steps (decisions in ``core.place``; this shell only moves data in and out):

1. static rules per item (pure) -> refused items answered 422/403;
2. ONE Redis script call (``store.CLAIM``) claims every remaining client id, takes the venue
   budget (one unit per venue request of up to 10 orders, shared by every replica) and the
   strategy's order rate, and reserves each won order; a known id replays its stored answer
   (waiting for it while in flight), another strategy's id is 409, an empty bucket is 429, a
   Redis that lost the records is 503 until they are rebuilt from the stream (``index``);
3. limits per item (pure: the exposure book in memory plus the reservations other requests or
   replicas made before these), refused items released (their budget given back);
4. CmdSubmitted per item, all acked by JetStream before the venue request leaves (an order never
   exists at the venue without its intent on the stream; bus down: 503, nothing sent), signing
   while the acks travel;
5. one venue request per chunk through the transport, each outcome classified (``core.outcome``);
   per item: the outcome event, the stored answer (queued in the backlog if Redis is down),
   duplicates resolved. Ambiguous items get one lookup request per chunk; not-sent items get
   CmdNotSent and their claims released.

Hot path of a single place (what ``added`` latency measures): decode -> static rules -> claim sent
-> sign while it travels -> claim answer (one Redis round trip) -> limits -> CmdSubmitted ->
JetStream ack -> venue request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import msgspec

from services.commands import audit
from services.commands.backlog import Backlog
from services.commands.core import answers, events
from services.commands.core import place as placing
from services.commands.core.exposure import ExposureBook
from services.commands.core.idempotency import Record
from services.commands.core.ids import new_client_id
from services.commands.core.messages import Answer, BatchItem, BatchReply, PlaceOrder, encode_body
from services.commands.core.outcome import Accepted, NotSent, Outcome, Rejected, Unknown
from services.commands.core.risk import LiveOrder
from services.commands.core.strategies import Strategy
from services.commands.index import IndexKeeper
from services.commands.inflight import Inflight, Tasks
from services.commands.metrics import Metrics, venue_code
from services.commands.outbox import Outbox
from services.commands.signproc import SignerProcess, Values, signed, unsigned
from services.commands.store import ClaimResult, CommandStore, IndexMissing, Rate, units
from services.commands.timing import TIMING
from services.commands.transport import OrderTransport
from services.commands.venue import VenueView
from services.commands.watch import CONFIRMED, TERMINAL_ONLY, OrderWatch
from shared.paradex.models.account import Order
from shared.paradex.models.requests import OrderRequest
from shared.paradex.rest import ParadexRest

log = logging.getLogger("commands.pipeline")
INFLIGHT_MAX_AGE_S = 30.0
Presigned = OrderRequest | tuple[OrderRequest, Values, "asyncio.Future[str] | None"]
"""An order signed ahead, or its body and values handed to the signer process."""


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
        watch: OrderWatch,
        metrics: Metrics,
        waits: Waits,
        index: IndexKeeper | None = None,
        backlog: Backlog | None = None,
        context: Callable[[Strategy], placing.Context] | None = None,
        clock: Callable[[], float] = time.monotonic,
        remote: SignerProcess | None = None,
    ) -> None:
        self.store, self.outbox, self.transport, self.signer = store, outbox, transport, signer
        self.remote = remote
        self.book, self.venue, self.watch = book, venue, watch
        self.metrics, self.waits, self.clock = metrics, waits, clock
        self.index = index
        self.backlog = backlog if backlog is not None else Backlog(store)
        self.inflight = Inflight()
        self.tasks = Tasks()
        #: client ids reserved by this process (accepted or unknown) until the state shows them
        self.reserved: set[str] = set()
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
        sent: set[int] = set()  # items that reached the transport: logged with their outcome there
        if items:
            try:
                out.update(await self._claimed(strategy, items, wait, sent))
            except Exception as exc:
                for it in items:
                    audit.failed({"op": "place", "strategy": strategy.name, "client_id": it.client_id}, exc)
                raise
        for i, req in enumerate(orders):
            if i not in sent:
                audit.place(strategy.name, cids[i], req, out[i])
        return [out[i] for i in range(len(orders))]

    # ------------------------------------------------------------------ steps

    async def _claimed(
        self, strategy: Strategy, items: list[placing.Item], wait: str, sent: set[int]
    ) -> dict[int, Answer]:
        out: dict[int, Answer] = {}
        rate = strategy_rate(strategy)
        remote = self._handed(items)  # the child signs while the claim and the intent travel
        claim_call = self.store.claim(
            strategy.name,
            [it.live(strategy.name) for it in items],
            rate,
            placing.reservation_markets(strategy, items),
        )
        if remote is not None:  # the child signs: nothing to do here meanwhile, no task needed
            signed: dict[str, Presigned] = remote
            claiming: Awaitable[ClaimResult] = claim_call
        else:  # the claim leaves for Redis in a task of its own (its write takes a loop turn);
            claiming = asyncio.ensure_future(claim_call)  # the orders are signed here while it travels
            await asyncio.sleep(0)
            signed = self._presign(items)
        try:
            result = await claiming
        except IndexMissing:
            if self.index is not None:
                self.index.missing()
            self.metrics.index_missing.inc()
            busy = answers.unavailable(
                "IDEMPOTENCY_INDEX_REBUILDING",
                "idempotency_index",
                "Redis lost the idempotency records; they are being rebuilt from the "
                "ACCOUNT stream: nothing was sent, retry with the same client_id",
            )
            return {it.index: busy for it in items}
        if result.wait_s > 0:
            self.metrics.rate_limited.inc()
            what = (
                "venue order-write budget (shared by every replica)"
                if result.rule == "rate_limit"
                else f"strategy {strategy.name}'s max_order_rate"
            )
            limited = answers.rate_limited(result.wait_s, result.rule, what)
            return {it.index: limited for it in items}
        won: list[placing.Item] = []
        replays: list[tuple[placing.Item, Record | None]] = []
        for it, claim in zip(items, result.claims, strict=True):
            if claim.won:
                won.append(it)
            elif claim.record is not None and claim.record.s != strategy.name:
                out[it.index] = placing.taken(it.client_id)
            else:
                replays.append((it, claim.record))
        for it in won:
            self.inflight.open(it.client_id)  # duplicates in this process wait on it from now on
        try:
            return await self._decided(strategy, won, replays, out, wait, result.reserved, signed, sent)
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
        reserved: Sequence[LiveOrder],
        signed: dict[str, Presigned],
        sent: set[int],
    ) -> dict[int, Answer]:
        send, refused = placing.within_limits(strategy, won, self.book.exposure, reserved)
        for a in refused.values():
            self.metrics.refused.labels(_code(a)).inc()
        release = [it for it in won if it.index in refused]
        chunks = placing.chunks(send)
        out.update(refused)
        if release:
            await self.store.release(
                [it.client_id for it in release],
                units=units(len(won)) - len(chunks),
                orders=len(release),
                strategy=strategy.name,
                rate=strategy_rate(strategy),
            )
        for it in release:
            self.inflight.resolve(it.client_id, answers.replayed(refused[it.index]))

        async def fresh_answers() -> dict[int, Answer]:
            return await self._send_all(strategy, send, chunks, wait, signed, sent) if send else {}

        replayed, fresh = await asyncio.gather(
            asyncio.gather(*(self._replay(strategy, it, rec, wait) for it, rec in replays)), fresh_answers()
        )
        out.update(fresh)
        for (it, _), answer in zip(replays, replayed, strict=True):
            out[it.index] = answer
        return out

    async def _send_all(
        self,
        strategy: Strategy,
        send: list[placing.Item],
        chunks: list[list[placing.Item]],
        wait: str,
        presigned: dict[str, Presigned],
        sent: set[int],
    ) -> dict[int, Answer]:
        now = self.clock()
        for it in send:
            self.book.add_inflight(it.live(strategy.name), now)
        recv_ns = time.time_ns()
        acks = asyncio.ensure_future(
            self.outbox.intents([events.submitted(strategy.name, it.intent, recv_ns) for it in send])
        )
        try:
            signed = {it.client_id: await self._signed(it, presigned.get(it.client_id)) for it in send}
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
            await self._release_quietly(
                [it.client_id for it in send], units=len(chunks), orders=len(send), strategy=strategy
            )
            return {it.index: answer for it in send}
        except BaseException:
            acks.cancel()
            for it in send:
                self.book.drop_inflight(it.client_id)
            raise
        seqs_list = await acks
        if seqs_list is None:
            down = answers.unavailable(*answers.BUS_DOWN)
            for it in send:
                self.book.drop_inflight(it.client_id)
                self.inflight.resolve(it.client_id, answers.replayed(down))
            await self._release_quietly(
                [it.client_id for it in send], units=len(chunks), orders=len(send), strategy=strategy
            )
            return {it.index: down for it in send}
        seqs = {it.client_id: s for it, s in zip(send, seqs_list, strict=True)}
        sent.update(it.index for it in send)
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

    def _handed(self, items: list[placing.Item]) -> dict[str, Presigned] | None:
        """The orders handed to the signer process (None when it is not there); a body that
        cannot be built is left to the inline path, which meets the same error."""
        if self.remote is None or not self.remote.ready:
            return None
        out: dict[str, Presigned] = {}
        for it in items:
            r = it.request
            try:
                body, values = unsigned(
                    market=r.market,
                    side=r.side,
                    type=r.type,
                    size=r.size,
                    price=r.price,
                    now_ms=self.signer.now_ms(),
                    instruction=r.instruction,
                    client_id=it.client_id,
                    flags=r.flags,
                    trigger_price=r.trigger_price,
                    stp=r.stp,
                )
            except Exception:
                continue
            out[it.client_id] = (body, values, self.remote.submit(values))
        return out

    async def _signed(self, it: placing.Item, pre: Presigned | None) -> OrderRequest:
        """The signed order: signed ahead, by the signer process, or here now."""
        if isinstance(pre, OrderRequest):
            return pre
        if pre is None or self.remote is None:
            return self._sign(it)
        body, values, fut = pre
        return signed(body, await self.remote.sign(values, fut))

    def _presign(self, items: list[placing.Item]) -> dict[str, Presigned]:
        """Sign ahead (overlapping the claim's round trip); a failure is handled when sending."""
        try:
            return {it.client_id: self._sign(it) for it in items}
        except Exception:
            return {}

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
            stp=r.stp,
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
            outcomes, venue_ms = await self.transport.place([signed[c] for c in cids])
            timing = TIMING.get()
            if timing is not None and timing.venue_s is None:
                timing.venue_s = venue_ms / 1000
            keep = waiter is not None and isinstance(outcomes[0], Accepted)
            if waiter is not None and not keep:
                self.watch.forget(cids[0], waiter)
            results = await self._record(strategy, cids, outcomes, seqs, () if not keep else (cids[0],))
            if keep and waiter is not None:  # inside the task: finishes even if the caller went away
                results[cids[0]] = await self._wait_ws(strategy, chunk[0], results[cids[0]], waiter)
            for it in chunk:
                audit.place(strategy.name, it.client_id, it.request, results[it.client_id], venue_ms)
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
        gone: list[str] = []  # refused: its reservation goes now
        for cid, outcome in zip(cids, outcomes, strict=True):
            answer = answers.of_outcome(cid, outcome, seqs[cid])
            results[cid] = answer
            if isinstance(outcome, Accepted):
                self.metrics.accepted.inc()
                done.append((cid, answer, outcome.order.id))
            elif isinstance(outcome, Rejected):
                self.book.drop_inflight(cid)
                gone.append(cid)
                self.metrics.rejected.labels(venue_code(outcome.code)).inc()
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
            await asyncio.gather(publish, self._store(strategy, done, not_sent, gone))
        finally:
            for cid in cids:
                if cid not in unresolved:
                    self.inflight.resolve(cid, answers.replayed(results[cid]))
        if unknown:
            await self.outbox.lookup("unknown_command", client_ids=unknown)
        return results

    async def _release_quietly(
        self, cids: list[str], *, units: int = 0, orders: int = 0, strategy: Strategy | None = None
    ) -> None:
        """Release claims (and give back budget); a Redis failure queues the release."""
        try:
            await self.store.release(
                cids,
                units=units,
                orders=orders,
                strategy=strategy.name if strategy else "",
                rate=strategy_rate(strategy) if strategy else None,
            )
        except Exception as exc:
            log.error("claims of %s could not be released now (queued): %r", cids, exc)
            self.backlog.release(cids)

    async def _store(
        self, strategy: Strategy, done: list[tuple[str, Answer, str]], not_sent: list[str], gone: list[str]
    ) -> None:
        """Store the outcomes (queued in the backlog when Redis does not answer)."""
        try:
            await self.store.finish(strategy.name, done)
        except Exception as exc:
            log.error("outcomes of %s could not be stored now (queued): %r", [c for c, _, _ in done], exc)
            self.backlog.finish(strategy.name, done)
        if not_sent:  # nothing reached the venue: one venue unit back per request
            await self._release_quietly(not_sent, units=1, orders=len(not_sent), strategy=strategy)
        if gone:
            await self._unreserve(gone)
        self.reserved.update(c for c, _, _ in done if c not in gone)

    async def _unreserve(self, cids: list[str]) -> None:
        try:
            await self.store.unreserve(cids)
        except Exception as exc:  # they expire after COMMANDS_RESERVATION_S anyway
            log.warning("reservations of %s not dropped: %r", cids, exc)

    async def close(self) -> None:
        """On shutdown: this process's reservations stop counting (a crash leaves them to expire;
        a restarted process gets a new token and never counts its predecessor's twice)."""
        mine = sorted(self.reserved | set(self.book.inflight))
        self.reserved.clear()
        await self._unreserve(mine)

    async def absorb(self) -> None:
        """Reservations of orders the state now shows (or that stopped being in flight) are
        absorbed: they expire shortly on the other replicas, whose views may lag ours (called
        after each batch of change-stream entries)."""
        shown = [c for c in self.reserved if c not in self.book.inflight]
        if shown:
            self.reserved.difference_update(shown)
            try:
                await self.store.absorb(shown)
            except Exception as exc:  # they expire after COMMANDS_RESERVATION_S anyway
                log.warning("reservations of %s not absorbed: %r", shown, exc)

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
                async with asyncio.timeout(timeout):  # (wait_for: a loop turn more on 3.11)
                    order: Order = await waiter
                final = answers.confirmed(cid, order, acked.seq)
            except TimeoutError:
                self.watch.forget(cid, waiter)
                final = answers.wait_timed_out(acked)
            try:
                await self.store.finish(strategy.name, [(cid, final, _order_id(acked))])
            except Exception as exc:
                log.error("final answer of %s could not be stored now (queued): %r", cid, exc)
                self.backlog.finish(strategy.name, [(cid, final, _order_id(acked))])
        finally:
            self.inflight.resolve(cid, answers.replayed(final))
        return final


def ws_statuses(req: PlaceOrder) -> frozenset[str]:
    """What ``wait=ws`` waits for: an IOC or MARKET order's outcome is its CLOSED update (the venue
    shows it OPEN for an instant first); any other order is confirmed by OPEN/UNTRIGGERED/CLOSED."""
    if req.instruction == "IOC" or req.type == "MARKET":
        return TERMINAL_ONLY
    return CONFIRMED


def strategy_rate(strategy: Strategy) -> Rate | None:
    """The strategy's order-rate bucket (None: no limit of ours)."""
    if strategy.max_order_rate is None:
        return None
    burst = strategy.max_order_burst or max(1.0, strategy.max_order_rate)
    return Rate(float(strategy.max_order_rate), float(burst))


def _code(answer: Answer) -> str:
    return str(getattr(answer.body, "error", "") or answer.status)


def _order_id(answer: Answer) -> str:
    return str(getattr(answer.body, "order_id", ""))
