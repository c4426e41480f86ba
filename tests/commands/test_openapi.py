"""The commands service's OpenAPI document: valid (openapi-spec-validator), every route declared,
typed, secured where it needs a token, and every answer of every route as documented (the real
service on the simulator, real NATS JetStream and Redis; bodies validated with jsonschema)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.commands.openapi import DOC
from shared.openapi_doc import undeclared
from shared.settings import Secret
from tests.commands.helpers import TOKENS, Factory, M, auth
from tests.commands.test_durability import Stack, stack  # noqa: F401 (the fixture: Redis behind a proxy)
from tests.openapi_check import Documented
from tests.simfixture import SimHandle

ADMIN = "admin-token-openapi-0123456789"
ORDER = {"market": M, "side": "BUY", "type": "LIMIT", "size": "0.01", "price": "50000"}


async def fault(sim: SimHandle, **body: Any) -> None:
    async with httpx.AsyncClient(base_url=sim.control_url) as ctl:
        assert (await ctl.post("/rest/errors", json=body)).status_code == 200


async def test_the_document_is_valid_typed_and_secured(simulator: SimHandle, start_commands: Factory) -> None:
    cmd = await start_commands(simulator)
    doc = Documented((await cmd.client.get("/openapi.json")).json())
    app = cmd.service.app.app
    assert undeclared(app, DOC) == [], "declare these routes in services/commands/openapi.py"
    paths = doc.document["paths"]
    assert doc.document["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": DOC.scheme[1]["description"]}
    for path, ops in paths.items():
        for method, op in ops.items():
            where = f"{method.upper()} {path}"
            assert ("security" in op) == path.startswith("/v1/"), where
            if path.startswith("/v1/"):
                assert op["security"] == [{"bearer": []}] and "401" in op["responses"], where
            for status, reply in op["responses"].items():  # every answer says what its body is
                if status != "204":
                    assert reply.get("content"), f"{where} {status}: no body schema"
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == set(path.replace("}", "{").split("{")[1::2]), where
    place = paths["/v1/orders"]["post"]
    assert {"200", "201", "202", "400", "401", "403", "409", "413", "422", "429", "500", "503"} <= set(
        place["responses"])
    assert place["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PlaceOrder"}
    error = doc.document["components"]["schemas"]["ErrorReply"]
    assert set(error["required"]) == {"error", "rule", "message"}
    cid = paths["/v1/commands/{client_id}"]["get"]["parameters"][0]
    assert cid["required"] and cid["schema"]["pattern"] == "^[A-Za-z0-9_.:-]{1,64}$"
    assert "X-Stream-Seq" in place["responses"]["201"]["headers"]
    page = await cmd.client.get("/docs")  # Swagger UI from local files (no CDN): works offline
    assert page.status_code == 200 and "/docs/assets/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower()
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert (await cmd.client.get(f"/docs/assets/{asset}")).status_code == 200, asset


async def test_every_route_answers_as_documented(
    simulator: SimHandle, start_commands: Factory, unique: str
) -> None:
    cmd = await start_commands(simulator, admin_token=Secret(ADMIN))
    doc = Documented((await cmd.client.get("/openapi.json")).json())
    c = cmd.client
    mm, arb, boss = auth("mm"), auth("arb"), auth("boss")
    admin = {"Authorization": f"Bearer {ADMIN}"}

    async def place(headers: dict[str, str] = mm, **body: Any) -> Any:
        r = await c.post("/v1/orders", json={**ORDER, **body}, headers=headers)
        return doc.check(r, "POST", "/v1/orders")

    assert doc.check(await c.get("/healthz"), "GET", "/healthz")["ok"] is True
    assert "commands_" in doc.check(await c.get("/metrics"), "GET", "/metrics")

    # places: every kind of answer
    first = await place(client_id=f"mm-oa-{unique}")
    assert first["status"] == "accepted" and first["order"]["client_id"] == f"mm-oa-{unique}"
    assert await place(client_id=f"mm-oa-{unique}") == first  # the replay (Idempotent-Replay)
    assert (await place(wait="none"))["status"] == "submitted"
    assert (await place(wait="ws", timeout_s=0.05))["status"] in ("pending", "open")
    assert (await place(headers={}))["rule"] == "bearer_token"
    assert (await place(headers=arb, size="10"))["rule"] == "max_order_notional"
    assert (await place(headers=arb, client_id=f"mm-oa-{unique}"))["error"] == "CLIENT_ID_TAKEN"
    assert (await place(size="NaN"))["error"] == "NUMBER_NOT_FINITE"
    assert (await place(price="50000.05"))["rule"]
    assert (await place(nonsense=1))["rule"] == "schema"
    big = await c.post("/v1/orders", content=b"{" + b" " * 70_000 + b"}", headers=mm)
    assert doc.check(big, "POST", "/v1/orders")["error"] == "BODY_TOO_LARGE"
    await fault(simulator, kind="status", status=400, path="/v1/orders", method="POST")
    assert (await place())["status"] == "rejected"
    await fault(simulator, kind="status", status=429, path="/v1/orders", method="POST")
    assert (await place())["status"] == "rejected"
    await fault(simulator, kind="status", status=503, path="/v1/orders", method="POST", execute=True)
    assert (await place())["status"] == "unknown"
    assert {201, 202, 400, 401, 403, 409, 413, 422, 429} <= doc.statuses("POST", "/v1/orders")

    # batch places
    batch = "/v1/orders/batch"
    two = {"orders": [ORDER, ORDER]}
    body = doc.check(await c.post(batch, json=two, headers=mm), "POST", batch)
    assert [r["http_status"] for r in body["results"]] == [201, 201]
    assert body["results"][0]["reply"]["status"] == "accepted"
    mixed = {"orders": [ORDER, {**ORDER, "price": "50000.05"}]}
    body = doc.check(await c.post(batch, json=mixed, headers=mm), "POST", batch)
    assert [r["http_status"] for r in body["results"]] == [201, 422]
    empty = await c.post(batch, json={"orders": []}, headers=mm)
    assert doc.check(empty, "POST", batch)["rule"] == "batch_size"
    doc.check(await c.post(batch, json=two), "POST", batch)
    assert doc.statuses("POST", batch) == {201, 207, 422, 401}

    # the stored outcome of a command
    rec = "/v1/commands/{client_id}"
    got = doc.check(await c.get(f"/v1/commands/mm-oa-{unique}", headers=mm), "GET", rec)
    assert got["state"] == "done" and got["reply"] == first
    assert doc.check(await c.get(f"/v1/commands/none-{unique}", headers=mm), "GET", rec)["error"] == \
        "COMMAND_NOT_FOUND"
    assert doc.check(await c.get("/v1/commands/bad%20id", headers=mm), "GET", rec)["rule"] == "client_id"
    assert doc.check(await c.get(f"/v1/commands/mm-oa-{unique}", headers=arb), "GET", rec)["error"] == \
        "NOT_ORDER_OWNER"
    doc.check(await c.get(f"/v1/commands/mm-oa-{unique}"), "GET", rec)

    # modify, cancels
    oid = first["order_id"]
    put = "/v1/orders/{order_id}"
    change = {"market": M, "side": "BUY", "size": "0.02", "price": "50000"}
    assert doc.check(await c.put(f"/v1/orders/{oid}", json=change, headers=mm), "PUT", put)["status"] == \
        "modify_requested"
    doc.check(await c.put(f"/v1/orders/{oid}", json={**change, "side": "SELL"}, headers=mm), "PUT", put)
    doc.check(await c.put("/v1/orders/abc", json=change, headers=mm), "PUT", put)
    doc.check(await c.put(f"/v1/orders/{oid}", json=change), "PUT", put)
    assert {200, 422, 401} <= doc.statuses("PUT", put)

    by_cid = "/v1/orders/by_client_id/{client_id}"
    second = await place(client_id=f"mm-oa2-{unique}")
    r = await c.delete(f"/v1/orders/by_client_id/{second['client_id']}", headers=mm, params={"market": M})
    assert doc.check(r, "DELETE", by_cid)["status"] == "cancel_requested"
    r = await c.delete(f"/v1/orders/by_client_id/ghost-{unique}", headers=boss)
    assert doc.check(r, "DELETE", by_cid)["error"] == "CLIENT_ORDER_ID_NOT_FOUND"
    doc.check(await c.delete(f"/v1/orders/by_client_id/ghost-{unique}"), "DELETE", by_cid)

    one = "/v1/orders/{order_id}"
    third = await place()
    assert doc.check(await c.delete(f"/v1/orders/{third['order_id']}", headers=mm), "DELETE", one)["status"] \
        == "cancel_requested"
    missing = f"999{int(unique, 16) % 10**9}"
    assert doc.check(await c.delete(f"/v1/orders/{missing}", headers=boss), "DELETE", one)["status"] == \
        "rejected"
    assert doc.check(await c.delete("/v1/orders/abc", headers=mm), "DELETE", one)["rule"] == "order_id"
    assert doc.statuses("DELETE", one) == {202, 404, 422}

    many = "/v1/orders/batch"
    fourth = await place()
    body = doc.check(await c.request("DELETE", many, json={"order_ids": [fourth["order_id"]]}, headers=mm),
                     "DELETE", many)
    assert body["results"][0]["id"] == fourth["order_id"]
    too_many = {"order_ids": [str(i + 1) for i in range(101)]}
    assert doc.check(await c.request("DELETE", many, json=too_many, headers=mm), "DELETE", many)["rule"] == \
        "batch_size"
    assert doc.check(await c.request("DELETE", many, content=b"[", headers=mm), "DELETE", many)["rule"] == \
        "schema"

    await place()
    every = "/v1/orders"
    assert "results" in doc.check(await c.delete(every, headers=mm, params={"market": M}), "DELETE", every)
    assert doc.check(await c.delete(every, headers=boss), "DELETE", every)["status"] == "cancel_requested"
    assert doc.check(await c.delete(every, headers=mm, params={"market": "NOPE-USD-PERP"}), "DELETE",
                     every)["error"]
    assert {200, 202} <= doc.statuses("DELETE", every)

    # TWAP algo orders: place, list, cancel and their refusals
    algos, one_algo = "/v1/algo/orders", "/v1/algo/orders/{algo_id}"
    twap = {"market": M, "side": "BUY", "size": "0.003", "duration_seconds": 90}
    placed = doc.check(await c.post(algos, json=twap, headers=mm), "POST", algos)
    assert placed["status"] == "accepted" and placed["algo_id"]
    short = await c.post(algos, json={**twap, "duration_seconds": 1}, headers=mm)
    assert doc.check(short, "POST", algos)["rule"]
    nan = await c.post(algos, json={**twap, "size": "NaN"}, headers=mm)
    assert doc.check(nan, "POST", algos)["error"] == "NUMBER_NOT_FINITE"
    doc.check(await c.post(algos, json=twap), "POST", algos)
    listed = doc.check(await c.get(algos, headers=mm), "GET", algos)
    assert placed["algo_id"] in [a["id"] for a in listed["results"]], listed
    doc.check(await c.get(algos), "GET", algos)
    r = await c.delete(f"/v1/algo/orders/{placed['algo_id']}", headers=mm)
    assert doc.check(r, "DELETE", one_algo)["status"] == "cancel_requested"
    r = await c.delete(f"/v1/algo/orders/999{int(unique, 16) % 10**9}", headers=boss)
    assert doc.check(r, "DELETE", one_algo)["status"] == "rejected"
    bad_id = await c.delete("/v1/algo/orders/abc", headers=mm)
    assert doc.check(bad_id, "DELETE", one_algo)["rule"] == "algo_id"
    await fault(simulator, kind="status", status=503, path="/v1/algo/orders", method="POST", execute=True)
    lost = await c.post(algos, json=twap, headers=mm)
    assert doc.check(lost, "POST", algos)["status"] in ("unknown", "not_sent")
    assert {201, 202, 422, 401} <= doc.statuses("POST", algos)

    # the kill switch
    kill, resume = "/v1/kill", "/v1/resume"
    on = doc.check(await c.post(kill, json={"reason": "openapi"}, headers=admin), "POST", kill)
    assert (on["active"], on["scope"]) == (True, "account")
    assert doc.check(await c.post(resume, json={}, headers=admin), "POST", resume)["active"] is False
    assert doc.check(await c.post(kill, json={"strategy": "arb"}, headers=mm), "POST", kill)["error"] == \
        "NOT_STRATEGY_OWNER"
    assert doc.check(await c.post(kill, json={"strategy": "nope"}, headers=admin), "POST", kill)["error"] == \
        "STRATEGY_NOT_FOUND"
    doc.check(await c.post(kill, json={}), "POST", kill)
    mine = doc.check(await c.post(kill, json={}, headers=arb), "POST", kill)
    assert (mine["scope"], mine["strategy"]) == ("strategy", "arb")
    doc.check(await c.post(resume, json={}, headers=arb), "POST", resume)
    doc.check(await c.post(resume, content=b"{", headers=arb), "POST", resume)
    assert doc.unchecked() == [], "add a request of each new route to this test"


async def test_the_client_side_rate_limit_is_documented(
    simulator: SimHandle, start_commands: Factory
) -> None:
    cmd = await start_commands(simulator, rate_per_s=1.0, rate_burst=1)
    doc = Documented((await cmd.client.get("/openapi.json")).json())
    answers = [await cmd.client.post("/v1/orders", json=ORDER, headers=auth("mm")) for _ in range(2)]
    assert [a.status_code for a in answers] == [201, 429]
    assert doc.check(answers[1], "POST", "/v1/orders")["error"] == "RATE_LIMITED"
    assert int(answers[1].headers["Retry-After"]) >= 1


async def test_the_websocket_confirmed_answer_is_documented(
    simulator: SimHandle, start_commands: Factory, start_feed: Any, unique: str
) -> None:
    await start_feed(simulator)
    cmd = await start_commands(simulator)
    doc = Documented((await cmd.client.get("/openapi.json")).json())
    bid, _ = simulator.best()
    body = {**ORDER, "price": str(bid), "client_id": f"mm-oa-ws-{unique}", "wait": "ws", "timeout_s": 5}
    r = await cmd.client.post("/v1/orders", json=body, headers=auth("mm"))
    assert r.status_code == 200, r.text
    assert doc.check(r, "POST", "/v1/orders")["status"] == "open"


@pytest.mark.slow
async def test_swagger_ui_works_offline_and_try_it_out_sends_the_bearer_token(
    simulator: SimHandle, start_commands: Factory
) -> None:
    """A real browser on /docs: every file from the service itself; "Try it out" is 401 until the
    token is given in "Authorize", then the call is made with it (200)."""
    from tests.system.browser import FLAGS, require_chromium

    chromium = require_chromium()
    from playwright.async_api import async_playwright

    cmd = await start_commands(simulator)
    base = str(cmd.client.base_url).rstrip("/")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(f"{base}/docs")
            block = page.locator("#operations-default-cancel_all_v1_orders_delete")
            await block.wait_for(timeout=15_000)
            urls = await page.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
            assert urls and all(u.startswith(base) for u in urls), urls

            async def execute() -> str:
                await block.locator(".try-out__btn").click()
                await block.locator("button.execute").click()
                status = block.locator(".live-responses-table tbody .response-col_status").first
                await status.wait_for(timeout=10_000)
                text = (await status.inner_text()).strip()
                await block.locator(".btn-clear").click()
                await block.locator(".try-out__btn").click()  # "Cancel": back to the plain view
                return text

            await block.locator(".opblock-summary-control").click()
            assert await execute() == "401"
            await page.locator(".auth-wrapper button.authorize").click()
            await page.locator(".modal-ux input").first.fill(TOKENS["mm"])
            await page.locator(".modal-ux .auth-btn-wrapper button.authorize").click()
            await page.locator(".modal-ux button.btn-done").click()
            assert await execute() == "200"
            assert errors == []
        finally:
            await browser.close()


async def test_the_answers_while_redis_is_unreachable_are_documented(
    stack: Stack, unique: str  # noqa: F811 (the imported fixture)
) -> None:
    doc = Documented((await stack.client.get("/openapi.json")).json())
    placed = doc.check(await stack.place(f"mm-oa-redis-{unique}"), "POST", "/v1/orders")
    await stack.proxy.refuse()
    refused = doc.check(await stack.place(f"mm-oa-redis2-{unique}"), "POST", "/v1/orders")
    assert refused["error"] == "REDIS_UNAVAILABLE"
    r = await stack.client.get(f"/v1/commands/{placed['client_id']}", headers=auth("mm"))
    assert doc.check(r, "GET", "/v1/commands/{client_id}")["error"] == "REDIS_UNAVAILABLE"
    assert doc.statuses("POST", "/v1/orders") == {201, 503}
