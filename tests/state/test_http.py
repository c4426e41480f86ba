"""The state service's HTTP API on a real server: 404/422, SSE, metrics, books."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import msgspec

from shared.bus import BookEvent, BookGap, FeedStatus, encode_event, subject_for
from shared.paradex.models.market_data import BookLevel, BookUpdate
from tests.state.test_service_harness import (
    T0,
    instance,
    order,
    order_ev,
    publish_all,
    settings_for,
    wait_for,
)


def _book(market: str, seq: int, kind: str = "s", bids: tuple[str, ...] = ("99",),
          asks: tuple[str, ...] = ("101",)) -> BookEvent:
    levels = [BookLevel(side="BUY", price=Decimal(p), size=Decimal(1)) for p in bids]
    levels += [BookLevel(side="SELL", price=Decimal(p), size=Decimal(2)) for p in asks]
    return BookEvent(source="ws", venue_ts_ms=T0 + seq, recv_ns=(T0 + seq) * 1_000_000, book=BookUpdate(
        seq_no=seq, market=market, last_updated_at=T0 + seq, update_type=kind, inserts=levels,
        updates=[], deletes=[]))


async def test_unknown_ids_are_404_with_a_reason_and_bad_parameters_are_422(
        nats_url: str, redis_url: str, js: Any, unique: str) -> None:
    account = f"acct{unique}"
    async with instance(settings_for(nats_url, redis_url, account)) as inst:
        seqs = await publish_all(js, account, [order_ev(order("1", account=account))])
        await inst.wait_seq(seqs[-1])
        r = await inst.get("/v1/orders/nope")
        assert r.status_code == 404
        assert r.json()["reason"] == "no order with id 'nope'"
        assert r.headers["X-Stream-Seq"] == str(seqs[-1])
        assert (await inst.get("/v1/orders/by_client_id/nope")).status_code == 404
        assert (await inst.get("/v1/orders/by_client_id/c1")).json()["value"]["id"] == "1"
        assert (await inst.get(f"/v1/book/NONE-{unique}")).status_code == 404
        assert (await inst.get(f"/v1/bbo/NONE-{unique}")).status_code == 404
        bad = await inst.get("/v1/orders", status="OPEN,BOGUS")
        assert bad.status_code == 422
        assert "BOGUS" in bad.json()["reason"]
        assert (await inst.get("/v1/book/BTC-USD-PERP", depth="0")).status_code == 422
        assert (await inst.get("/v1/fills", limit="x")).status_code == 422


async def test_order_filters_accept_repeated_and_comma_separated_statuses(
        nats_url: str, redis_url: str, js: Any, unique: str) -> None:
    account = f"acct{unique}"
    async with instance(settings_for(nats_url, redis_url, account)) as inst:
        seqs = await publish_all(js, account, [
            order_ev(order("1", account=account)),
            order_ev(order("2", account=account, status="CLOSED", remaining="0")),
            order_ev(order("3", account=account, status="NEW", market="ETH-USD-PERP")),
        ])
        await inst.wait_seq(seqs[-1])

        async def ids(**params: Any) -> list[str]:
            r = await inst.client.get("/v1/orders", params=params)
            assert r.status_code == 200
            return [o["id"] for o in r.json()["value"]]

        assert await ids(status="OPEN,NEW") == ["1", "3"]
        assert await ids(status=["OPEN", "CLOSED"]) == ["1", "2"]
        assert await ids(market="ETH-USD-PERP") == ["3"]
        assert await ids(client_id="c2") == ["2"]
        assert await ids() == ["1", "2", "3"]


async def test_sse_stream_receives_state_changes_filtered_by_kind(
        nats_url: str, redis_url: str, js: Any, unique: str) -> None:
    account = f"acct{unique}"
    async with instance(settings_for(nats_url, redis_url, account)) as inst:
        received: list[dict[str, Any]] = []

        async def listen() -> None:
            async with inst.client.stream("GET", "/v1/events", params={"kinds": "order"}) as r:
                assert r.headers["content-type"].startswith("text/event-stream")
                async for line in r.aiter_lines():
                    if line.startswith("data: "):
                        received.append(msgspec.json.decode(line[6:]))
                        if len(received) == 2:
                            return

        task = asyncio.create_task(listen())
        await wait_for(lambda: _subscribed(inst), 5, "SSE subscriber")
        seqs = await publish_all(js, account, [order_ev(order("1", account=account)),
                                               order_ev(order("2", account=account))])
        await asyncio.wait_for(task, 5)
        assert [(e["kind"], e["key"], e["seq"]) for e in received] == [
            ("order", "1", seqs[0]), ("order", "2", seqs[1])]
        assert received[0]["value"]["status"] == "OPEN"


async def _subscribed(inst: Any) -> bool:
    return bool(inst.service.hub.subscribers)


async def test_metrics_expose_events_by_kind_and_source_and_consumer_lag(
        nats_url: str, redis_url: str, js: Any, unique: str) -> None:
    account = f"acct{unique}"
    async with instance(settings_for(nats_url, redis_url, account)) as inst:
        seqs = await publish_all(js, account, [
            FeedStatus(source="ws", venue_ts_ms=0, recv_ns=T0 * 1_000_000, conn_epoch=1, state="subscribed",
                       epoch=1),
            order_ev(order("1", account=account, seq=1)),
            order_ev(order("1", account=account, seq=2), source="rest"),  # equal: stale REST
        ])
        await inst.wait_seq(seqs[-1])

        async def acked() -> bool:  # the ack follows the Redis write by a moment
            return "state_consumer_lag 0" in (await inst.get("/metrics")).text

        await wait_for(acked, 10, "consumer lag 0")
        text = (await inst.get("/metrics")).text
        assert 'state_events_applied_total{kind="order",source="ws"} 1' in text
        assert 'state_events_applied_total{kind="order",source="rest"} 1' in text
        assert "state_stale_rest_suppressed_total 1" in text
        assert "state_corrections_applied_total 0" in text
        assert "state_consumer_lag 0" in text
        assert "state_book_gaps_total 0" in text
        assert "state_dlq_total 0" in text
        health = await inst.get("/v1/health")
        assert health.status_code == 200
        value = health.json()["value"]
        assert value["account"]["applied_seq"] == seqs[-1]
        assert value["account"]["last_event_age_ms"] >= 0
        assert value["feed_connected"] is True
        assert (await inst.get("/healthz")).json()["ok"] is True


async def test_book_is_served_valid_then_invalid_after_a_gap_event_and_redis_matches(
        nats_url: str, redis_url: str, nc: Any, redis_client: Any, unique: str) -> None:
    account = f"acct{unique}"
    market = f"M{unique}-USD-PERP"
    async with instance(settings_for(nats_url, redis_url, account)) as inst:
        await nc.publish(subject_for(_book(market, 1), account), encode_event(_book(market, 1)))
        await wait_for(lambda: _book_valid(inst, market, True), 5, "valid book")
        r = (await inst.get(f"/v1/book/{market}", depth="5")).json()
        assert r["value"]["bids"] == [["99", "1"]] and r["value"]["asks"] == [["101", "2"]]
        bbo = (await inst.get(f"/v1/bbo/{market}")).json()["value"]
        assert (bbo["bid"], bbo["ask"], bbo["valid"]) == ("99", "101", True)
        gap = BookGap(source="ws", venue_ts_ms=T0, recv_ns=T0 * 1_000_000, market=market, expected_seq=2,
                      got_seq=5)
        await nc.publish(subject_for(gap, account), encode_event(gap))
        await wait_for(lambda: _book_valid(inst, market, False), 5, "invalid book")
        http_book = (await inst.get(f"/v1/book/{market}", depth=str(inst.service.settings.book_depth))).json()
        assert http_book["value"]["valid"] is False

        async def redis_has_it() -> bool:
            raw = await redis_client.get(f"pdx:md:book:{market}")
            return raw is not None and msgspec.json.decode(raw)["value"] == http_book["value"]

        await wait_for(redis_has_it, 5, "redis book == http book")
        assert "state_book_gaps_total 1" in (await inst.get("/metrics")).text


async def _book_valid(inst: Any, market: str, valid: bool) -> bool:
    r = await inst.get(f"/v1/book/{market}")
    return r.status_code == 200 and r.json()["value"]["valid"] is valid
