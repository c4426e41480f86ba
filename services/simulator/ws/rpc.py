"""The JSON-RPC error every WebSocket method raises (PROTOCOL.md 2.3, openrpc.json)."""

from __future__ import annotations

from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
#: "method error (e.g. an order.* call rejected)" (docs' error table): data is the REST ApiError.
METHOD_ERROR = 100
MALFORMED_BEARER = 40110
INVALID_BEARER = 40111
AUTH_REQUIRED = 40300
RATE_LIMITED = 42901


class RpcError(Exception):
    """A JSON-RPC error reply: ``code``, ``message`` and optional ``data``."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.data = code, message, data
