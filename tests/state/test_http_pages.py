"""GET /v1/orders and /v1/fills over HTTP: a default page, limit + cursor, 422s naming the rule,
and the client reading every page (its answers unchanged for callers that want everything)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.client import StateClient
from shared.client import state as client_state
from tests.state import builders as b
from tests.state.test_service_harness import T0, instance, order, order_ev, publish_all, settings_for

N = 250


async def test_orders_and_fills_come_in_pages_and_the_client_reads_them_all(
        nats_url: str, redis_url: str, js: Any, unique: str, monkeypatch: pytest.MonkeyPatch) -> None:
    account = f"acct{unique}"
    evs: list[Any] = [order_ev(order(f"{i:04d}", account=account, lua=T0 + i, market="ETH-USD-PERP" if i % 2
                                     else "BTC-USD-PERP")) for i in range(N)]
    evs += [b.fill_ev(b.fill(f"f{i:04d}", f"{i % 10:04d}", ts=T0 + i)) for i in range(N)]
    async with instance(settings_for(nats_url, redis_url, account)) as inst:
        seqs = await publish_all(js, account, evs)
        await inst.wait_seq(seqs[-1])
        first = (await inst.get("/v1/orders")).json()
        assert first["seq"] == seqs[-1] and len(first["value"]) == 100  # the default page
        assert [o["key"] for o in first["value"]] == [f"{i:04d}" for i in range(100)]
        keys: list[str] = []
        cursor = None
        while True:
            page = (await inst.get("/v1/orders", limit=64, **({"cursor": cursor} if cursor else {}))).json()
            keys += [o["key"] for o in page["value"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert keys == [f"{i:04d}" for i in range(N)]
        eth = (await inst.get("/v1/orders", market="ETH-USD-PERP", limit=1000)).json()
        assert len(eth["value"]) == N // 2 and eth["next_cursor"] is None
        fills = (await inst.get("/v1/fills", limit=10)).json()
        assert [f["fill"]["id"] for f in fills["value"]] == [f"f{i:04d}" for i in range(N - 10, N)]
        older = (await inst.get("/v1/fills", limit=10, cursor=fills["next_cursor"])).json()
        assert [f["fill"]["id"] for f in older["value"]] == [f"f{i:04d}" for i in range(N - 20, N - 10)]
        of_one = (await inst.get("/v1/fills", order_id="0003", limit=1000)).json()["value"]
        assert [f["fill"]["id"] for f in of_one] == [f"f{i:04d}" for i in range(3, N, 10)]

        for params, rule in (({"limit": 0}, "limit"), ({"limit": 1001}, "limit"),
                             ({"cursor": "garbage"}, "bad_cursor"),
                             ({"cursor": fills["next_cursor"]}, "bad_cursor")):
            r = await inst.get("/v1/orders", **params)
            assert r.status_code == 422, (params, r.text)
            assert rule in r.text
        assert (await inst.get("/v1/fills", cursor=first["next_cursor"])).status_code == 422

        monkeypatch.setattr(client_state, "PAGE_MAX", 64)  # the client reads several pages
        async with StateClient(str(inst.client.base_url)) as client:
            every = await client.orders()
            assert [o.key for o in every.value] == [f"{i:04d}" for i in range(N)] and every.seq == seqs[-1]
            assert len((await client.orders(market="BTC-USD-PERP")).value) == N // 2
            recent = await client.fills(limit=5)
            assert [f.fill.id for f in recent.value] == [f"f{i:04d}" for i in range(N - 5, N)]
            all_fills = await client.fills()
            assert [f.fill.id for f in all_fills.value] == [f"f{i:04d}" for i in range(N)]
            some = await client.fills(limit=150)
            assert [f.fill.id for f in some.value] == [f"f{i:04d}" for i in range(N - 150, N)]
            page = await client.orders_page(limit=3)
            assert len(page.value) == 3 and page.next_cursor is not None
