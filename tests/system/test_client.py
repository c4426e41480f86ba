"""shared.client against the full in-process system (real NATS, Redis, simulator, all services)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from shared.client import (
    STATUS_RANK,
    ChangeStream,
    CommandResult,
    Forbidden,
    InvalidRequest,
    NotFound,
    OrderView,
    PlaceOrder,
    ServiceUnreachable,
    StateClient,
    Unauthorized,
    Unavailable,
)
from shared.client.commands import CommandsClient
from tests.system.harness import M, full_system, wait_until


async def test_client_places_queries_streams_and_cancels_against_the_full_system(
        nats_url: str, redis_url: str) -> None:
    async with full_system(nats_url, redis_url) as s:
        state, cmd = s.state_client(), s.commands_client()
        bbo = (await state.bbo(M)).value
        assert bbo.valid and bbo.bid is not None and bbo.ask is not None and bbo.mid is not None
        book = (await state.book(M, depth=3)).value
        assert book.valid and 0 < len(book.bids) <= 3 and book.bids[0][0] == bbo.bid

        sse: list[OrderView] = []
        sse_ready = asyncio.Event()

        async def read_sse() -> None:
            async for ch in state.events(kinds=["order"]):
                sse_ready.set()
                o = ch.decode(OrderView)
                if o is not None:  # None: the provisional client:<cid> key deleted once linked
                    sse.append(o)

        sse_task = asyncio.create_task(read_sse())
        stream = ChangeStream(s.redis, s.account, group="g-test", consumer="c1", kinds=["order"],
                              block_ms=100)
        await stream.ensure_group()

        price = (bbo.bid - Decimal(500)).quantize(Decimal(1))
        placed = await cmd.place(M, "BUY", Decimal("0.01"), price, client_id="cli-1", wait="ws")
        assert placed.status == "open" and placed.order_id and placed.client_id == "cli-1"
        again = await cmd.place(M, "BUY", Decimal("0.01"), price, client_id="cli-1", wait="ws")
        assert again.replayed and again.order_id == placed.order_id

        by_id = (await state.order(placed.order_id)).value
        assert by_id.client_id == "cli-1" and by_id.status == "OPEN" and by_id.price == price
        assert (await state.order_by_client_id("cli-1")).value.id == placed.order_id
        listed = (await state.orders(status=["OPEN"], market=M)).value
        assert [o.client_id for o in listed] == ["cli-1"]
        assert await state.find_order("nope") is None
        with pytest.raises(NotFound) as nf:
            await state.order("999999999")
        assert nf.value.status == 404 and nf.value.error == "not_found"

        cancelled = await cmd.cancel(placed.order_id)
        assert cancelled.status == "cancel_requested"
        await wait_until(lambda: _status(state, "cli-1", "CLOSED"), 5.0, "cli-1 CLOSED in state")

        # the Redis change stream (consumer group) saw the order go through its statuses in order
        got: list[OrderView] = []
        async for ch in stream:
            o = ch.decode(OrderView)
            assert ch.kind == "order"
            assert await stream.ack(ch) == 1
            if o is None:
                assert ch.key == "client:cli-1"
                continue
            got.append(o)
            if o.status == "CLOSED":
                stream.close()
        ranks = [STATUS_RANK[o.status] for o in got]
        assert ranks == sorted(ranks) and got[0].status == "PENDING_NEW"

        await wait_until(lambda: _true(any(o.status == "CLOSED" for o in sse)), 5.0, "SSE CLOSED")
        assert sse_ready.is_set() and sse[0].client_id == "cli-1"
        sse_task.cancel()

        # typed errors carry status / rule / message
        with pytest.raises(InvalidRequest) as bad:
            await cmd.place(M, "BUY", Decimal("0.01"), Decimal("0.5"))
        assert bad.value.status == 422 and bad.value.rule
        with pytest.raises(Forbidden) as forb:
            await cmd.place("ETH-USD-PERP", "BUY", Decimal("0.01"), Decimal("1000"))
        assert forb.value.status == 403 and forb.value.rule == "allowed_markets"
        async with CommandsClient(s.commands_url, "wrong-token") as bad_cmd:
            with pytest.raises(Unauthorized) as un:
                await bad_cmd.place(M, "BUY", Decimal("0.01"), price)
        assert un.value.rule == "bearer_token"

        batch = await cmd.place_batch([PlaceOrder(market=M, side="SELL", size=Decimal("0.01"),
                                                  price=bbo.ask + 500, client_id="b-1"),
                                       PlaceOrder(market="ETH-USD-PERP", side="SELL", size=Decimal("0.01"),
                                                  price=Decimal("9000"), client_id="b-2")])
        assert not isinstance(batch[0], Exception) and batch[0].status == "accepted"
        assert isinstance(batch[1], Forbidden)
        await wait_until(lambda: _status(state, "b-1", "OPEN"), 5.0, "b-1 OPEN")
        all_cancel = await cmd.cancel_all(M)
        assert all_cancel.http_status in (200, 202)
        await wait_until(lambda: _status(state, "b-1", "CLOSED"), 5.0, "b-1 CLOSED after cancel-all")
        assert (await state.health()).value.ok
        assert (await state.balances()).value and (await state.account()).value.summary.account


async def test_unreachable_service_raises_service_unreachable() -> None:
    async with StateClient("http://127.0.0.1:9") as state:
        with pytest.raises(ServiceUnreachable):
            await state.orders()


async def _status(state: StateClient, cid: str, status: str) -> bool:
    o = await state.find_order(cid)
    return o is not None and o.status == status


async def _true(v: bool) -> bool:
    return v


async def test_read_your_writes_every_read_with_the_commands_seq_sees_the_command(
        nats_url: str, redis_url: str) -> None:
    async with full_system(nats_url, redis_url) as s:
        state, cmd = s.state_client(), s.commands_client()
        bid = (await state.bbo(M)).value.bid
        assert bid is not None
        price = (bid - Decimal(500)).quantize(Decimal(1))
        placed: list[CommandResult] = []
        for i in range(5):  # read right after each call: no sleep, no retry
            r = await cmd.place(M, "BUY", Decimal("0.001"), price, client_id=f"ryw-{i}",
                                wait="none" if i % 2 else "ack")
            assert r.seq > 0 and all(r.seq > p.seq for p in placed)
            o = (await state.order_by_client_id(r.client_id, min_seq=r.seq)).value
            assert o.client_id == f"ryw-{i}" and o.status in STATUS_RANK
            assert (await state.order_of(r)).value.client_id == r.client_id
            mine = (await state.orders(client_id=r.client_id, min_seq=r.seq)).value
            assert [x.client_id for x in mine] == [r.client_id]
            placed.append(r)
        c = await cmd.cancel_by_client_id("ryw-0")
        assert c.seq > placed[-1].seq
        o = (await state.order_by_client_id("ryw-0", min_seq=c.seq)).value
        assert STATUS_RANK[o.status] >= STATUS_RANK["PENDING_CANCEL"]
        with pytest.raises(Unavailable) as exc:
            await state.orders(min_seq=c.seq + 10**9, min_seq_timeout_ms=50)
        assert exc.value.error == "SEQ_NOT_REACHED" and exc.value.seq >= c.seq
        await cmd.cancel_all(M)
