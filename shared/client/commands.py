"""Orders through the commands service: place, modify, cancel, cancel-all, batches.

Every call sends the strategy's bearer token. A non-2xx answer raises a typed
:class:`~shared.client.errors.ServiceError` (``status``, ``error``, ``rule``, ``message``); a 2xx
answer is a :class:`~shared.client.models.CommandResult`. ``status == "unknown"`` (and
:class:`~shared.client.errors.ServiceUnreachable` on a place) means the outcome is not known yet:
the state shows the order as UNKNOWN until the reconciler's lookup settles it. Re-sending with the
SAME ``client_id`` is safe (the service is idempotent by client id); a new client id is not.

Usage::

    async with CommandsClient("http://127.0.0.1:8081", token) as cmd:
        r = await cmd.place("BTC-USD-PERP", "BUY", Decimal("0.01"), Decimal("60000"), wait="ws")
        o = await state.order_by_client_id(r.client_id, min_seq=r.seq)  # read-your-writes
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from types import TracebackType
from typing import Literal

import httpx
import msgspec

from shared.client.errors import ServiceError
from shared.client.http import Transport, decode, raise_for
from shared.client.models import (
    AlgoOrder,
    AlgoResult,
    CommandResult,
    KillResult,
    ModifyOrder,
    PlaceOrder,
    Wait,
)

_enc = msgspec.json.Encoder()


class _BatchItem(msgspec.Struct):
    http_status: int
    reply: msgspec.Raw


class _AlgoList(msgspec.Struct):
    results: list[AlgoOrder]


class _BatchBody(msgspec.Struct):
    results: list[_BatchItem]


def _header_seq(resp: httpx.Response) -> int:
    try:
        return int(resp.headers.get("x-stream-seq", 0))
    except ValueError:
        return 0


class CommandsClient:
    """One strategy's door to the commands service (``token``: its bearer token)."""

    def __init__(self, base_url: str, token: str, *, timeout_s: float = 15.0,
                 client: httpx.AsyncClient | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = Transport(base_url, timeout_s=timeout_s, headers=headers, client=client)
        if client is not None and token:
            client.headers["Authorization"] = f"Bearer {token}"
        self.timeout_s = timeout_s

    async def __aenter__(self) -> CommandsClient:
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _call(self, method: str, path: str, body: object = None, *, params: object = None,
                    timeout_s: float | None = None) -> CommandResult:
        content = _enc.encode(body) if body is not None else None
        resp = await self.http.request(method, path, params=params, content=content, timeout_s=timeout_s)
        raise_for(resp)
        result = decode(resp, CommandResult)
        return msgspec.structs.replace(result, http_status=resp.status_code,
                                       replayed=resp.headers.get("idempotent-replay") == "true",
                                       seq=result.seq or _header_seq(resp))

    async def submit(self, order: PlaceOrder) -> CommandResult:
        """``POST /v1/orders`` with a prepared :class:`PlaceOrder`."""
        timeout = None
        if order.wait == "ws":  # the service may hold the reply up to the order's wait time
            timeout = self.timeout_s + (order.timeout_s if order.timeout_s is not None else 60.0)
        return await self._call("POST", "/v1/orders", order, timeout_s=timeout)

    async def place(self, market: str, side: Literal["BUY", "SELL"], size: Decimal,
                    price: Decimal | None = None, *, type: str = "LIMIT", instruction: str = "GTC",
                    flags: Sequence[str] = (), client_id: str | None = None,
                    trigger_price: Decimal | None = None, wait: Wait = "ack",
                    timeout_s: float | None = None, stp: str | None = None) -> CommandResult:
        """Place one order. ``wait``: ``none`` (recorded, not yet sent), ``ack`` (venue answered),
        ``ws`` (the venue's WebSocket confirmed it, up to ``timeout_s``). Stop and take-profit
        types need ``trigger_price``; ``stp`` EXPIRE_MAKER / EXPIRE_TAKER / EXPIRE_BOTH."""
        return await self.submit(PlaceOrder(
            market=market, side=side, size=size, price=price, type=type, instruction=instruction,
            flags=tuple(flags), client_id=client_id, trigger_price=trigger_price, stp=stp, wait=wait,
            timeout_s=timeout_s))

    async def _algo(self, method: str, path: str, body: object = None) -> AlgoResult:
        resp = await self.http.request(method, path, content=_enc.encode(body) if body is not None else None)
        raise_for(resp)
        return msgspec.structs.replace(decode(resp, AlgoResult), http_status=resp.status_code)

    async def place_twap(self, market: str, side: Literal["BUY", "SELL"], size: Decimal,
                         duration_seconds: int, frequency: int | None = None) -> AlgoResult:
        """``POST /v1/algo/orders``: MARKET children every ``frequency`` s (venue default 30) over
        ``duration_seconds``. Not idempotent (the venue's algos have no client id): after an
        ``unknown`` answer, check :meth:`open_algos` before placing again."""
        body: dict[str, object] = {"market": market, "side": side, "size": str(size),
                                   "duration_seconds": duration_seconds}
        if frequency is not None:
            body["frequency"] = frequency
        return await self._algo("POST", "/v1/algo/orders", body)

    async def cancel_algo(self, algo_id: str) -> AlgoResult:
        """``DELETE /v1/algo/orders/{algo_id}``: the algo's record after the cancel in ``algo``."""
        return await self._algo("DELETE", f"/v1/algo/orders/{algo_id}")

    async def open_algos(self, market: str | None = None) -> list[AlgoOrder]:
        """The venue's NEW/OPEN algo orders (``GET /v1/algo/orders``)."""
        params = {"market": market} if market else None
        resp = await self.http.request("GET", "/v1/algo/orders", params=params)
        raise_for(resp)
        return decode(resp, _AlgoList).results

    async def place_batch(self, orders: Sequence[PlaceOrder], *, wait: Literal["none", "ack"] = "ack"
                          ) -> list[CommandResult | ServiceError]:
        """Place up to 50 orders; one result or error per order, in order (each result's ``seq``
        is its own; their max reads all of them)."""
        body = {"orders": list(orders), "wait": wait}
        resp = await self.http.request("POST", "/v1/orders/batch", content=_enc.encode(body))
        if resp.status_code not in (200, 201, 202, 207):
            raise_for(resp)
        out: list[CommandResult | ServiceError] = []
        for item in decode(resp, _BatchBody).results:
            fake = httpx.Response(item.http_status, content=bytes(item.reply), request=resp.request)
            try:
                raise_for(fake)
            except ServiceError as exc:
                out.append(exc)
                continue
            r = msgspec.json.decode(bytes(item.reply), type=CommandResult)
            out.append(msgspec.structs.replace(r, http_status=item.http_status))
        return out

    async def modify(self, order_id: str, market: str, side: Literal["BUY", "SELL"], size: Decimal,
                     price: Decimal | None = None, *, type: str = "LIMIT",
                     trigger_price: Decimal | None = None) -> CommandResult:
        """Modify an order's size/price (side and type must stay the same)."""
        body = ModifyOrder(market=market, side=side, size=size, price=price, type=type,
                           trigger_price=trigger_price)
        return await self._call("PUT", f"/v1/orders/{order_id}", body)

    async def cancel(self, order_id: str) -> CommandResult:
        """Cancel one order by exchange id (``cancel_requested``: CLOSED arrives over the WebSocket)."""
        return await self._call("DELETE", f"/v1/orders/{order_id}")

    async def cancel_by_client_id(self, client_id: str, market: str | None = None) -> CommandResult:
        """Cancel one order by client id."""
        params = {"market": market} if market else None
        return await self._call("DELETE", f"/v1/orders/by_client_id/{client_id}", params=params)

    async def cancel_all(self, market: str | None = None) -> CommandResult:
        """Cancel the strategy's live orders (all the account's if it may cancel others)."""
        params = {"market": market} if market else None
        return await self._call("DELETE", "/v1/orders", params=params)

    async def kill(self, reason: str = "") -> KillResult:
        """``POST /v1/kill``: cancel every live order and refuse new ones until :meth:`resume`.
        With the admin token: the whole account; with a strategy's token: that strategy only."""
        return await self._kill("/v1/kill", reason)

    async def resume(self, reason: str = "") -> KillResult:
        """``POST /v1/resume``: accept orders again after :meth:`kill` (same scope rules)."""
        return await self._kill("/v1/resume", reason)

    async def _kill(self, path: str, reason: str) -> KillResult:
        body = _enc.encode({"reason": reason} if reason else {})
        resp = await self.http.request("POST", path, content=body)
        raise_for(resp)
        return msgspec.structs.replace(decode(resp, KillResult), http_status=resp.status_code)

    async def healthz(self) -> tuple[bool, dict[str, object]]:
        """``GET /healthz`` (no token needed): (ok, details)."""
        resp = await self.http.request("GET", "/healthz")
        body = msgspec.json.decode(resp.content) if resp.content else {}
        return resp.status_code == 200, body if isinstance(body, dict) else {}

    async def cancel_batch(self, *, order_ids: Sequence[str] = (), client_ids: Sequence[str] = ()
                           ) -> CommandResult:
        """Cancel several orders; ``results`` lists each one's outcome."""
        body = {"order_ids": list(order_ids), "client_ids": list(client_ids)}
        return await self._call("DELETE", "/v1/orders/batch", body)
