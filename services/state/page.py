"""The dashboard page at ``/`` and what it needs beside the API: its files, its configuration, the
consumer lag, and a same-origin door to the commands service's kill switch.

- ``GET /``, ``GET /static/*``: plain HTML/CSS/JS modules from ``services/state/static`` (no build
  step, nothing from the internet: the page works offline).
- ``GET /ui/config``: what the page shows about where it is (account, markets, commands URL).
- ``GET /v1/lag``: the ACCOUNT stream consumer lag (a NATS round trip, so not in ``/v1/health``).
- ``POST /ui/kill``, ``POST /ui/resume``: forwarded to ``STATE_COMMANDS_URL`` ``/v1/kill`` and
  ``/v1/resume`` with the caller's ``Authorization`` header and body, answer passed back as is.

Why a forward rather than the page calling the commands service itself: the page is then one
origin (no CORS set-up on the commands service, no second port to open or tunnel), and the
commands URL is configured once, on the server (``STATE_COMMANDS_URL``), not in each browser.
The admin token travels in the request only: it is not logged, stored or kept by the page. A
cross-site page cannot use the forward: it would have to send an ``Authorization`` header, which
needs a CORS preflight that this service never grants, and it does not know the token.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from services.state.encode import encode
from shared.apidocs import install_docs

if TYPE_CHECKING:
    from services.state.service import StateService

log = logging.getLogger("state.page")

STATIC = Path(__file__).with_name("static")
FORWARD_TIMEOUT_S = 15.0
MAX_BODY = 16 * 1024
JSON = "application/json"


def _json(status: int, body: object) -> Response:
    return Response(encode(body), status_code=status, media_type=JSON)


def add_page_routes(app: FastAPI, svc: StateService) -> None:
    """Register the page, its files, ``/ui/*``, ``/v1/lag`` and the offline ``/docs``."""
    install_docs(app, "paradex-hub state API")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def commands_url() -> str:
        return str(svc.settings.commands_url).rstrip("/")

    @app.get("/", include_in_schema=False)
    async def index() -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/ui/config", summary="What the dashboard shows about this deployment")
    async def config() -> Response:
        s = svc.settings
        return _json(200, {"account": s.paradex_account, "markets": list(s.paradex_markets),
                           "commands_url": commands_url()})

    @app.get("/v1/lag", summary="ACCOUNT stream consumer lag: messages not yet applied")
    async def lag() -> Response:
        seq = svc.core.account_seq
        try:
            pending, last = await svc.consumer_lag()
        except Exception as exc:
            return _json(503, {"seq": seq, "error": "LAG_UNAVAILABLE", "reason": f"NATS: {exc!r}"})
        return _json(200, {"seq": seq, "value": {"lag": pending, "stream_last_seq": last,
                                                 "applied_seq": seq}})

    async def forward(request: Request, path: str) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            return _json(413, {"error": "BODY_TOO_LARGE", "reason": f"at most {MAX_BODY} bytes"})
        headers = {"Content-Type": JSON}
        auth = request.headers.get("authorization")
        if auth:
            headers["Authorization"] = auth
        base = commands_url()
        url = f"{base}{path}"
        try:
            async with httpx.AsyncClient(timeout=FORWARD_TIMEOUT_S) as client:
                resp = await client.post(url, content=body or b"{}", headers=headers)
        except httpx.HTTPError as exc:
            log.warning("forward to %s failed: %s", url, type(exc).__name__)
            return _json(502, {"error": "COMMANDS_UNREACHABLE",
                               "reason": f"the commands service at {base} did not answer "
                                         f"({type(exc).__name__}); STATE_COMMANDS_URL says where it is"})
        log.info("forwarded %s to the commands service: HTTP %d", path, resp.status_code)
        return Response(resp.content, status_code=resp.status_code,
                        media_type=resp.headers.get("content-type", JSON))

    @app.post("/ui/kill", summary="Kill switch (forwarded to the commands service's POST /v1/kill)")
    async def kill(request: Request) -> Response:
        return await forward(request, "/v1/kill")

    @app.post("/ui/resume", summary="Resume after the kill switch (forwarded to POST /v1/resume)")
    async def resume(request: Request) -> Response:
        return await forward(request, "/v1/resume")
