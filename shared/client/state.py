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

from collections.abc import Iterable
from types import TracebackType
from typing import Any, Literal

import httpx
import msgspec

from shared.client.errors import NotFound
from shared.client.http import Transport, raise_for
from shared.client.models import (
    AccountView,
    AlgoView,
    BalanceView,
    Bbo,
    BookView,
    CommandResult,
    FillView,
    Health,
    MarketView,
    OrderView,
    Page,
    PositionView,
    Snapshot,
)
from shared.client.sse import EventStream

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

    def __init__(self, base_url: str, *, token: str | None = None, timeout_s: float = 10.0,
                 client: httpx.AsyncClient | None = None) -> None:
        """``token``: a read token, where the state service requires one (sent as a bearer)."""
        headers = {"Authorization": f"Bearer {token}"} if token else None
        self.http = Transport(base_url, timeout_s=timeout_s, client=client, headers=headers)
        if client is not None and token:
            client.headers["Authorization"] = f"Bearer {token}"

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

    async def markets(self, *, status: str | None = None) -> Snapshot[list[MarketView]]:
        """Every market's trading rules (tick size, size increment, min notional, max size, status:
        ``open``, ``pre_open``, ``expired``, ``rfq_only``; ``status`` filters)."""
        return await self.http.get("/v1/markets", Snapshot[list[MarketView]],
                                   {"status": status} if status else None)

    async def market(self, symbol: str) -> Snapshot[MarketView]:
        """One market's trading rules; :class:`NotFound` when the venue lists no such market."""
        return await self.http.get(f"/v1/markets/{symbol}", Snapshot[MarketView])

    async def algos(self, *, status: str | None = None, market: str | None = None,
                    min_seq: int | None = None) -> Snapshot[list[AlgoView]]:
        """TWAP algo orders with their linked child order ids (``status`` NEW, OPEN, CLOSED)."""
        params = {k: v for k, v in (("status", status), ("market", market), ("min_seq", min_seq))
                  if v is not None}
        return await self.http.get("/v1/algo/orders", Snapshot[list[AlgoView]], params or None)

    async def algo(self, algo_id: str, *, min_seq: int | None = None) -> Snapshot[AlgoView]:
        """One algo order; :class:`NotFound` when the state holds none with that id."""
        return await self.http.get(f"/v1/algo/orders/{algo_id}", Snapshot[AlgoView],
                                   {"min_seq": min_seq} if min_seq is not None else None)

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

    def events(self, kinds: Iterable[str] | None = None, *, after_seq: int | None = None,
               last_event_id: str | None = None, reconnect: bool = True, max_attempts: int | None = None,
               read_timeout_s: float = 60.0, resets: Literal["raise", "yield"] = "raise") -> EventStream:
        """Changes as the state applies them (Server-Sent Events), from now on, or after
        ``after_seq`` (the ``seq`` of a read: nothing between is missed), or after ``last_event_id``.

        The stream reconnects by itself (capped backoff; ``max_attempts`` consecutive failures
        then :class:`ServiceUnreachable`, None = forever) and resumes from its last event, so no
        change is missed or seen twice across a restart of the service; see
        :mod:`shared.client.sse` for ``reset``. ``read_timeout_s``: the server sends a keepalive
        every 15 s, so a silent connection is taken as dead after this long.
        """
        return EventStream(self.http, kinds, after_seq=after_seq, last_event_id=last_event_id,
                           reconnect=reconnect, max_attempts=max_attempts, read_timeout_s=read_timeout_s,
                           resets=resets)
