"""The one place the client talks HTTP: requests, error translation, body decoding."""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
import msgspec

from shared.client.errors import ServiceError, ServiceUnreachable, error_for

T = TypeVar("T")


class _ErrorBody(msgspec.Struct, kw_only=True):
    error: str = ""
    rule: str = ""
    message: str = ""
    reason: str = ""
    status: str = ""
    retry_after_s: float | None = None
    seq: int = 0


def raise_for(resp: httpx.Response) -> None:
    """Raise the typed :class:`ServiceError` of a non-2xx response."""
    if resp.status_code < 300:
        return
    try:
        eb = msgspec.json.decode(resp.content, type=_ErrorBody)
    except (msgspec.DecodeError, msgspec.ValidationError):
        eb = _ErrorBody(error=f"HTTP_{resp.status_code}", message=resp.text[:200])
    retry = eb.retry_after_s
    if retry is None and "retry-after" in resp.headers:
        try:
            retry = float(resp.headers["retry-after"])
        except ValueError:
            retry = None
    rule = eb.rule or ("venue" if eb.status == "rejected" else "")
    exc = error_for(resp.status_code, eb.error or f"HTTP_{resp.status_code}", rule,
                    eb.message or eb.reason, resp.content, retry)
    exc.seq = eb.seq
    raise exc


class Transport:
    """An ``httpx.AsyncClient`` on one base URL that raises typed errors."""

    def __init__(self, base_url: str, *, timeout_s: float = 10.0, headers: dict[str, str] | None = None,
                 client: httpx.AsyncClient | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.own = client is None
        self.client = client or httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout_s, headers=headers or {},
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32))

    async def request(self, method: str, path: str, *, params: Any = None, content: bytes | None = None,
                      timeout_s: float | None = None) -> httpx.Response:
        """Send one request; :class:`ServiceUnreachable` on transport failure, else the response."""
        kw: dict[str, Any] = {}
        if timeout_s is not None:
            kw["timeout"] = timeout_s
        headers = {"Content-Type": "application/json"} if content is not None else None
        try:
            return await self.client.request(method, path, params=params, content=content, headers=headers,
                                             **kw)
        except httpx.TransportError as exc:
            raise ServiceUnreachable(f"{self.base_url}{path}", f"{type(exc).__name__}: {exc}") from exc

    async def get(self, path: str, type_: type[T], params: Any = None) -> T:
        """GET ``path`` and decode a 2xx body as ``type_``."""
        resp = await self.request("GET", path, params=params)
        raise_for(resp)
        return decode(resp, type_)

    async def aclose(self) -> None:
        if self.own:
            await self.client.aclose()


def decode(resp: httpx.Response, type_: type[T]) -> T:
    """Decode a body as ``type_``; a malformed one is a :class:`ServiceError` (502)."""
    try:
        return msgspec.json.decode(resp.content, type=type_)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ServiceError(502, "BAD_BODY", "", f"{resp.request.url}: {exc}", body=resp.content) from exc
