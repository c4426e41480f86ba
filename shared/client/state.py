"""Reads of the state service over HTTP, and its ``/v1/events`` Server-Sent Events as an iterator.

Read-your-writes: every account query takes ``min_seq`` (the ``seq`` of a
:class:`~shared.client.models.CommandResult`): the answer then reflects that command, e.g. an order
placed through the commands service is never missing::

    r = await cmd.place("BTC-USD-PERP", "BUY", Decimal("0.01"), Decimal("60000"))
    o = (await state.order_by_client_id(r.client_id, min_seq=r.seq)).value

If the state does not reach ``min_seq`` within ``min_seq_timeout_ms`` the call raises
:class:`~shared.client.errors.Unavailable` (``error == "SEQ_NOT_REACHED"``).

Usage::

    async with StateClient("http://127.0.0.1:8080") as state:
        open_orders = (await state.orders(status=["OPEN", "PENDING_NEW"], market="BTC-USD-PERP")).value
        async for change in state.events(kinds=["order", "fill"]):
            ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from types import TracebackType
from typing import Any

import httpx
import msgspec

from shared.client.errors import EventsOverflow, NotFound, ServiceUnreachable
from shared.client.http import Transport, raise_for
from shared.client.models import (
    AccountView,
    BalanceView,
    Bbo,
    BookView,
    Change,
    CommandResult,
    FillView,
    Health,
    MarketSpecView,
    OrderView,
    Page,
    PositionView,
    Snapshot,
)

PAGE_MAX = 1000
"""The largest page the state service serves (``limit``)."""


def _seq_params(params: list[tuple[str, Any]], min_seq: int | None, timeout_ms: int | None
                ) -> list[tuple[str, Any]] | None:
    if min_seq:
        params.append(("min_seq", min_seq))
        if timeout_ms is not None:
            params.append(("min_seq_timeout_ms", timeout_ms))
    return params or None


class StateClient:
    """Typed queries of one state service (``base_url`` like ``http://127.0.0.1:8080``)."""

    def __init__(self, base_url: str, *, timeout_s: float = 10.0, token: str | None = None,
                 client: httpx.AsyncClient | None = None) -> None:
        """``token``: a read token, when the service requires one (``STATE_READ_TOKENS``)."""
        headers = {"Authorization": f"Bearer {token}"} if token else None
        self.http = Transport(base_url, timeout_s=timeout_s, headers=headers, client=client)

    async def __aenter__(self) -> StateClient:
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (if this client created it)."""
        await self.http.aclose()

    async def orders_page(self, *, status: str | Iterable[str] | None = None, market: str | None = None,
                          client_id: str | None = None, limit: int | None = None, cursor: str | None = None,
                          min_seq: int | None = None, min_seq_timeout_ms: int | None = None
                          ) -> Page[list[OrderView]]:
        """One page of orders in key order (``limit``: the service's default 100, at most 1000;
        ``cursor``: the previous page's ``next_cursor``), filtered as :meth:`orders`."""
        params: list[tuple[str, Any]] = []
        if status is not None:
            params += [("status", s) for s in ([status] if isinstance(status, str) else status)]
        if market is not None:
            params.append(("market", market))
        if client_id is not None:
            params.append(("client_id", client_id))
        if limit is not None:
            params.append(("limit", limit))
        if cursor is not None:
            params.append(("cursor", cursor))
        return await self.http.get("/v1/orders", Page[list[OrderView]],
                                   _seq_params(params, min_seq, min_seq_timeout_ms))

    async def orders(self, *, status: str | Iterable[str] | None = None, market: str | None = None,
                     client_id: str | None = None, min_seq: int | None = None,
                     min_seq_timeout_ms: int | None = None) -> Snapshot[list[OrderView]]:
        """Every order (sorted by key), filtered by displayed status(es), market and client id; as of
        at least ACCOUNT sequence ``min_seq`` when given (see the module docstring).

        Read page by page (1000 a page); ``seq`` is the first page's (each later page reflects at
        least that). An order created or evicted between two pages may be missing or extra."""
        statuses = None if status is None else [status] if isinstance(status, str) else list(status)
        page = await self.orders_page(status=statuses, market=market, client_id=client_id, limit=PAGE_MAX,
                                      min_seq=min_seq, min_seq_timeout_ms=min_seq_timeout_ms)
        seq, out = page.seq, list(page.value)
        while page.next_cursor is not None:
            page = await self.orders_page(status=statuses, market=market, client_id=client_id,
                                          limit=PAGE_MAX, cursor=page.next_cursor)
            out += page.value
        return Snapshot(seq=seq, value=out)

    async def order(self, order_id: str, *, min_seq: int | None = None,
                    min_seq_timeout_ms: int | None = None) -> Snapshot[OrderView]:
        """One order by exchange id; :class:`NotFound` when unknown."""
        return await self.http.get(f"/v1/orders/{order_id}", Snapshot[OrderView],
                                   _seq_params([], min_seq, min_seq_timeout_ms))

    async def order_by_client_id(self, client_id: str, *, min_seq: int | None = None,
                                 min_seq_timeout_ms: int | None = None) -> Snapshot[OrderView]:
        """One order by client id; :class:`NotFound` when unknown (with ``min_seq`` from the place's
        :class:`CommandResult`, an order placed through the commands service is always found)."""
        return await self.http.get(f"/v1/orders/by_client_id/{client_id}", Snapshot[OrderView],
                                   _seq_params([], min_seq, min_seq_timeout_ms))

    async def find_order(self, client_id: str, *, min_seq: int | None = None,
                         min_seq_timeout_ms: int | None = None) -> OrderView | None:
        """The order with ``client_id``, or None (no exception) when the state has none."""
        try:
            return (await self.order_by_client_id(client_id, min_seq=min_seq,
                                                  min_seq_timeout_ms=min_seq_timeout_ms)).value
        except NotFound:
            return None

    async def order_of(self, result: CommandResult, *, min_seq_timeout_ms: int | None = None
                       ) -> Snapshot[OrderView]:
        """The state's order of a commands ``result`` (a place), read as of its ``seq``."""
        return await self.order_by_client_id(result.client_id, min_seq=result.seq,
                                             min_seq_timeout_ms=min_seq_timeout_ms)

    async def positions(self, *, min_seq: int | None = None,
                        min_seq_timeout_ms: int | None = None) -> Snapshot[list[PositionView]]:
        """Positions by market (flat ones included)."""
        return await self.http.get("/v1/positions", Snapshot[list[PositionView]],
                                   _seq_params([], min_seq, min_seq_timeout_ms))

    async def account(self, *, min_seq: int | None = None,
                      min_seq_timeout_ms: int | None = None) -> Snapshot[AccountView]:
        """The account summary; :class:`NotFound` before the first record."""
        return await self.http.get("/v1/account", Snapshot[AccountView],
                                   _seq_params([], min_seq, min_seq_timeout_ms))

    async def balances(self, *, min_seq: int | None = None,
                       min_seq_timeout_ms: int | None = None) -> Snapshot[list[BalanceView]]:
        """Balances by token."""
        return await self.http.get("/v1/balances", Snapshot[list[BalanceView]],
                                   _seq_params([], min_seq, min_seq_timeout_ms))

    async def fills_page(self, *, market: str | None = None, order_id: str | None = None,
                         limit: int | None = None, cursor: str | None = None, min_seq: int | None = None,
                         min_seq_timeout_ms: int | None = None) -> Page[list[FillView]]:
        """One page of fills: the first page holds the ``limit`` most recent (default 100, at most
        1000), oldest first; ``next_cursor`` leads to older fills."""
        params = [(k, v) for k, v in (("market", market), ("order_id", order_id), ("limit", limit),
                                      ("cursor", cursor)) if v is not None]
        return await self.http.get("/v1/fills", Page[list[FillView]],
                                   _seq_params(params, min_seq, min_seq_timeout_ms))

    async def fills(self, *, market: str | None = None, order_id: str | None = None,
                    limit: int | None = None, min_seq: int | None = None,
                    min_seq_timeout_ms: int | None = None) -> Snapshot[list[FillView]]:
        """Fills, oldest first; ``limit`` keeps the most recent N (None: every fill the state holds).
        Read page by page; ``seq`` is the first (most recent) page's."""
        want = limit
        size = min(PAGE_MAX, want) if want is not None else PAGE_MAX
        page = await self.fills_page(market=market, order_id=order_id, limit=size, min_seq=min_seq,
                                     min_seq_timeout_ms=min_seq_timeout_ms)
        seq, pages = page.seq, [page.value]
        got = len(page.value)
        while page.next_cursor is not None and (want is None or got < want):
            size = min(PAGE_MAX, want - got) if want is not None else PAGE_MAX
            page = await self.fills_page(market=market, order_id=order_id, limit=size,
                                         cursor=page.next_cursor)
            pages.append(page.value)
            got += len(page.value)
        return Snapshot(seq=seq, value=[f for p in reversed(pages) for f in p])

    async def markets(self, *, status: str | None = None) -> Snapshot[list[MarketSpecView]]:
        """The venue's market specs (tick size, size increment, min notional, max size, status)."""
        return await self.http.get("/v1/markets", Snapshot[list[MarketSpecView]],
                                   {"status": status} if status else None)

    async def market(self, symbol: str) -> Snapshot[MarketSpecView]:
        """One market's spec; :class:`NotFound` when the venue lists no such market."""
        return await self.http.get(f"/v1/markets/{symbol}", Snapshot[MarketSpecView])

    async def book(self, market: str, depth: int = 15) -> Snapshot[BookView]:
        """The best ``depth`` levels of ``market``'s book (check ``value.valid``)."""
        return await self.http.get(f"/v1/book/{market}", Snapshot[BookView], {"depth": depth})

    async def bbo(self, market: str) -> Snapshot[Bbo]:
        """Best bid/offer of ``market`` (check ``value.valid``)."""
        return await self.http.get(f"/v1/bbo/{market}", Snapshot[Bbo])

    async def health(self) -> Snapshot[Health]:
        """Per-stream health; answered whether or not the service is healthy (503 included)."""
        resp = await self.http.request("GET", "/v1/health")
        if resp.status_code not in (200, 503):
            raise_for(resp)
        return msgspec.json.decode(resp.content, type=Snapshot[Health])

    async def events(self, kinds: Iterable[str] | None = None, *,
                     read_timeout_s: float = 60.0) -> AsyncIterator[Change]:
        """Changes as the state applies them, from now on (Server-Sent Events).

        The server sends a keepalive every 15 s, so ``read_timeout_s`` detects a dead connection.
        :class:`EventsOverflow` when the server cut us off for reading too slowly.
        """
        params = {"kinds": ",".join(kinds)} if kinds else None
        timeout = httpx.Timeout(10.0, read=read_timeout_s)
        try:
            async with self.http.client.stream("GET", "/v1/events", params=params, timeout=timeout) as resp:
                if resp.status_code >= 300:
                    await resp.aread()
                    raise_for(resp)
                event, data = "", ""
                async for line in resp.aiter_lines():
                    if line:
                        if line.startswith("event:"):
                            event = line[6:].strip()
                        elif line.startswith("data:"):
                            data = line[5:].strip()
                        continue
                    if event == "overflow":
                        raise EventsOverflow("the state service cut this SSE client off (too slow)")
                    if data:
                        yield msgspec.json.decode(data, type=Change)
                    event, data = "", ""
        except httpx.TransportError as exc:
            raise ServiceUnreachable(f"{self.http.base_url}/v1/events", f"{type(exc).__name__}: {exc}") \
                from exc
