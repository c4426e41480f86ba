"""The HTTP edge's direct routes: POST /v1/orders[/batch] go straight to their endpoint (no FastAPI
layers) with the same answers; every other route still goes through FastAPI; an error escaping an
endpoint is 500 INTERNAL in the JSON error shape."""

from __future__ import annotations

from typing import Any

import httpx

from services.commands.api import build_app
from services.commands.core import answers
from services.commands.core.messages import Answer, PlaceOrder
from services.commands.core.strategies import Strategies, Strategy
from services.commands.metrics import Metrics

TOKEN = "e" * 20
ORDER = {"market": "BTC-USD-PERP", "side": "BUY", "type": "LIMIT", "size": "0.01", "price": "50000"}


class Stub:
    """Answers every place with 202 submitted; counts what reached it."""

    def __init__(self) -> None:
        self.metrics = Metrics()
        self.placed: list[PlaceOrder] = []

    async def place(self, s: Strategy, req: PlaceOrder) -> Answer:
        self.placed.append(req)
        return answers.submitted("cid-1", 7)

    def health(self) -> tuple[bool, dict[str, Any]]:
        return True, {}


class Spy:
    """Wraps the FastAPI app: which paths reached it."""

    def __init__(self, app: Any) -> None:
        self.app, self.paths = app, []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.paths.append(scope["path"])
        await self.app(scope, receive, send)


def client(strategies: Any = None) -> tuple[httpx.AsyncClient, Stub, Spy]:
    stub = Stub()
    edge = build_app(stub, strategies or Strategies.parse(f'[{{"name":"mm","token":"{TOKEN}"}}]'))  # type: ignore[arg-type]
    spy = edge.app = Spy(edge.app)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=edge), base_url="http://edge")
    return http, stub, spy


async def test_places_skip_fastapi_and_answer_as_before() -> None:
    http, stub, spy = client()
    async with http:
        r = await http.post("/v1/orders", json=ORDER, headers={"Authorization": f"Bearer {TOKEN}"})
        assert (r.status_code, r.headers["x-stream-seq"], r.json()["seq"]) == (202, "7", 7), r.text
        assert len(stub.placed) == 1
        r = await http.post("/v1/orders", json=ORDER)
        assert r.status_code == 401 and r.json()["error"] == "UNAUTHORIZED"
        r = await http.post("/v1/orders", content=b"{", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 422 and r.json()["error"] == "INVALID_REQUEST"
        assert spy.paths == []
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/v1/orders")).status_code == 405  # not a direct route: FastAPI's answer
        assert spy.paths == ["/healthz", "/v1/orders"]


async def test_an_error_escaping_a_direct_endpoint_is_500_internal() -> None:
    class Broken:
        def authenticate(self, authorization: str | None) -> Strategy:
            raise RuntimeError("boom")

    http, stub, _ = client(Broken())
    async with http:
        r = await http.post("/v1/orders", json=ORDER, headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 500 and r.json()["error"] == "INTERNAL", r.text
        assert stub.placed == []
