"""The dashboard's routes on the real state service: the page and its files, /ui/config, /v1/lag,
offline /docs, and the kill-switch forward (to a recording HTTP server standing in for the
commands service's two routes: what is forwarded, what comes back, and that no token is logged)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response

from tests.state.test_service_harness import instance, settings_for


class Recorder:
    """``POST /v1/kill`` and ``/v1/resume`` answering 200 (or 401 without the right token)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None, bytes]] = []
        self.app = FastAPI()

        @self.app.post("/v1/{action}")
        async def act(action: str, request: Request) -> Response:
            auth = request.headers.get("authorization")
            self.calls.append((action, auth, await request.body()))
            if auth != "Bearer the-admin-token-0123456789":
                return Response(b'{"error":"UNAUTHORIZED","rule":"bearer_token"}', 401,
                                media_type="application/json")
            return Response(b'{"seq":7,"active":true,"scope":"global"}', 200, media_type="application/json")


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(1000):
        if server.started:
            break
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        await task


async def test_page_files_config_lag_and_offline_docs(nats_url: str, redis_url: str, unique: str) -> None:
    async with instance(settings_for(nats_url, redis_url, f"acct{unique}",
                                     commands_url="http://127.0.0.1:1")) as inst:
        page = await inst.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert '<script type="module" src="/static/app.js">' in page.text
        for asset, ctype in (("app.js", "javascript"), ("sse.js", "javascript"), ("style.css", "text/css")):
            r = await inst.get(f"/static/{asset}")
            assert r.status_code == 200 and ctype in r.headers["content-type"], asset
        assert (await inst.get("/static/../settings.py")).status_code == 404
        cfg = (await inst.get("/ui/config")).json()
        assert cfg["commands_url"] == "http://127.0.0.1:1" and cfg["account"] == f"acct{unique}"
        lag = await inst.get("/v1/lag")
        assert lag.status_code == 200 and lag.json()["value"]["lag"] == 0
        docs = await inst.get("/docs")
        assert docs.status_code == 200 and "/docs/assets/swagger-ui-bundle.js" in docs.text
        assert "cdn" not in docs.text.lower()
        assert (await inst.get("/docs/assets/swagger-ui-bundle.js")).status_code == 200
        assert (await inst.get("/redoc")).status_code == 404  # FastAPI's CDN page is gone


async def test_kill_switch_forward_passes_the_token_and_answers_as_commands_did(
        nats_url: str, redis_url: str, unique: str, caplog: pytest.LogCaptureFixture) -> None:
    rec = Recorder()
    caplog.set_level(logging.DEBUG)
    async with serving(rec.app) as commands_url, \
            instance(settings_for(nats_url, redis_url, f"acct{unique}", commands_url=commands_url)) as inst:
        ok = await inst.client.post("/ui/kill", content=b'{"reason":"test"}',
                                    headers={"Authorization": "Bearer the-admin-token-0123456789"})
        assert ok.status_code == 200 and ok.json() == {"seq": 7, "active": True, "scope": "global"}
        bad = await inst.client.post("/ui/resume", headers={"Authorization": "Bearer wrong"})
        assert bad.status_code == 401 and bad.json()["rule"] == "bearer_token"
        big = await inst.client.post("/ui/kill", content=b"x" * 20_000)
        assert big.status_code == 413
    assert rec.calls == [("kill", "Bearer the-admin-token-0123456789", b'{"reason":"test"}'),
                         ("resume", "Bearer wrong", b"{}")]
    assert "the-admin-token" not in caplog.text and "forwarded /v1/kill" in caplog.text


async def test_kill_switch_forward_names_the_setting_when_commands_is_down(
        nats_url: str, redis_url: str, unique: str) -> None:
    async with instance(settings_for(nats_url, redis_url, f"acct{unique}",
                                     commands_url="http://127.0.0.1:9")) as inst:
        r = await inst.client.post("/ui/kill", headers={"Authorization": "Bearer x"})
    body: dict[str, Any] = r.json()
    assert r.status_code == 502 and body["error"] == "COMMANDS_UNREACHABLE"
    assert "http://127.0.0.1:9" in body["reason"] and "STATE_COMMANDS_URL" in body["reason"]
