"""The one I/O seam of the REST client: send a request, translate failures, retry what is safe.

:class:`RestSession` owns the ``httpx.AsyncClient`` (HTTP/1.1, keep-alive pool) and applies the
policy of every request in one place:

* private requests carry ``Authorization: Bearer <JWT>`` from a :class:`JwtManager`; a 401 on a
  private request invalidates that token and the request is sent ONCE more with a fresh one (a
  401 means the venue did not act, so even an order POST is safe to resend);
* safe requests (``retry=True``, the client uses it for GETs only) are retried with capped,
  jittered backoff on transport errors, 429 (waiting ``Retry-After`` when the venue says, unless
  it exceeds the policy's cap) and 5xx; anything else is raised at once. Order writes are never
  retried: a timeout there raises :class:`TransportError` and the caller resolves it by lookup;
* httpx exceptions and error responses become the hub's typed errors (``rest.errors``), raised
  ``from`` the original; a transport failure says whether any byte of the request was written
  (``TransportError.delivery``: ``not_sent`` before the first write, from httpcore's trace
  events, else ``unknown``);
* the ``x-ratelimit-*`` headers of the last response of each endpoint family are kept;
* optional hooks see each attempt: ``on_request(method, path, attempt)`` just before sending and
  ``on_response(RequestTiming)`` afterwards, with the time the request was fully written
  (``wire_s``, from httpcore's trace extension) and the total.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from shared.errors import AuthError, RateLimitedError, TransportError, VenueError
from shared.paradex.auth import JwtManager
from shared.paradex.rest.errors import error_from_response, error_from_transport
from shared.paradex.rest.ratelimit import RateLimit, endpoint_family, parse_rate_limit
from shared.paradex.retry import BackoffPolicy, Rng

Params = Mapping[str, str | int | None]

KEEPALIVE_EXPIRY_S = 30.0
"""How long an idle connection is kept for reuse. Below the venue's idle timeout, or a request sent
on a connection the venue is closing is lost (an order POST then answers nothing definite). Load
balancers commonly close at 60 s; the simulator at 75 s (``shared.httpserve.KEEP_ALIVE_S``)."""


@dataclass(frozen=True, slots=True)
class RestTimeouts:
    """Seconds allowed to connect, to write a request, to wait for a response and for a pooled
    connection. The venue itself gives up after 30 s (503)."""

    connect_s: float = 3.0
    read_s: float = 10.0
    write_s: float = 5.0
    pool_s: float = 3.0

    def to_httpx(self) -> httpx.Timeout:
        """The equivalent ``httpx.Timeout``."""
        return httpx.Timeout(connect=self.connect_s, read=self.read_s, write=self.write_s, pool=self.pool_s)


@dataclass(frozen=True, slots=True)
class RequestTiming:
    """One attempt of one request, as seen by ``on_response`` (``perf_counter`` seconds).

    ``sent`` is when the request body was fully written to the socket (``None`` if it never was);
    ``status`` is ``None`` when no response arrived; ``error`` names the failure, if any.
    """

    method: str
    path: str
    family: str
    attempt: int
    started: float
    sent: float | None
    finished: float
    status: int | None
    error: str | None = None

    @property
    def wire_s(self) -> float | None:
        """Seconds from the call to the request being on the wire (time-to-wire)."""
        return None if self.sent is None else self.sent - self.started

    @property
    def total_s(self) -> float:
        """Seconds from the call to the response (or failure)."""
        return self.finished - self.started


def retry_delay(exc: TransportError | VenueError, attempt: int, policy: BackoffPolicy, max_retries: int,
                rng: Rng = random.random) -> float | None:
    """How long to wait before retry ``attempt + 1`` of a SAFE request after ``exc``; ``None`` to
    give up: retries exhausted, a 4xx other than 429, or a ``Retry-After`` above ``policy.max_s``."""
    if attempt >= max_retries:
        return None
    if isinstance(exc, RateLimitedError):
        if exc.retry_after_s is not None:
            return exc.retry_after_s if exc.retry_after_s <= policy.max_s else None
    elif isinstance(exc, VenueError) and exc.status < 500:
        return None
    return policy.delay(attempt, rng)


RequestHook = Callable[[str, str, int], None]
ResponseHook = Callable[[RequestTiming], None]
Sleep = Callable[[float], Awaitable[None]]


class RestSession:
    """Sends requests to one Paradex REST root; see the module docstring for the policy."""

    def __init__(self, base_url: str, *, timeouts: RestTimeouts | None = None,
                 retry_policy: BackoffPolicy | None = None, max_retries: int = 3,
                 rng: Rng = random.random, sleep: Sleep = asyncio.sleep,
                 jwt: JwtManager | None = None, transport: httpx.AsyncBaseTransport | None = None,
                 max_connections: int = 20, keepalive_expiry_s: float = KEEPALIVE_EXPIRY_S,
                 on_request: RequestHook | None = None, on_response: ResponseHook | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry_policy = retry_policy or BackoffPolicy(initial_s=0.05, max_s=2.0)
        self.max_retries = max_retries
        self.jwt = jwt
        self.on_request = on_request
        self.on_response = on_response
        self.rate_limits: dict[str, RateLimit] = {}
        self._rng = rng
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=self.base_url, timeout=(timeouts or RestTimeouts()).to_httpx(), http1=True,
            http2=False, transport=transport, follow_redirects=False,
            limits=httpx.Limits(max_connections=max_connections,
                                max_keepalive_connections=max_connections,
                                keepalive_expiry=keepalive_expiry_s),
            headers={"Accept": "application/json", "User-Agent": "paradex-hub"})

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._http.is_closed

    async def request(self, method: str, path: str, *, params: Params | None = None,
                      body: bytes | None = None, headers: Mapping[str, str] | None = None,
                      private: bool = False, retry: bool = False) -> httpx.Response:
        """Send ``method path`` and return the 2xx response (body read), or raise a typed error.

        ``private`` adds the JWT (and the one re-send after a 401); ``retry`` allows backoff
        retries on transport errors, 429 and 5xx — only for requests that are safe to repeat.
        """
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        attempt = 0
        reauthed = False
        while True:
            token: str | None = None
            try:
                # Inside the try: a failed JWT fetch (transport, 5xx) is retried like the request.
                if private and self.jwt is not None:
                    token = await self.jwt.token()
                return await self._send(method, path, query, body, headers, token, attempt)
            except AuthError:
                if token is None or reauthed or self.jwt is None:
                    raise
                self.jwt.invalidate(token)
                reauthed = True
            except (TransportError, VenueError) as exc:
                delay = (retry_delay(exc, attempt, self.retry_policy, self.max_retries, self._rng)
                         if retry else None)
                if delay is None:
                    raise
                await self._sleep(delay)
                attempt += 1

    async def _send(self, method: str, path: str, query: dict[str, str], body: bytes | None,
                    headers: Mapping[str, str] | None, token: str | None, attempt: int) -> httpx.Response:
        all_headers: dict[str, str] = dict(headers or {})
        if body is not None:
            all_headers["Content-Type"] = "application/json"
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        family = endpoint_family(method, path)
        sent: list[float] = []
        wire = _Wire(sent)
        request = self._http.build_request(method, path, params=query, content=body, headers=all_headers,
                                           extensions={"trace": wire.trace})
        if self.on_request is not None:
            self.on_request(method, path, attempt)
        started = time.perf_counter()
        try:
            response = await self._http.send(request)
        except httpx.HTTPError as exc:
            error = error_from_transport(exc, method, path, written=wire.writing)
            self._report(method, path, family, attempt, started, sent, None, str(error))
            raise error from exc
        self._note_rate_limit(family, response)
        if response.is_success:
            self._report(method, path, family, attempt, started, sent, response.status_code, None)
            return response
        venue_error = error_from_response(response)
        self._report(method, path, family, attempt, started, sent, response.status_code, venue_error.code)
        raise venue_error

    def _note_rate_limit(self, family: str, response: httpx.Response) -> None:
        info = parse_rate_limit(response.headers, time.monotonic())
        if info is not None:
            self.rate_limits[family] = info

    def _report(self, method: str, path: str, family: str, attempt: int, started: float,
                sent: list[float], status: int | None, error: str | None) -> None:
        if self.on_response is not None:
            self.on_response(RequestTiming(method, path, family, attempt, started, sent[0] if sent else None,
                                           time.perf_counter(), status, error))


class _Wire:
    """An httpcore ``trace`` callback: whether writing the request began (``writing``: from then on
    the venue may have seen it) and when its body was fully written (appended to ``sent``)."""

    __slots__ = ("sent", "writing")

    def __init__(self, sent: list[float]) -> None:
        self.sent = sent
        self.writing = False

    async def trace(self, event: str, info: dict[str, Any]) -> None:
        if event.endswith("send_request_headers.started"):
            self.writing = True
        elif event.endswith("send_request_body.complete"):
            self.sent.append(time.perf_counter())
