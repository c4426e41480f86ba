"""ccxt-shaped conveniences over the typed client, for strategies written against ccxt (pro).

:class:`ParadexHub` answers with ccxt's unified structures (plain dicts, numbers as floats, the
typed record under ``"info"``) and takes market ids (``BTC-USD-PERP``) or unified symbols
(``BTC/USD:USDC``) alike::

    async with ParadexHub(state_url, commands_url, token) as ex:
        markets = await ex.load_markets()
        order = await ex.create_order("BTC/USD:USDC", "limit", "buy", 0.01, 60000,
                                      {"clientOrderId": "mm-1", "postOnly": True})
        while True:
            for o in await ex.watch_orders("BTC/USD:USDC"):   # blocks until orders change
                ...

Amounts and prices go to the service as exact decimals (``Decimal(str(x))``), never as binary
floats. Everything here is a thin mapping over :class:`StateClient` / :class:`CommandsClient`;
use those directly for read-your-writes (``min_seq``), idempotency records and typed errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from collections.abc import Iterable, Mapping
from decimal import Decimal
from types import TracebackType
from typing import Any, Literal

from shared.client.commands import CommandsClient
from shared.client.errors import ClientError, EventsReset, NotFound
from shared.client.models import BookView, CommandResult, MarketView, OrderView, PositionView
from shared.client.state import StateClient

Json = dict[str, Any]
OPEN_STATUSES = ("PENDING_NEW", "UNKNOWN", "NEW", "UNTRIGGERED", "OPEN", "PENDING_CANCEL")
_STATUS = {"CLOSED": "closed", "REJECTED": "rejected"}
_TIF = {"GTC": "GTC", "IOC": "IOC", "PO": "POST_ONLY", "POST_ONLY": "POST_ONLY", "RPI": "RPI"}


def _f(x: Decimal | None) -> float | None:
    return None if x is None else float(x)


def _dec(x: float | int | str | Decimal) -> Decimal:
    return x if isinstance(x, Decimal) else Decimal(str(x))


def _iso(ms: int | None) -> str | None:
    if not ms:
        return None
    t = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)
    return t.isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"


def unified_symbol(m: MarketView) -> str:
    """ccxt's symbol of a perpetual: ``BASE/QUOTE:SETTLE`` (``BTC-USD-PERP`` -> ``BTC/USD:USDC``)."""
    parts = m.symbol.split("-")
    base = m.base_currency or parts[0]
    quote = m.quote_currency or (parts[1] if len(parts) > 1 else "")
    settle = m.settlement_currency or quote
    return f"{base}/{quote}:{settle}"


def market_structure(m: MarketView) -> Json:
    """ccxt's market structure of one market."""
    return {
        "id": m.symbol, "symbol": unified_symbol(m), "base": m.base_currency or m.symbol.split("-")[0],
        "quote": m.quote_currency, "settle": m.settlement_currency, "type": "swap", "spot": False,
        "margin": False, "swap": True, "future": False, "option": False, "contract": True, "linear": True,
        "inverse": False, "contractSize": 1.0, "active": m.active,
        "precision": {"amount": _f(m.order_size_increment), "price": _f(m.price_tick_size)},
        "limits": {"amount": {"min": _f(m.order_size_increment), "max": _f(m.max_order_size)},
                   "price": {"min": _f(m.price_tick_size), "max": None},
                   "cost": {"min": _f(m.min_notional), "max": None}},
        "info": m,
    }


def order_structure(o: OrderView, symbol: str) -> Json:
    """ccxt's order structure of one state order (``status`` open/closed/canceled/rejected)."""
    status = _STATUS.get(o.status, "open")
    if o.status == "CLOSED" and o.filled < o.size:
        status = "canceled"
    rec = o.order
    return {
        "id": o.id or None, "clientOrderId": o.client_id or None,
        "timestamp": rec.created_at if rec else None, "datetime": _iso(rec.created_at if rec else None),
        "lastUpdateTimestamp": o.last_updated_at or None, "symbol": symbol, "type": o.type.lower(),
        "timeInForce": (rec.instruction if rec else "") or None,
        "postOnly": bool(rec and rec.instruction == "POST_ONLY"),
        "side": o.side.lower(), "price": _f(o.price), "amount": _f(o.size), "filled": _f(o.filled),
        "remaining": _f(o.remaining_size), "average": _f(rec.avg_fill_price_value) if rec else None,
        "triggerPrice": _f(rec.trigger_price_value) if rec else None, "status": status,
        "reduceOnly": bool(rec and "REDUCE_ONLY" in rec.flags), "fee": None, "trades": [], "info": o,
    }


def position_structure(p: PositionView, symbol: str) -> Json:
    """ccxt's position structure."""
    pos = p.position
    contracts = abs(pos.size)
    return {
        "symbol": symbol, "side": pos.side.lower() if contracts else None, "contracts": float(contracts),
        "contractSize": 1.0, "entryPrice": _f(pos.average_entry_price) if contracts else None,
        "unrealizedPnl": float(pos.unrealized_pnl), "realizedPnl": float(pos.realized_positional_pnl),
        "liquidationPrice": _f(pos.liquidation_price_value), "leverage": _f(pos.leverage_value),
        "notional": float(abs(pos.cost)), "marginMode": "cross", "timestamp": pos.last_updated_at,
        "datetime": _iso(pos.last_updated_at), "info": p,
    }


def book_structure(b: BookView, symbol: str, limit: int | None = None) -> Json:
    """ccxt's order book structure (``nonce`` is the venue's book sequence)."""
    bids = [[float(p), float(s)] for p, s in b.bids[:limit]]
    asks = [[float(p), float(s)] for p, s in b.asks[:limit]]
    return {"symbol": symbol, "bids": bids, "asks": asks, "timestamp": b.last_updated_at or None,
            "datetime": _iso(b.last_updated_at), "nonce": b.seq_no, "valid": b.valid, "info": b}


class ParadexHub:
    """ccxt-style facade: reads from the state service, orders through the commands service."""

    def __init__(self, state_url: str, commands_url: str | None = None, token: str | None = None, *,
                 timeout_s: float = 10.0) -> None:
        self.state = StateClient(state_url, timeout_s=timeout_s)
        self.commands = (CommandsClient(commands_url, token or "", timeout_s=timeout_s) if commands_url
                         else None)
        self.markets: dict[str, Json] = {}
        self.markets_by_id: dict[str, Json] = {}
        self._orders: list[OrderView] = []
        self._orders_changed = asyncio.Event()
        self._books: dict[str, tuple[int, BookView]] = {}
        self._books_changed = asyncio.Event()
        self._book_seen: dict[str, int] = {}
        self._watch_task: asyncio.Task[None] | None = None
        self._watch_error: BaseException | None = None

    async def __aenter__(self) -> ParadexHub:
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop watching and close the connections."""
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch_task
        await self.state.aclose()
        if self.commands is not None:
            await self.commands.aclose()

    # ------------------------------------------------------------------------------ markets

    async def load_markets(self, reload: bool = False) -> dict[str, Json]:
        """Every market by unified symbol (``/v1/markets`` of the state service)."""
        if self.markets and not reload:
            return self.markets
        markets = (await self.state.markets()).value
        self.markets = {unified_symbol(m): market_structure(m) for m in markets}
        self.markets_by_id = {m["id"]: m for m in self.markets.values()}
        return self.markets

    def market_id(self, symbol: str) -> str:
        """The market id of a unified symbol or id (an unknown symbol is taken as an id)."""
        m = self.markets.get(symbol)
        return str(m["id"]) if m is not None else symbol

    def symbol(self, market_id: str) -> str:
        """The unified symbol of a market id (the id itself before :meth:`load_markets`)."""
        m = self.markets_by_id.get(market_id)
        return str(m["symbol"]) if m is not None else market_id

    # -------------------------------------------------------------------------------- reads

    async def fetch_open_orders(self, symbol: str | None = None, since: int | None = None,
                                limit: int | None = None, params: Mapping[str, Any] | None = None
                                ) -> list[Json]:
        """Live orders (venue-open and in-flight), oldest first."""
        market = self.market_id(symbol) if symbol else None
        orders = (await self.state.orders(status=OPEN_STATUSES, market=market)).value
        out = [order_structure(o, self.symbol(o.market)) for o in orders]
        out = [o for o in out if since is None or (o["timestamp"] or 0) >= since]
        out.sort(key=lambda o: o["timestamp"] or 0)
        return out[-limit:] if limit else out

    async def fetch_order(self, id: str, symbol: str | None = None) -> Json:
        """One order by exchange id (or ``client:<id>`` key)."""
        o = (await self.state.order(id)).value
        return order_structure(o, self.symbol(o.market))

    async def fetch_positions(self, symbols: Iterable[str] | None = None) -> list[Json]:
        """Positions (flat markets included, ``contracts`` 0)."""
        wanted = {self.market_id(s) for s in symbols} if symbols is not None else None
        return [position_structure(p, self.symbol(p.market)) for p in (await self.state.positions()).value
                if wanted is None or p.market in wanted]

    async def fetch_balance(self) -> Json:
        """Balances by token: ``total`` the balance; for the settlement asset ``free`` is the
        account's free collateral and ``used`` the rest."""
        balances = (await self.state.balances()).value
        try:
            account = (await self.state.account()).value.summary
        except NotFound:
            account = None
        out: Json = {"info": {"balances": balances, "account": account}, "free": {}, "used": {}, "total": {}}
        for b in balances:
            total = b.size
            free = account.free_collateral if account and b.token == account.settlement_asset else total
            entry = {"free": float(free), "used": float(total - free), "total": float(total)}
            out[b.token] = entry
            for k in ("free", "used", "total"):
                out[k][b.token] = entry[k]
        return out

    async def fetch_order_book(self, symbol: str, limit: int | None = None) -> Json:
        """The maintained book (``valid`` false: do not trust it)."""
        book = (await self.state.book(self.market_id(symbol), limit or 20)).value
        return book_structure(book, self.symbol(book.market), limit)

    # ------------------------------------------------------------------------------- orders

    def _commands(self) -> CommandsClient:
        if self.commands is None:
            raise ClientError("ParadexHub was made without a commands_url: it cannot place or cancel")
        return self.commands

    async def create_order(self, symbol: str, type: Literal["limit", "market"] | str, side: str,
                           amount: float | Decimal, price: float | Decimal | None = None,
                           params: Mapping[str, Any] | None = None) -> Json:
        """Place one order. ``params``: ``clientOrderId``, ``timeInForce`` (GTC/IOC/PO/RPI),
        ``postOnly``, ``reduceOnly``, ``triggerPrice``, ``wait`` (none/ack/ws; default ack)."""
        p = dict(params or {})
        tif = str(p.pop("timeInForce", "GTC")).upper()
        instruction = "POST_ONLY" if p.pop("postOnly", False) else _TIF.get(tif, tif)
        flags = ("REDUCE_ONLY",) if p.pop("reduceOnly", False) else ()
        trigger = p.pop("triggerPrice", p.pop("stopPrice", None))
        market = self.market_id(symbol)
        r = await self._commands().place(
            market, "BUY" if side.lower() == "buy" else "SELL", _dec(amount),
            _dec(price) if price is not None else None, type=type.upper(), instruction=instruction,
            flags=flags, client_id=p.pop("clientOrderId", None), wait=p.pop("wait", "ack"),
            trigger_price=_dec(trigger) if trigger is not None else None)
        if p:
            raise ClientError(f"create_order: unknown params {sorted(p)}")
        return self._result(r, market, type, side, amount, price)

    def _result(self, r: CommandResult, market: str, type: str, side: str, amount: float | Decimal,
                price: float | Decimal | None) -> Json:
        rec = r.order
        return {"id": r.order_id or (rec.id if rec else None) or None, "clientOrderId": r.client_id or None,
                "symbol": self.symbol(market), "type": type.lower(), "side": side.lower(),
                "amount": float(amount), "price": float(price) if price is not None else None,
                "status": "rejected" if r.status == "rejected" else "open", "timestamp": None,
                "datetime": None, "filled": None, "remaining": None, "fee": None, "trades": [], "info": r}

    async def cancel_order(self, id: str, symbol: str | None = None) -> Json:
        """Cancel one order by exchange id."""
        r = await self._commands().cancel(id)
        return {"id": id, "status": "canceled" if r.status else "open", "info": r}

    async def cancel_all_orders(self, symbol: str | None = None) -> list[Json]:
        """Cancel this strategy's live orders (of one market when given)."""
        r = await self._commands().cancel_all(self.market_id(symbol) if symbol else None)
        return [{"id": item.get("order_id") or item.get("id"), "status": "canceled", "info": item}
                for item in r.results] or [{"info": r}]

    # ------------------------------------------------------------------------------ watching

    async def _ensure_watching(self) -> None:
        """Start following the stream (once) from the state's current sequence: whatever the
        caller does after the first watch call is seen, even before the SSE connection is up."""
        if self._watch_error is not None:
            err, self._watch_error = self._watch_error, None
            raise err
        if self._watch_task is None or self._watch_task.done():
            after = (await self.state.health()).seq
            self._watch_task = asyncio.create_task(self._watch(after), name="paradex-hub-watch")

    async def _watch(self, after: int | None) -> None:
        try:
            while True:
                try:
                    async for ch in self.state.events(["order", "book"], after_seq=after):
                        if ch.kind == "order":
                            o = ch.decode(OrderView)
                            if o is not None:
                                self._orders.append(o)
                                self._orders_changed.set()
                        elif ch.kind == "book":
                            b = ch.decode(BookView)
                            if b is not None:
                                n = self._books.get(b.market, (0, b))[0]
                                self._books[b.market] = (n + 1, b)
                                self._books_changed.set()
                except EventsReset:  # events were lost: re-read the live orders, then follow
                    snap = await self.state.orders(status=OPEN_STATUSES)
                    self._orders.extend(snap.value)
                    self._orders_changed.set()
                    after = snap.seq
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._watch_error = exc
            self._orders_changed.set()
            self._books_changed.set()

    async def watch_orders(self, symbol: str | None = None, since: int | None = None,
                           limit: int | None = None) -> list[Json]:
        """Wait until orders change; the orders changed since the previous call (ccxt pro)."""
        market = self.market_id(symbol) if symbol else None
        while True:
            await self._ensure_watching()
            batch = [o for o in self._orders if market is None or o.market == market]
            if batch:
                self._orders = [o for o in self._orders if market is not None and o.market != market]
                out = [order_structure(o, self.symbol(o.market)) for o in batch]
                return out[-limit:] if limit else out
            self._orders_changed.clear()
            await self._orders_changed.wait()

    async def watch_order_book(self, symbol: str, limit: int | None = None) -> Json:
        """The book of ``symbol``: at once on the first call, then after each update (ccxt pro)."""
        market = self.market_id(symbol)
        await self._ensure_watching()
        if market not in self._book_seen:
            self._book_seen[market] = self._books.get(market, (0, None))[0]
            return await self.fetch_order_book(symbol, limit)
        seen = self._book_seen[market]
        while True:
            n, book = self._books.get(market, (0, None))
            if book is not None and n > seen:
                self._book_seen[market] = n
                return book_structure(book, self.symbol(market), limit)
            self._books_changed.clear()
            await self._books_changed.wait()
            await self._ensure_watching()
