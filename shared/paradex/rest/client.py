"""Async Paradex REST client: one method per endpoint the hub uses, typed models in and out.

Every method goes through :class:`~shared.paradex.rest.session.RestSession` (the I/O seam and the
retry/auth/error policy): GETs are retried on transport errors, 429 and 5xx; order writes are sent
exactly once (plus one re-send after a 401). Example::

    async with await ParadexRest.connect(settings) as rest:        # fetches the chain id, signs
        order = await rest.place_order(market="BTC-USD-PERP", side="BUY", type="LIMIT",
                                       size="0.01", price="30000.5", instruction="POST_ONLY")
        async for fill in rest.iter_fills(market="BTC-USD-PERP", page_size=500):
            ...
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from decimal import Decimal
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

from shared.config import CommonSettings
from shared.errors import ConfigError
from shared.paradex.auth import JwtManager, auth_headers
from shared.paradex.models.account import Account, Balance, Fill, Order, Position
from shared.paradex.models.algo import AlgoOrder, AlgoOrderRequest
from shared.paradex.models.common import decode, encode
from shared.paradex.models.market_data import Bbo, MarketSummary, OrderBook
from shared.paradex.models.reference import Market, SystemConfig, SystemState, SystemTime
from shared.paradex.models.requests import (
    CancelBatchRequest,
    InstructionLiteral,
    ModifyOrderRequest,
    OrderFlagLiteral,
    OrderRequest,
    OrderTypeLiteral,
    SideLiteral,
    StpLiteral,
)
from shared.paradex.models.rest import AuthResponse, BatchOrderResponse, CancelBatchResponse, Page, Results
from shared.paradex.rest.orders import build_modify, build_order
from shared.paradex.rest.pagination import DEFAULT_MAX_PAGES, collect_all, iter_items
from shared.paradex.rest.ratelimit import RateLimit
from shared.paradex.rest.session import Params, RestSession
from shared.paradex.signer import OrderSigner

T = TypeVar("T")
Number = Decimal | str | int


def seg(value: str) -> str:
    """``value`` as ONE URL path segment: every reserved character percent-encoded (an id like
    ``%3Fmarket%3DX`` or ``../x`` can never change the venue path or add a query)."""
    return quote(value, safe="")


class ParadexRest:
    """The Paradex REST API (v1) at ``base_url``; see the module docstring.

    ``signer`` is needed for private endpoints (JWT) and order helpers; it can be set later with
    :meth:`set_signer` once the chain id is known. ``clock`` gives Unix seconds (signature
    timestamps, JWT renewal); the JWT is renewed ``jwt_renew_after_s`` after it was fetched or
    ``jwt_margin_s`` before it expires. Other keyword arguments go to :class:`RestSession` (timeouts,
    retry_policy, max_retries, rng, sleep, transport, on_request, on_response...).
    """

    def __init__(self, base_url: str, *, signer: OrderSigner | None = None,
                 clock: Callable[[], float] = time.time, jwt_renew_after_s: float = 180.0,
                 jwt_margin_s: float = 60.0, **session_kwargs: Any) -> None:
        self.clock = clock
        self.signer = signer
        self.jwt = JwtManager(self.auth, clock, renew_after_s=jwt_renew_after_s, margin_s=jwt_margin_s)
        self.session = RestSession(base_url, jwt=self.jwt, **session_kwargs)

    @classmethod
    async def connect(cls, settings: CommonSettings, **kwargs: Any) -> ParadexRest:
        """A client for ``settings.paradex_rest_url`` whose signer uses the venue's chain id
        (``GET /system/config``) and the account and L2 key from ``settings``."""
        client = cls(settings.paradex_rest_url, **kwargs)
        try:
            config = await client.system_config()
            client.set_signer(OrderSigner(settings.paradex_l2_private_key, settings.paradex_account,
                                          config.starknet_chain_id))
        except BaseException:
            await client.aclose()
            raise
        return client

    def set_signer(self, signer: OrderSigner) -> None:
        """Use ``signer`` for auth and orders from now on."""
        self.signer = signer

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.session.aclose()

    async def __aenter__(self) -> ParadexRest:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    @property
    def rate_limits(self) -> dict[str, RateLimit]:
        """The ``x-ratelimit-*`` headers last seen per endpoint family (``rest.ratelimit`` names)."""
        return self.session.rate_limits

    def _signer(self) -> OrderSigner:
        if self.signer is None:
            raise ConfigError("PARADEX_L2_PRIVATE_KEY", "this REST client has no signer (set_signer)")
        return self.signer

    def now_ms(self) -> int:
        """The client's clock in Unix milliseconds (used as ``signature_timestamp``)."""
        return int(self.clock() * 1000)

    # --- signing (public: any transport sends these bodies) --------------------------------------

    def sign_order(self, *, market: str, side: SideLiteral, type: OrderTypeLiteral, size: Number,
                   price: Number | None = None, instruction: InstructionLiteral = "GTC",
                   client_id: str | None = None, flags: Sequence[OrderFlagLiteral] = (),
                   stp: StpLiteral | None = None, trigger_price: Decimal | str | None = None,
                   recv_window: int | None = None, now_ms: int | None = None) -> OrderRequest:
        """A signed ``POST /orders`` body (``signature_timestamp`` = ``now_ms``, default now), the
        same for REST and the WebSocket ``order.create``. ConfigError without a signer."""
        return build_order(
            self._signer(), market=market, side=side, type=type, size=size, price=price,
            now_ms=self.now_ms() if now_ms is None else now_ms, instruction=instruction,
            client_id=client_id, flags=flags, stp=stp, trigger_price=trigger_price,
            recv_window=recv_window)

    def sign_modify(self, *, order_id: str, market: str, side: SideLiteral, type: OrderTypeLiteral,
                    size: Number, price: Number | None, trigger_price: Decimal | str | None = None,
                    now_ms: int | None = None) -> ModifyOrderRequest:
        """A signed ``PUT /orders/{order_id}`` body (side and type must equal the order's)."""
        return build_modify(
            self._signer(), order_id=order_id, market=market, side=side, type=type, size=size,
            price=price, now_ms=self.now_ms() if now_ms is None else now_ms, trigger_price=trigger_price)

    def sign_algo(self, *, market: str, side: SideLiteral, size: Number, duration_seconds: int,
                  frequency: int | None = None, recv_window: int | None = None,
                  now_ms: int | None = None) -> AlgoOrderRequest:
        """A signed ``POST /algo/orders`` TWAP body: the parent is signed like an order (``Order``
        typed data, type MARKET, price 0; OpenAPI ``requests.AlgoOrderRequest``)."""
        ts = self.now_ms() if now_ms is None else now_ms
        size_d = size if isinstance(size, Decimal) else Decimal(size)
        signature = self._signer().sign_order(market, side, "MARKET", size_d, Decimal(0), ts)
        return AlgoOrderRequest(
            algo_type="TWAP", market=market, side=side, type="MARKET", size=size_d,
            duration_seconds=duration_seconds, frequency=frequency, recv_window=recv_window,
            signature=signature, signature_timestamp=ts)

    async def _get(self, type_: type[T], path: str, params: Params | None = None, *,
                   private: bool = False) -> T:
        response = await self.session.request("GET", path, params=params, private=private, retry=True)
        return decode(type_, response.content)

    # --- public ----------------------------------------------------------------------------------

    async def system_config(self) -> SystemConfig:
        """``GET /system/config`` (chain id for signatures)."""
        return await self._get(SystemConfig, "/system/config")

    async def system_time(self) -> SystemTime:
        """``GET /system/time``."""
        return await self._get(SystemTime, "/system/time")

    async def system_state(self) -> SystemState:
        """``GET /system/state`` (ok / maintenance / cancel_only / post_only)."""
        return await self._get(SystemState, "/system/state")

    async def markets(self, market: str | None = None) -> list[Market]:
        """``GET /markets[?market=]``."""
        return (await self._get(Results[Market], "/markets", {"market": market})).results

    async def markets_summary(self, market: str = "ALL") -> list[MarketSummary]:
        """``GET /markets/summary?market=<symbol|ALL>``."""
        return (await self._get(Results[MarketSummary], "/markets/summary", {"market": market})).results

    async def orderbook(self, market: str, depth: int | None = None,
                        price_tick: str | None = None) -> OrderBook:
        """``GET /orderbook/{market}?depth=&price_tick=``."""
        return await self._get(OrderBook, f"/orderbook/{seg(market)}",
                               {"depth": depth, "price_tick": price_tick})

    async def bbo(self, market: str) -> Bbo:
        """``GET /bbo/{market}``."""
        return await self._get(Bbo, f"/bbo/{seg(market)}")

    # --- auth --------------------------------------------------------------------------------------

    async def auth(self) -> str:
        """``POST /auth`` with freshly signed headers; returns the JWT (the JwtManager's fetch)."""
        headers = auth_headers(self._signer(), int(self.clock()))
        response = await self.session.request("POST", "/auth", headers=headers)
        return decode(AuthResponse, response.content).jwt_token

    # --- orders: writes (never retried) -----------------------------------------------------------

    async def create_order(self, order: OrderRequest) -> Order:
        """``POST /orders`` → the order in status NEW. A TransportError means outcome unknown."""
        response = await self.session.request("POST", "/orders", body=encode(order), private=True)
        return decode(Order, response.content)

    async def place_order(self, *, market: str, side: SideLiteral, type: OrderTypeLiteral, size: Number,
                          price: Number | None = None, instruction: InstructionLiteral = "GTC",
                          client_id: str | None = None, flags: Sequence[OrderFlagLiteral] = (),
                          stp: StpLiteral | None = None, trigger_price: Decimal | str | None = None,
                          recv_window: int | None = None) -> Order:
        """Sign (``signature_timestamp`` = now) and ``POST /orders``."""
        return await self.create_order(self.sign_order(
            market=market, side=side, type=type, size=size, price=price, instruction=instruction,
            client_id=client_id, flags=flags, stp=stp, trigger_price=trigger_price,
            recv_window=recv_window))

    async def create_orders(self, orders: Sequence[OrderRequest]) -> BatchOrderResponse:
        """``POST /orders/batch``: accepted orders and per-order errors."""
        response = await self.session.request("POST", "/orders/batch", body=encode(list(orders)),
                                              private=True)
        return decode(BatchOrderResponse, response.content)

    async def modify_order(self, modify: ModifyOrderRequest) -> Order:
        """``PUT /orders/{id}``."""
        response = await self.session.request("PUT", f"/orders/{seg(modify.id)}", body=encode(modify),
                                              private=True)
        return decode(Order, response.content)

    async def amend_order(self, *, order_id: str, market: str, side: SideLiteral, type: OrderTypeLiteral,
                          size: Number, price: Number | None,
                          trigger_price: Decimal | str | None = None) -> Order:
        """Sign (now) and ``PUT /orders/{order_id}`` (side and type must equal the order's)."""
        return await self.modify_order(self.sign_modify(
            order_id=order_id, market=market, side=side, type=type, size=size, price=price,
            trigger_price=trigger_price))

    async def cancel_order(self, order_id: str) -> None:
        """``DELETE /orders/{order_id}`` (204: queued for cancellation)."""
        await self.session.request("DELETE", f"/orders/{seg(order_id)}", private=True)

    async def cancel_order_by_client_id(self, client_id: str, market: str | None = None) -> None:
        """``DELETE /orders/by_client_id/{client_id}[?market=]`` (204)."""
        await self.session.request("DELETE", f"/orders/by_client_id/{seg(client_id)}",
                                   params={"market": market}, private=True)

    async def cancel_all_orders(self, market: str | None = None) -> None:
        """``DELETE /orders[?market=]``: cancel every open order (of one market)."""
        await self.session.request("DELETE", "/orders", params={"market": market}, private=True)

    async def cancel_orders(self, order_ids: Sequence[str] = (),
                            client_order_ids: Sequence[str] = ()) -> CancelBatchResponse:
        """``DELETE /orders/batch``: per-order QUEUED_FOR_CANCELLATION / ALREADY_CLOSED / NOT_FOUND."""
        body = encode(CancelBatchRequest(order_ids=list(order_ids), client_order_ids=list(client_order_ids)))
        response = await self.session.request("DELETE", "/orders/batch", body=body, private=True)
        return decode(CancelBatchResponse, response.content)

    # --- private reads (retried) -------------------------------------------------------------------

    async def open_orders(self, market: str | None = None) -> list[Order]:
        """``GET /orders[?market=]``: open orders (not paginated)."""
        return (await self._get(Results[Order], "/orders", {"market": market}, private=True)).results

    async def order(self, order_id: str) -> Order:
        """``GET /orders/{order_id}``."""
        return await self._get(Order, f"/orders/{seg(order_id)}", private=True)

    async def order_by_client_id(self, client_id: str) -> Order:
        """``GET /orders/by_client_id/{client_id}``."""
        return await self._get(Order, f"/orders/by_client_id/{seg(client_id)}", private=True)

    async def orders_history(self, *, market: str | None = None, client_id: str | None = None,
                             side: str | None = None, status: str | None = None, type: str | None = None,
                             start_at: int | None = None, end_at: int | None = None,
                             cursor: str | None = None, page_size: int | None = None) -> Page[Order]:
        """One page of ``GET /orders-history`` (filters as the venue's; times in ms)."""
        params = {"market": market, "client_id": client_id, "side": side, "status": status, "type": type,
                  "start_at": start_at, "end_at": end_at, "cursor": cursor, "page_size": page_size}
        return await self._get(Page[Order], "/orders-history", params, private=True)

    def iter_orders_history(self, *, page_size: int = 100, max_pages: int = DEFAULT_MAX_PAGES,
                            **filters: Any) -> AsyncIterator[Order]:
        """Every order of ``/orders-history`` matching ``filters``, page by page."""
        return iter_items(lambda c: self.orders_history(cursor=c, page_size=page_size, **filters),
                          max_pages=max_pages, what="GET /orders-history")

    async def all_orders_history(self, *, page_size: int = 100, max_pages: int = DEFAULT_MAX_PAGES,
                                 **filters: Any) -> list[Order]:
        """:meth:`iter_orders_history` collected into a list."""
        return await collect_all(lambda c: self.orders_history(cursor=c, page_size=page_size, **filters),
                                 max_pages=max_pages, what="GET /orders-history")

    async def fills(self, *, market: str | None = None, asset_kind: str | None = None,
                    start_at: int | None = None, end_at: int | None = None, cursor: str | None = None,
                    page_size: int | None = None) -> Page[Fill]:
        """One page of ``GET /fills``."""
        params = {"market": market, "asset_kind": asset_kind, "start_at": start_at, "end_at": end_at,
                  "cursor": cursor, "page_size": page_size}
        return await self._get(Page[Fill], "/fills", params, private=True)

    def iter_fills(self, *, page_size: int = 100, max_pages: int = DEFAULT_MAX_PAGES,
                   **filters: Any) -> AsyncIterator[Fill]:
        """Every fill matching ``filters``, page by page."""
        return iter_items(lambda c: self.fills(cursor=c, page_size=page_size, **filters),
                          max_pages=max_pages, what="GET /fills")

    async def all_fills(self, *, page_size: int = 100, max_pages: int = DEFAULT_MAX_PAGES,
                        **filters: Any) -> list[Fill]:
        """:meth:`iter_fills` collected into a list."""
        return await collect_all(lambda c: self.fills(cursor=c, page_size=page_size, **filters),
                                 max_pages=max_pages, what="GET /fills")

    async def positions(self) -> list[Position]:
        """``GET /positions``."""
        return (await self._get(Results[Position], "/positions", private=True)).results

    async def account(self) -> Account:
        """``GET /account``: margin summary."""
        return await self._get(Account, "/account", private=True)

    async def balance(self) -> list[Balance]:
        """``GET /balance``."""
        return (await self._get(Results[Balance], "/balance", private=True)).results

    # --- algo (TWAP) orders --------------------------------------------------------------------------

    async def create_algo_order(self, algo: AlgoOrderRequest) -> AlgoOrder:
        """``POST /algo/orders`` (sent once) → the algo in status NEW (201)."""
        response = await self.session.request("POST", "/algo/orders", body=encode(algo), private=True)
        return decode(AlgoOrder, response.content)

    async def cancel_algo_order(self, algo_id: str) -> None:
        """``DELETE /algo/orders/{algo_id}`` (204: queued for cancellation)."""
        await self.session.request("DELETE", f"/algo/orders/{seg(algo_id)}", private=True)

    async def open_algo_orders(self, market: str | None = None) -> list[AlgoOrder]:
        """``GET /algo/orders``: NEW and OPEN algos (not paginated)."""
        return (await self._get(Results[AlgoOrder], "/algo/orders", {"market": market},
                                private=True)).results

    async def algo_order(self, algo_id: str) -> AlgoOrder:
        """``GET /algo/orders/{algo_id}``."""
        return await self._get(AlgoOrder, f"/algo/orders/{seg(algo_id)}", private=True)

    async def algo_orders_history(self, *, market: str | None = None, status: str | None = None,
                                  start_at: int | None = None, end_at: int | None = None,
                                  cursor: str | None = None, page_size: int | None = None
                                  ) -> Page[AlgoOrder]:
        """One page of ``GET /algo/orders-history`` (newest first)."""
        params = {"market": market, "status": status, "start_at": start_at, "end_at": end_at,
                  "cursor": cursor, "page_size": page_size}
        return await self._get(Page[AlgoOrder], "/algo/orders-history", params, private=True)
