"""Reads of the state service over HTTP, and its ``/v1/events`` Server-Sent Events as an iterator.

Usage::

    async with StateClient("http://127.0.0.1:8080") as state:
        open_orders = (await state.orders(status=["OPEN", "PENDING_NEW"], market="BTC-USD-PERP")).value
        async for change in state.events(kinds=["order", "fill"]):
            ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from types import TracebackType

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
    FillView,
    Health,
    OrderView,
    PositionView,
    Snapshot,
)


class StateClient:
    """Typed queries of one state service (``base_url`` like ``http://127.0.0.1:8080``)."""

    def __init__(self, base_url: str, *, timeout_s: float = 10.0,
                 client: httpx.AsyncClient | None = None) -> None:
        self.http = Transport(base_url, timeout_s=timeout_s, client=client)

    async def __aenter__(self) -> StateClient:
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (if this client created it)."""
        await self.http.aclose()

    async def orders(self, *, status: str | Iterable[str] | None = None, market: str | None = None,
                     client_id: str | None = None) -> Snapshot[list[OrderView]]:
        """Orders (sorted by key), filtered by displayed status(es), market and client id."""
        params: list[tuple[str, str]] = []
        if status is not None:
            params += [("status", s) for s in ([status] if isinstance(status, str) else status)]
        if market is not None:
            params.append(("market", market))
        if client_id is not None:
            params.append(("client_id", client_id))
        return await self.http.get("/v1/orders", Snapshot[list[OrderView]], params or None)

    async def order(self, order_id: str) -> Snapshot[OrderView]:
        """One order by exchange id; :class:`NotFound` when unknown."""
        return await self.http.get(f"/v1/orders/{order_id}", Snapshot[OrderView])

    async def order_by_client_id(self, client_id: str) -> Snapshot[OrderView]:
        """One order by client id; :class:`NotFound` when unknown."""
        return await self.http.get(f"/v1/orders/by_client_id/{client_id}", Snapshot[OrderView])

    async def find_order(self, client_id: str) -> OrderView | None:
        """The order with ``client_id``, or None (no exception) when the state has none."""
        try:
            return (await self.order_by_client_id(client_id)).value
        except NotFound:
            return None

    async def positions(self) -> Snapshot[list[PositionView]]:
        """Positions by market (flat ones included)."""
        return await self.http.get("/v1/positions", Snapshot[list[PositionView]])

    async def account(self) -> Snapshot[AccountView]:
        """The account summary; :class:`NotFound` before the first record."""
        return await self.http.get("/v1/account", Snapshot[AccountView])

    async def balances(self) -> Snapshot[list[BalanceView]]:
        """Balances by token."""
        return await self.http.get("/v1/balances", Snapshot[list[BalanceView]])

    async def fills(self, *, market: str | None = None, order_id: str | None = None,
                    limit: int | None = None) -> Snapshot[list[FillView]]:
        """Fills, oldest first; ``limit`` keeps the most recent N."""
        params = {k: v for k, v in (("market", market), ("order_id", order_id), ("limit", limit))
                  if v is not None}
        return await self.http.get("/v1/fills", Snapshot[list[FillView]], params or None)

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
