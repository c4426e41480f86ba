"""A man-in-the-middle httpx transport for hostile-REST tests: the simulator answers, chosen
responses are corrupted on their way to the client (the simulator stays the only Paradex stand-in;
this is the hostile network or venue bug in between)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import msgspec

Mutate = Callable[[Any], Any]
"""Decoded JSON body in; JSON-able body (or raw bytes) out."""


class CorruptingTransport(httpx.AsyncBaseTransport):
    """Forwards to a real transport; 200/201 answers of a ruled ``(method, path)`` (path without
    the ``/v1`` prefix; method ``"*"`` for any) go through the rule."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.rules: dict[tuple[str, str], Mutate] = {}
        self.hits = 0

    def rule(self, path: str, mutate: Mutate, method: str = "*") -> None:
        self.rules[(method, path)] = mutate

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        path = request.url.path.removeprefix("/v1")
        mutate = self.rules.get((request.method, path)) or self.rules.get(("*", path))
        if mutate is None or response.status_code not in (200, 201):
            return response
        self.hits += 1
        out = mutate(msgspec.json.decode(await response.aread()))
        content = out if isinstance(out, bytes) else msgspec.json.encode(out)
        return httpx.Response(response.status_code, headers={"content-type": "application/json"},
                              content=content, request=request)

    async def aclose(self) -> None:
        await self.inner.aclose()
