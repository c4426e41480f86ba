"""Optional read tokens on the state API (``STATE_READ_TOKENS`` / ``STATE_READ_TOKENS_FILE``).

When tokens are configured, every route that serves account or market data needs
``Authorization: Bearer <token>``; anything else gets 401 ``{"error": "unauthorized",
"rule": "read_token", "reason": ...}`` with ``WWW-Authenticate: Bearer``. ``/metrics`` is covered
too (Prometheus sends a bearer token with ``authorization`` in its scrape config). Open without a
token: ``/healthz`` (the orchestrator's probe), the dashboard's page and files (``/``,
``/static/*``: no data in them; a browser cannot send a header when it opens a page, the page
asks for the read token and sends it with every request), the API docs (``/docs*``,
``/openapi.json``: the schema only), and ``/ui/kill``, ``/ui/resume`` (they carry the commands
service's admin token in ``Authorization`` and are forwarded to it, which checks it). No tokens:
the API is open, as before (bind it to 127.0.0.1, the default, then). Tokens are compared in constant
time and never logged. A plain ASGI middleware: it answers before FastAPI parses anything.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import msgspec

from shared.errors import ConfigError

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]
OPEN_PATHS = frozenset({"/healthz", "/", "/openapi.json", "/ui/kill", "/ui/resume"})
OPEN_PREFIXES = ("/static/", "/docs")
MIN_LEN = 16
_SPLIT = re.compile(r"[\s,]+")


def parse_tokens(text: str, variable: str = "STATE_READ_TOKENS") -> tuple[bytes, ...]:
    """Tokens from a comma, space or newline separated list (a file may hold one per line)."""
    tokens = tuple(t for t in _SPLIT.split(text.strip()) if t)
    short = [i for i, t in enumerate(tokens) if len(t) < MIN_LEN]
    if short:
        raise ConfigError(variable, f"token #{short[0] + 1} is shorter than {MIN_LEN} characters")
    return tuple(t.encode() for t in tokens)


class ReadTokens:
    """Wraps an ASGI app: requests without a valid read token are answered 401."""

    def __init__(self, app: ASGIApp, tokens: tuple[bytes, ...]) -> None:
        self.app = app
        self.tokens = tokens
        self.refused = 0

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        path = scope["path"]
        if scope["type"] != "http" or path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        auth = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                auth = value
                break
        if auth[:7].lower() == b"bearer ":
            given = auth[7:].strip()
            if any(hmac.compare_digest(given, t) for t in self.tokens):
                await self.app(scope, receive, send)
                return
            reason = "the bearer token is not one of STATE_READ_TOKENS"
        elif auth:
            reason = "the Authorization header must be 'Bearer <read token>'"
        else:
            reason = "this state API needs a read token: send 'Authorization: Bearer <token>'"
        self.refused += 1
        body = msgspec.json.encode({"error": "unauthorized", "rule": "read_token", "reason": reason})
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", b'Bearer realm="paradex-hub state"')]})
        await send({"type": "http.response.body", "body": body})
