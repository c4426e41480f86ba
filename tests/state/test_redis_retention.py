"""Retention through the real service: evicted orders and fills leave Redis (keys and indexes)."""

from __future__ import annotations

from typing import Any

import msgspec

from tests.state import builders as b
from tests.state.test_service_harness import T0, instance, order, order_ev, publish_all, settings_for

R = 60_000


async def test_evicted_order_and_fill_keys_and_index_entries_are_removed_from_redis(
        nats_url: str, redis_url: str, js: Any, redis_client: Any, unique: str) -> None:
    account = f"acct{unique}"
    p = f"pdx:{account}"
    settings = settings_for(nats_url, redis_url, account, retention_ms=R, fill_retention_ms=R)
    async with instance(settings) as inst:
        seqs = await publish_all(js, account, [
            order_ev(order("1", account=account, seq=1)),
            order_ev(order("2", account=account, seq=1)),
            b.fill_ev(b.fill("f1", "1", ts=T0)),
            order_ev(order("1", account=account, seq=2, status="CLOSED", remaining="0")),
        ])
        await inst.wait_seq(seqs[-1])
        assert await redis_client.exists(f"{p}:order:1", f"{p}:fill:f1") == 2
        assert await redis_client.hget(f"{p}:orders", "1") == b"CLOSED"
        assert await redis_client.zscore(f"{p}:fills", "f1") is not None
        # the venue clock moves past the horizon: order 1 (closed) and f1 go, open order 2 stays
        seqs = await publish_all(js, account, [b.balance_rec("1", ts=T0 + R),
                                               order_ev(order("1", account=account, seq=3,
                                                              status="CLOSED", remaining="0"), "rest")])
        await inst.wait_seq(seqs[-1])
        assert await redis_client.exists(f"{p}:order:1", f"{p}:fill:f1") == 0
        assert await redis_client.hkeys(f"{p}:orders") == [b"2"]
        assert await redis_client.zrange(f"{p}:fills", 0, -1) == []
        assert (await inst.get("/v1/orders/1")).status_code == 404
        entries = await redis_client.xrange(f"{p}:changes")
        gone = [(e[b"kind"], e[b"key"]) for _, e in entries if msgspec.json.decode(e[b"value"]) is None]
        assert gone == [(b"order", b"1"), (b"fill", b"f1")]
        # the late REST record of the evicted order was suppressed, not resurrected
        assert inst.service.core.metrics()["evicted_order_suppressed"] == 1
