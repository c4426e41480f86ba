"""What a strategy reads in Redis equals what HTTP says; the change stream works with consumer groups."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from shared.bus import AccountEvent
from shared.paradex.models.account import Account
from tests.state import builders as b
from tests.state.test_service_harness import (
    T0,
    instance,
    order,
    order_ev,
    publish_all,
    settings_for,
    wait_for,
)

D = Decimal


def _account_event(account: str) -> AccountEvent:
    summary = Account(account=account, initial_margin_requirement=D(1), maintenance_margin_requirement=D(1),
                      account_value=D(1000), total_collateral=D(1000), free_collateral=D(999),
                      margin_cushion=D(999), settlement_asset="USDC", updated_at=T0, status="ACTIVE",
                      seq_no=1)
    return AccountEvent(source="ws", venue_ts_ms=T0, recv_ns=T0 * 1_000_000, conn_epoch=1, summary=summary)


async def _redis_value(redis: Any, key: str) -> Any:
    raw = await redis.get(key)
    assert raw is not None, key
    return msgspec.json.decode(raw)["value"]


async def test_redis_entities_equal_http_for_every_account_kind(
        nats_url: str, redis_url: str, js: Any, redis_client: Any, unique: str) -> None:
    account = f"acct{unique}"
    async with instance(settings_for(nats_url, redis_url, account, recent_fills_max=2)) as inst:
        seqs = await publish_all(js, account, [
            order_ev(order("1", account=account)),
            b.position_ev(b.position("BTC-USD-PERP", "2")),
            b.balance_rec("1000", ts=T0),
            _account_event(account),
            *(b.fill_ev(b.fill(f"f{i}", ts=T0 + i)) for i in (1, 2, 3)),
        ])
        await inst.wait_seq(seqs[-1])
        p = f"pdx:{account}"
        http = {path: (await inst.get(path)).json()["value"]
                for path in ("/v1/orders/1", "/v1/positions", "/v1/balances", "/v1/account", "/v1/fills")}
        assert await _redis_value(redis_client, f"{p}:order:1") == http["/v1/orders/1"]
        assert [await _redis_value(redis_client, f"{p}:position:{m.decode()}")
                for m in sorted(await redis_client.smembers(f"{p}:positions"))] == http["/v1/positions"]
        assert [await _redis_value(redis_client, f"{p}:balance:{t.decode()}")
                for t in sorted(await redis_client.smembers(f"{p}:balances"))] == http["/v1/balances"]
        assert await _redis_value(redis_client, f"{p}:account") == http["/v1/account"]
        recent = [f.decode() for f in await redis_client.zrange(f"{p}:fills", 0, -1)]
        assert recent == ["f2", "f3"]  # capped at recent_fills_max, oldest dropped
        assert [await _redis_value(redis_client, f"{p}:fill:{f}") for f in recent] == http["/v1/fills"][-2:]
        assert int(await redis_client.get(f"{p}:seq")) == seqs[-1]
        await wait_for(lambda: redis_client.exists(f"{p}:health"), 5, "health key")
        health = msgspec.json.decode(await redis_client.get(f"{p}:health"))
        assert health["value"]["account"]["applied_seq"] == seqs[-1]


async def test_change_stream_is_readable_with_a_consumer_group_in_order(
        nats_url: str, redis_url: str, js: Any, redis_client: Any, unique: str) -> None:
    account = f"acct{unique}"
    stream = f"pdx:{account}:changes"
    async with instance(settings_for(nats_url, redis_url, account)) as inst:
        seqs = await publish_all(js, account, [
            order_ev(order("1", account=account, seq=1)),
            order_ev(order("1", account=account, seq=2, status="CLOSED", remaining="0"))])
        await inst.wait_seq(seqs[-1])
        await redis_client.xgroup_create(stream, "strategy", id="0")
        got = await redis_client.xreadgroup("strategy", "s1", {stream: ">"}, count=100)
        entries = [e for _, e in got[0][1] if e[b"kind"] == b"order"]
        statuses = [msgspec.json.decode(e[b"value"])["status"] for e in entries]
        assert statuses == ["OPEN", "CLOSED"]
        assert [int(e[b"seq"]) for e in entries] == seqs
        final = (await inst.get("/v1/orders/1")).json()["value"]
        assert msgspec.json.decode(entries[-1][b"value"]) == final
        # Nothing is redelivered to the group once read (strategies XACK what they processed).
        assert await redis_client.xreadgroup("strategy", "s1", {stream: ">"}, count=100) == []
