"""The state service's OpenAPI document: valid (openapi-spec-validator), every route declared,
the bearer scheme exactly on the routes that need a read token (none without STATE_READ_TOKENS),
and every route's real answers (success and error) as documented: the real service on real NATS
JetStream and Redis, bodies validated with jsonschema against the documented schemas."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from services.state.openapi import operations
from shared.bus import AccountEvent, MarketsEvent, MarketSpec, encode_event, subject_for
from shared.openapi_doc import ApiDoc, undeclared
from shared.paradex.models.account import Account
from shared.settings import Secret
from tests.openapi_check import Documented
from tests.state.builders import balance_rec, book_ev, fill, fill_ev, lvl, position, position_ev
from tests.state.test_core_algos import algo, algo_ev
from tests.state.test_page import Recorder, serving
from tests.state.test_service_harness import (
    T0,
    instance,
    order,
    order_ev,
    publish_all,
    settings_for,
    wait_for,
)

TOKEN = "read-token-openapi-0123"
ADMIN = "the-admin-token-0123456789"
D = Decimal


def _account(account: str) -> AccountEvent:
    summary = Account(account=account, initial_margin_requirement=D(1), maintenance_margin_requirement=D(1),
                      account_value=D(1000), total_collateral=D(1000), free_collateral=D(999),
                      margin_cushion=D(999), settlement_asset="USDC", updated_at=T0, status="ACTIVE",
                      seq_no=1)
    return AccountEvent(source="ws", venue_ts_ms=T0, recv_ns=T0 * 1_000_000, conn_epoch=1, summary=summary)


def _markets() -> MarketsEvent:
    spec = MarketSpec(symbol="BTC-USD-PERP", status="open", price_tick_size=D("0.1"),
                      order_size_increment=D("0.001"), min_notional=D("10"), max_order_size=D("100"))
    return MarketsEvent(source="rest", venue_ts_ms=T0, markets=(spec,))


async def test_without_read_tokens_no_route_asks_for_the_bearer_token(
        nats_url: str, redis_url: str, unique: str) -> None:
    async with instance(settings_for(nats_url, redis_url, f"acct{unique}")) as inst:
        doc = Documented((await inst.get("/openapi.json")).json())
        missing = undeclared(inst.http.app, ApiDoc(operations(), scheme=("bearer", {})))
        assert missing == [], "declare these routes in services/state/openapi.py"
        for path, ops in doc.document["paths"].items():
            for method, op in ops.items():
                secured = path.startswith("/ui/kill") or path.startswith("/ui/resume")
                assert ("security" in op) == secured, f"{method} {path}"
                assert secured or "401" not in op["responses"], f"{method} {path}"


async def test_every_route_answers_as_documented(
        nats_url: str, redis_url: str, js: Any, nc: Any, unique: str) -> None:
    account = f"acct{unique}"
    market = f"M{unique}-USD-PERP"
    recorder = Recorder()
    async with serving(recorder.app) as commands_url, instance(settings_for(
            nats_url, redis_url, account, read_tokens=Secret(TOKEN), commands_url=commands_url)) as inst:
        c = inst.client
        doc = Documented((await c.get("/openapi.json")).json())
        ops = doc.document["paths"]
        assert doc.document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        for path, methods in ops.items():
            for method, op in methods.items():
                open_ = path == "/healthz"
                assert ("security" in op) != open_, f"{method} {path}"
                assert open_ or "401" in op["responses"], f"{method} {path}"
        limit = next(p for p in ops["/v1/orders"]["get"]["parameters"] if p["name"] == "limit")
        assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 1000)
        assert {p["name"] for p in ops["/v1/fills"]["get"]["parameters"]} >= {"limit", "cursor", "min_seq"}

        seqs = await publish_all(js, account, [
            order_ev(order("1", account=account)), order_ev(order("2", account=account, client_id="c2")),
            fill_ev(fill("f1")), fill_ev(fill("f2")), position_ev(position()),
            balance_rec("100", ts=T0), _account(account), _markets(), algo_ev(algo("900"))])
        await inst.wait_seq(seqs[-1])
        book = book_ev(1, "s", market=market, inserts=[lvl("BUY", "99", "1"), lvl("SELL", "101", "2")])
        await nc.publish(subject_for(book, account), encode_event(book))
        await wait_for(lambda: _has_book(inst, market), 5, "the book")

        h = {"Authorization": f"Bearer {TOKEN}"}

        async def get(path: str, template: str | None = None, headers: dict[str, str] | None = h,
                      **params: Any) -> Any:
            r = await c.get(path, params=params or None, headers=headers)
            return doc.check(r, "GET", template or path)

        page = await get("/v1/orders", limit=1)
        assert [o["id"] for o in page["value"]] == ["1"] and page["next_cursor"]
        last = await get("/v1/orders", limit=1, cursor=page["next_cursor"])
        assert [o["id"] for o in last["value"]] == ["2"] and last["next_cursor"] is None
        assert (await get("/v1/orders", status="OPEN,BOGUS"))["error"] == "bad_status"
        assert (await get("/v1/orders", cursor="nope"))["error"] == "bad_cursor"
        bad = await get("/v1/orders", limit=1001)
        assert (bad["error"], bad["rule"]) == ("bad_parameter", "limit")
        assert (await get("/v1/orders", headers=None))["rule"] == "read_token"
        late = await get("/v1/orders", min_seq=seqs[-1] + 100, min_seq_timeout_ms=10)
        assert (late["error"], late["min_seq"]) == ("SEQ_NOT_REACHED", seqs[-1] + 100)

        one = "/v1/orders/{order_id}"
        assert (await get("/v1/orders/1", one))["value"]["id"] == "1"
        assert (await get("/v1/orders/nope", one))["error"] == "not_found"
        by_cid = "/v1/orders/by_client_id/{client_id}"
        assert (await get("/v1/orders/by_client_id/c2", by_cid))["value"]["id"] == "2"
        assert (await get("/v1/orders/by_client_id/nope", by_cid))["error"] == "not_found"

        assert (await get("/v1/positions"))["value"][0]["market"] == "BTC-USD-PERP"
        assert (await get("/v1/account"))["value"]["summary"]["status"] == "ACTIVE"
        assert (await get("/v1/balances"))["value"][0]["token"] == "USDC"
        fills = await get("/v1/fills", limit=1)
        assert len(fills["value"]) == 1 and fills["next_cursor"]
        assert len((await get("/v1/fills", limit=1, cursor=fills["next_cursor"]))["value"]) == 1
        assert (await get("/v1/fills", limit=0))["rule"] == "limit"

        assert (await get("/v1/markets"))["value"][0]["symbol"] == "BTC-USD-PERP"
        assert (await get("/v1/markets", status="bogus"))["error"] == "bad_status"
        spec = "/v1/markets/{symbol}"
        assert (await get("/v1/markets/BTC-USD-PERP", spec))["value"]["price_tick_size"] == "0.1"
        assert (await get("/v1/markets/NOPE", spec))["error"] == "not_found"

        assert [a["algo"]["id"] for a in (await get("/v1/algo/orders"))["value"]] == ["900"]
        assert (await get("/v1/algo/orders", status="BOGUS"))["error"] == "bad_status"
        one_algo = "/v1/algo/orders/{algo_id}"
        assert (await get("/v1/algo/orders/900", one_algo))["value"]["algo"]["status"] == "OPEN"
        assert (await get("/v1/algo/orders/1", one_algo))["error"] == "not_found"

        books = "/v1/book/{market}"
        assert (await get(f"/v1/book/{market}", books, depth=5))["value"]["bids"] == [["99", "1"]]
        assert (await get(f"/v1/book/{market}", books, depth=0))["rule"] == "depth"
        assert (await get("/v1/book/NOPE", books))["error"] == "not_found"
        assert (await get(f"/v1/bbo/{market}", "/v1/bbo/{market}"))["value"]["bid"] == "99"
        assert (await get("/v1/bbo/NOPE", "/v1/bbo/{market}"))["error"] == "not_found"

        health = await get("/v1/health")
        assert health["value"]["account"]["applied_seq"] == seqs[-1]
        assert "account_seq" in health["value"]["core"]
        assert "ok" in await get("/healthz", headers=None)
        assert "state_" in await get("/metrics")
        assert (await get("/ui/config"))["account"] == account
        assert (await get("/v1/lag"))["value"]["applied_seq"] >= seqs[-1]

        assert (await get("/v1/events", kinds="bogus"))["error"] == "bad_kinds"
        async with c.stream("GET", "/v1/events", headers=h, params={"kinds": "order"}) as stream:
            doc.check(stream, "GET", "/v1/events")
            first = await anext(stream.aiter_text())
            assert first.startswith("retry:")

        for action in ("kill", "resume"):
            path = f"/ui/{action}"
            ok = await c.post(path, json={"reason": "drill"}, headers={"Authorization": f"Bearer {ADMIN}"})
            assert doc.check(ok, "POST", path)["seq"] == 7
            assert doc.check(await c.post(path, json={}), "POST", path)["rule"] == "bearer_token"
            assert doc.check(await c.post(path, content=b" " * 20_000), "POST", path)["error"] == \
                "BODY_TOO_LARGE"
        missing = await c.get("/v1/nothing-here", headers=h)
        assert missing.status_code == 404 and missing.json()["error"] == "not_found"
        assert doc.unchecked() == [], "add a request of each new route to this test"


async def _has_book(inst: Any, market: str) -> bool:
    return (await inst.client.get(f"/v1/book/{market}", headers={"Authorization": f"Bearer {TOKEN}"})
            ).status_code == 200
