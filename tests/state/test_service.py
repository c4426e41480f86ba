"""The state service end to end on real NATS JetStream + Redis: consume, fold, serve, recover."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from services.state.core import StateConfig, StateCore
from shared.bus import TradebustEvent, ensure_streams
from shared.bus.events import FillEvent
from shared.bus.requests import decode_request
from shared.bus.subjects import RECONCILE_REQUEST, account_subject, dlq_subject
from shared.paradex.models.account import Fill, Tradebust
from tests.state.test_service_harness import (
    T0,
    instance,
    order,
    order_ev,
    publish_all,
    settings_for,
    wait_for,
)


def _acct(unique: str) -> str:
    return f"acct{unique}"


async def _collect(nc: Any, subject: str) -> tuple[list[Any], Any]:
    got: list[Any] = []

    async def cb(msg: Any) -> None:
        got.append(msg)

    sub = await nc.subscribe(subject, cb=cb)
    await nc.flush()
    return got, sub


async def test_order_events_are_visible_over_http_in_redis_and_on_the_change_stream(
        nats_url: str, redis_url: str, js: Any, redis_client: Any, unique: str) -> None:
    account = _acct(unique)
    async with instance(settings_for(nats_url, redis_url, account)) as inst:
        seqs = await publish_all(js, account, [
            order_ev(order("1", account=account, seq=1)),
            order_ev(order("2", account=account, seq=1, market="ETH-USD-PERP")),
            order_ev(order("1", account=account, seq=2, status="CLOSED", remaining="0")),
        ])
        await inst.wait_seq(seqs[-1])
        r = await inst.get("/v1/orders")
        assert r.status_code == 200
        assert int(r.headers["X-Stream-Seq"]) == seqs[-1]
        body = r.json()
        assert body["seq"] == seqs[-1]
        assert [(o["id"], o["status"]) for o in body["value"]] == [("1", "CLOSED"), ("2", "OPEN")]
        one = (await inst.get("/v1/orders/1")).json()
        redis_one = msgspec.json.decode(await redis_client.get(f"pdx:{account}:order:1"))
        assert redis_one["value"] == one["value"]
        assert redis_one["seq"] == seqs[-1]
        index = await redis_client.hgetall(f"pdx:{account}:orders")
        assert index == {b"1": b"CLOSED", b"2": b"OPEN"}
        entries = await redis_client.xrange(f"pdx:{account}:changes")
        orders = [e for _, e in entries if e[b"kind"] == b"order"]
        assert (entries[0][1][b"kind"], entries[0][1][b"key"]) == (b"feed", b"private")  # first ws epoch
        assert [(e[b"kind"], e[b"key"], int(e[b"seq"])) for e in orders] == [
            (b"order", b"1", seqs[0]), (b"order", b"2", seqs[1]), (b"order", b"1", seqs[2])]
        last_value = msgspec.json.decode(entries[-1][1][b"value"])
        assert last_value == one["value"]


async def test_restart_from_checkpoint_replays_only_the_rest_and_ends_in_the_full_replay_state(
        nats_url: str, redis_url: str, js: Any, unique: str) -> None:
    account = _acct(unique)
    await ensure_streams(js)
    first = [order_ev(order(str(i), account=account, seq=1)) for i in range(20)]
    second = [order_ev(order(str(i), account=account, seq=2, status="CLOSED", remaining="0"))
              for i in range(0, 20, 2)] + [order_ev(order("x", account=account, seq=1))]
    settings = settings_for(nats_url, redis_url, account, checkpoint_every_events=5)
    async with instance(settings) as inst:
        seqs1 = await publish_all(js, account, first)
        await inst.wait_seq(seqs1[-1])
    seqs2 = await publish_all(js, account, second)  # published while the service is down
    async with instance(settings) as inst:
        assert inst.service.restored_seq == seqs1[-1]
        await inst.wait_seq(seqs2[-1])
        assert inst.service.consumer is not None
        assert inst.service.consumer.delivered == len(second)
        restarted = inst.service.core.dump()
    fresh = StateCore(StateConfig(grace_ms=settings.grace_ms, max_trades=settings.max_trades))
    for seq, ev in zip(seqs1 + seqs2, first + second, strict=True):
        fresh.apply(seq, ev)
    assert restarted == fresh.dump()


async def test_no_checkpoint_replays_the_whole_stream_and_asks_for_a_startup_reconciliation(
        nats_url: str, redis_url: str, js: Any, nc: Any, unique: str) -> None:
    account = _acct(unique)
    await ensure_streams(js)
    seqs = await publish_all(js, account, [order_ev(order(str(i), account=account)) for i in range(5)])
    got, sub = await _collect(nc, RECONCILE_REQUEST)
    async with instance(settings_for(nats_url, redis_url, account)) as inst:
        await inst.wait_seq(seqs[-1])
        assert inst.service.restored_seq is None
        assert len((await inst.get("/v1/orders")).json()["value"]) == 5
        await wait_for(lambda: _has(got, "state_startup"), 5, "startup reconcile request")
    await sub.unsubscribe()


async def _has(msgs: list[Any], reason: str) -> bool:
    return any(decode_request(m.data).reason == reason for m in msgs)


async def test_malformed_message_goes_to_the_dlq_is_counted_and_the_consumer_keeps_going(
        nats_url: str, redis_url: str, js: Any, nc: Any, unique: str) -> None:
    account = _acct(unique)
    dead, sub = await _collect(nc, dlq_subject("state"))
    async with instance(settings_for(nats_url, redis_url, account)) as inst:
        bad = await js.publish(account_subject(account, "orders"), b'{"kind":"order","nonsense":1}')
        worse = await js.publish(account_subject(account, "orders"), b"\x00not json")
        seqs = await publish_all(js, account, [order_ev(order("9", account=account))])
        await inst.wait_seq(seqs[-1])
        assert (await inst.get("/v1/orders/9")).status_code == 200
        await wait_for(lambda: _count(dead, account, 2), 5, "two dead letters")
        mine = [m for m in dead if account in m.headers["Pdx-Original-Subject"]]
        assert sorted(int(m.headers["Pdx-Original-Seq"]) for m in mine) == [bad.seq, worse.seq]
        assert mine[-1].data == b"\x00not json"
        assert inst.service.dlq_count == 2
        metrics = (await inst.get("/metrics")).text
        assert "state_dlq_total 2" in metrics
    await sub.unsubscribe()


async def _count(msgs: list[Any], account: str, n: int) -> bool:
    return sum(1 for m in msgs if account in m.headers["Pdx-Original-Subject"]) >= n


async def test_tradebust_marks_the_fill_busted_and_sends_a_reconcile_request(
        nats_url: str, redis_url: str, js: Any, nc: Any, unique: str) -> None:
    account = _acct(unique)
    got, sub = await _collect(nc, RECONCILE_REQUEST)
    z = Decimal(0)
    f = Fill(id=f"f{unique}", side="BUY", liquidity="TAKER", market="BTC-USD-PERP", order_id="1",
             price=Decimal(100), size=Decimal(1), fee=z, fee_currency="USDC", created_at=T0,
             remaining_size=z, client_id="", fill_type="FILL", realized_pnl=z, realized_funding=z,
             account=account, underlying_price=z, flags=[])
    async with instance(settings_for(nats_url, redis_url, account)) as inst:
        seqs = await publish_all(js, account, [
            FillEvent(source="ws", venue_ts_ms=T0, recv_ns=T0 * 1_000_000, conn_epoch=1, fill=f),
            TradebustEvent(source="ws", venue_ts_ms=T0 + 1, recv_ns=(T0 + 1) * 1_000_000, conn_epoch=1,
                           tradebust=Tradebust(account=account, busted_fill_id=f.id, created_at=T0 + 1)),
        ])
        await inst.wait_seq(seqs[-1])
        fills = (await inst.get("/v1/fills")).json()["value"]
        assert fills[0]["busted"] is True
        await wait_for(lambda: _has(got, "tradebust"), 5, "tradebust reconcile request")
    await sub.unsubscribe()


async def test_sigterm_style_stop_writes_a_final_checkpoint(
        nats_url: str, redis_url: str, js: Any, redis_client: Any, unique: str) -> None:
    account = _acct(unique)
    settings = settings_for(nats_url, redis_url, account, checkpoint_every_events=10_000,
                            checkpoint_interval_s=3600)
    key = f"pdx:{account}:ckpt:{settings.replica}"
    async with instance(settings) as inst:
        seqs = await publish_all(js, account, [order_ev(order("1", account=account))])
        await inst.wait_seq(seqs[-1])
        assert await redis_client.hget(key, "seq") is None
    assert int(await redis_client.hget(key, "seq")) == seqs[-1]
    assert int(await redis_client.hget(f"pdx:{account}:ckpts", settings.replica)) == seqs[-1]
