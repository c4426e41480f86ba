"""Venue market specs in the state: folded from MarketsEvent (changes only for what changed,
deletions for delisted markets, stale lists dropped), checkpointed, served on /v1/markets and
written to Redis."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from services.state.core import StateCore
from shared.bus import MarketsEvent, MarketSpec
from shared.rediskeys import Keys
from tests.state.test_service_harness import instance, publish_all, settings_for

D = Decimal


def spec(symbol: str, tick: str = "0.1", status: str = "open") -> MarketSpec:
    return MarketSpec(symbol=symbol, status=status, price_tick_size=D(tick), order_size_increment=D("0.001"),
                      min_notional=D("10"), max_order_size=D("100"))


def ev(*specs: MarketSpec, ts: int, complete: bool = True) -> MarketsEvent:
    return MarketsEvent(source="rest", venue_ts_ms=ts, markets=specs, complete=complete)


def test_specs_fold_reports_only_what_changed_and_deletes_delisted_markets() -> None:
    core = StateCore()
    res = core.apply(1, ev(spec("BTC"), spec("ETH"), ts=100))
    assert [(c.kind, c.key) for c in res.changes] == [("market_spec", "BTC"), ("market_spec", "ETH")]
    res = core.apply(2, ev(spec("BTC"), spec("ETH", tick="0.01"), spec("SOL"), ts=200))
    assert [(c.key, c.value is None) for c in res.changes] == [("ETH", False), ("SOL", False)]
    res = core.apply(3, ev(spec("BTC"), spec("SOL", status="expired"), ts=300))
    assert [(c.key, c.value) for c in res.changes] == [("ETH", None), ("SOL", spec("SOL", status="expired"))]
    res = core.apply(4, ev(spec("BTC", tick="1"), ts=250))  # older by the venue's clock: dropped
    assert res.changes == [] and res.dropped == "stale"
    res = core.apply(5, ev(spec("DOGE"), ts=400, complete=False))  # partial: adds, deletes nothing
    assert [c.key for c in res.changes] == ["DOGE"]
    assert [s.symbol for s in core.list_market_specs().value] == ["BTC", "DOGE", "SOL"]
    assert [s.symbol for s in core.list_market_specs("expired").value] == ["SOL"]
    assert core.get_market_spec("ETH").value is None
    restored = StateCore.load(core.dump())
    assert restored.dump() == core.dump()
    assert restored.list_market_specs().value == core.list_market_specs().value
    assert restored.apply(6, ev(spec("BTC", tick="1"), ts=350)).dropped == "stale"  # as_of kept


async def test_markets_are_served_over_http_and_written_to_redis(
        nats_url: str, redis_url: str, js: Any, redis_client: Any, unique: str) -> None:
    account = f"acct{unique}"
    keys = Keys(account)
    async with instance(settings_for(nats_url, redis_url, account)) as inst:
        none = await inst.get("/v1/markets/BTC")
        assert none.status_code == 404 and "no market specs received yet" in none.json()["reason"]
        seqs = await publish_all(js, account, [ev(spec("BTC"), spec("ETH", status="pre_open"), ts=100)])
        await inst.wait_seq(seqs[-1])
        body = (await inst.get("/v1/markets")).json()
        assert body["seq"] == seqs[-1]
        want = [spec("BTC"), spec("ETH", status="pre_open")]
        assert body["value"] == [msgspec.to_builtins(s) for s in want]
        assert body["value"][0]["price_tick_size"] == "0.1" and body["value"][0]["min_notional"] == "10"
        pre = (await inst.get("/v1/markets", status="pre_open")).json()["value"]
        assert [m["symbol"] for m in pre] == ["ETH"]
        bad = await inst.get("/v1/markets", status="halted")
        assert bad.status_code == 422 and "open" in bad.json()["reason"]
        one = await inst.get("/v1/markets/BTC")
        assert one.status_code == 200 and one.json()["value"]["symbol"] == "BTC"
        missing = await inst.get("/v1/markets/NOPE")
        assert missing.status_code == 404 and "lists no market 'NOPE'" in missing.json()["reason"]
        assert await redis_client.smembers(keys.market_specs) == {b"BTC", b"ETH"}
        stored = msgspec.json.decode(await redis_client.get(keys.market_spec("BTC")))
        assert stored == {"seq": seqs[-1], "value": one.json()["value"]}
        seqs = await publish_all(js, account, [ev(spec("BTC"), ts=200)])  # ETH delisted
        await inst.wait_seq(seqs[-1])
        assert await redis_client.smembers(keys.market_specs) == {b"BTC"}
        assert await redis_client.exists(keys.market_spec("ETH")) == 0
