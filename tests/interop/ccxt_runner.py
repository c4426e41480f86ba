"""Drive ccxt (REST + pro) against a simulator, unchanged except for its URLs.

Run by ``tests/interop/test_ccxt.py`` with the interpreter of ``.venv-ccxt`` (ccxt is not in the
project's environment)::

    .venv-ccxt/bin/python tests/interop/ccxt_runner.py '{"rest_url": ..., "ws_url": ..., ...}'

Prints one JSON line per step, ``{"step", "ok", "detail"}``, in order; a failed step does not stop
the others. Every socket that is not loopback is refused (:mod:`loopback`). Self-contained: it
imports nothing from the project.
"""

from __future__ import annotations

import asyncio
import json
import sys
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import loopback

loopback.install()

import ccxt.pro as ccxtpro  # noqa: E402

SYMBOL = "BTC/USD:USDC"
STEP_TIMEOUT_S = 20.0
Step = Callable[["Runner"], Awaitable[Any]]


class Runner:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        options: dict[str, Any] = {
            "paradexAccount": {"privateKey": config["private_key"], "publicKey": config["public_key"],
                               "address": config["address"]},
            "sbe": config["sbe"],
            "sbeSchemaVersion": str(config.get("sbe_version", 2)),
        }
        self.ex = ccxtpro.paradex({"walletAddress": "0x" + "11" * 20, "privateKey": "0x" + "22" * 32,
                                   "options": options})
        rest = config["rest_url"]
        self.ex.urls["api"] = {"v1": rest, "v2": rest.removesuffix("/v1") + "/v2", "ws": config["ws_url"]}
        self.ids: dict[str, Any] = {}

    async def price(self, side: str) -> float:
        book = await self.ex.fetch_order_book(SYMBOL)
        return float(book["asks"][0][0] if side == "buy" else book["bids"][0][0])

    async def watch_while(self, watch: Awaitable[Any], action: Callable[[], Awaitable[Any]]) -> Any:
        """Start a watch, let its subscription settle, act, and return what the watch yields."""
        task = asyncio.ensure_future(watch)
        await asyncio.sleep(0.5)
        if task.done():
            return task.result()
        await action()
        return await task

    async def market_buy(self) -> Any:
        return await self.ex.create_order(SYMBOL, "market", "buy", 0.001)


# ---------------------------------------------------------------- REST steps


async def markets(r: Runner) -> Any:
    loaded = await r.ex.load_markets()
    assert SYMBOL in loaded, sorted(loaded)
    m = loaded[SYMBOL]
    assert m["precision"]["price"] == 0.1 and m["precision"]["amount"] == 0.001, m["precision"]
    return {"markets": sorted(loaded)}


async def order_book(r: Runner) -> Any:
    book = await r.ex.fetch_order_book(SYMBOL)
    assert book["bids"] and book["asks"] and book["bids"][0][0] < book["asks"][0][0]
    assert book["nonce"] is not None
    return {"best_bid": book["bids"][0], "best_ask": book["asks"][0]}


async def onboarding(r: Runner) -> Any:
    await r.ex.onboarding()
    check = await r.ex.publicGetOnboarding({"account_signer_type": "starknet",
                                            "public_key": r.config["public_key"]})
    assert check["exists"] is True and int(check["address"], 16) == int(r.config["address"], 16), check
    return check


async def auth(r: Runner) -> Any:
    token = await r.ex.authenticate_rest()
    assert isinstance(token, str) and token.count(".") == 2
    return {"jwt_chars": len(token)}


async def create_order(r: Runner) -> Any:
    order = await r.ex.create_order(SYMBOL, "limit", "buy", 0.01, 60000.0, {"clientOrderId": "ccxt-1"})
    assert order["id"] and order["status"] == "open" and order["clientOrderId"] == "ccxt-1", order
    r.ids["limit"] = order["id"]
    return {"id": order["id"], "status": order["status"]}


async def edit_order(r: Runner) -> Any:
    await asyncio.sleep(0.05)  # the order goes OPEN after the venue's risk step
    order = await r.ex.edit_order(r.ids["limit"], SYMBOL, "limit", "buy", 0.02, 60000.0)
    assert order["id"] == r.ids["limit"] and order["amount"] == 0.02, order
    return {"id": order["id"], "amount": order["amount"]}


async def cancel_order(r: Runner) -> Any:
    await r.ex.cancel_order(r.ids["limit"], SYMBOL)
    await asyncio.sleep(0.05)
    order = await r.ex.fetch_order(r.ids["limit"], SYMBOL)
    assert order["status"] == "canceled", order
    return {"status": order["status"]}


async def create_orders(r: Runner) -> Any:
    orders = await r.ex.create_orders([
        {"symbol": SYMBOL, "type": "limit", "side": "buy", "amount": 0.01, "price": 59000.0},
        {"symbol": SYMBOL, "type": "limit", "side": "buy", "amount": 0.01, "price": 58000.0},
    ])
    assert len(orders) == 2 and all(o["id"] for o in orders), orders
    r.ids["batch"] = [o["id"] for o in orders]
    return {"ids": r.ids["batch"]}


async def cancel_orders(r: Runner) -> Any:
    await asyncio.sleep(0.05)
    result = await r.ex.cancel_orders(r.ids["batch"], SYMBOL)
    assert len(result) == 2, result
    return {"cancelled": len(result)}


async def open_orders(r: Runner) -> Any:
    order = await r.ex.create_order(SYMBOL, "limit", "buy", 0.01, 57000.0)
    await asyncio.sleep(0.05)
    found = await r.ex.fetch_open_orders(SYMBOL)
    assert order["id"] in [o["id"] for o in found], found
    return {"open": len(found)}


async def closed_orders(r: Runner) -> Any:
    orders = await r.ex.fetch_orders(SYMBOL)
    closed = [o for o in orders if o["status"] in ("canceled", "closed")]
    wanted = {r.ids["limit"], *r.ids["batch"]}
    assert wanted <= {o["id"] for o in closed}, [(o["id"], o["status"]) for o in orders]
    return {"closed": len(closed)}


async def positions(r: Runner) -> Any:
    await r.market_buy()
    await asyncio.sleep(0.1)
    found = await r.ex.fetch_positions([SYMBOL])
    assert found and found[0]["symbol"] == SYMBOL and found[0]["contracts"] > 0, found
    return {"side": found[0]["side"], "contracts": found[0]["contracts"]}


async def balance(r: Runner) -> Any:
    bal = await r.ex.fetch_balance()
    assert bal["USDC"]["total"] and bal["USDC"]["total"] > 0, bal
    return {"USDC": bal["USDC"]}


async def my_trades(r: Runner) -> Any:
    trades = await r.ex.fetch_my_trades(SYMBOL)
    assert trades and trades[0]["symbol"] == SYMBOL and trades[0]["amount"] > 0, trades
    return {"trades": len(trades)}


async def ohlcv(r: Runner) -> Any:
    candles = await r.ex.fetch_ohlcv(SYMBOL, "1m")
    assert candles and len(candles[0]) == 6 and candles[0][2] >= candles[0][3], candles
    return {"candles": len(candles), "last": candles[-1]}


async def leverage(r: Runner) -> Any:
    await r.ex.set_leverage(5, SYMBOL)
    got = await r.ex.fetch_leverage(SYMBOL)
    assert got["longLeverage"] == 5 and got["marginMode"] == "cross", got
    return {"leverage": got["longLeverage"], "margin_mode": got["marginMode"]}


# ---------------------------------------------------------------- pro (WebSocket) steps


async def watch_order_book(r: Runner) -> Any:
    book = await r.ex.watch_order_book(SYMBOL)
    assert book["bids"] and book["asks"] and book["bids"][0][0] < book["asks"][0][0], book
    return {"bids": len(book["bids"]), "asks": len(book["asks"])}


async def watch_trades(r: Runner) -> Any:
    trades = await r.watch_while(r.ex.watch_trades(SYMBOL), r.market_buy)
    assert trades and trades[-1]["symbol"] == SYMBOL and trades[-1]["price"] > 0, trades
    return {"trades": len(trades), "price": trades[-1]["price"]}


async def watch_orders(r: Runner) -> Any:
    async def place() -> None:
        await r.ex.create_order(SYMBOL, "limit", "buy", 0.01, 56000.0)
    orders = await r.watch_while(r.ex.watch_orders(SYMBOL), place)
    assert orders and orders[-1]["symbol"] == SYMBOL and orders[-1]["price"] == 56000.0, orders
    return {"orders": len(orders), "status": orders[-1]["status"]}


async def watch_my_trades(r: Runner) -> Any:
    trades = await r.watch_while(r.ex.watch_my_trades(SYMBOL), r.market_buy)
    assert trades and trades[-1]["symbol"] == SYMBOL and trades[-1]["amount"] == 0.001, trades
    return {"trades": len(trades)}


async def watch_positions(r: Runner) -> Any:
    found = await r.watch_while(r.ex.watch_positions([SYMBOL]), r.market_buy)
    assert found and found[-1]["symbol"] == SYMBOL and found[-1]["contracts"] > 0, found
    return {"contracts": found[-1]["contracts"]}


async def watch_balance(r: Runner) -> Any:
    bal = await r.watch_while(r.ex.watch_balance(), r.market_buy)
    assert bal["USDC"]["total"] and bal["USDC"]["total"] > 0, bal
    return {"USDC": bal["USDC"]}


STEPS: list[Step] = [
    markets, order_book, onboarding, auth, create_order, edit_order, cancel_order, create_orders,
    cancel_orders, open_orders, closed_orders, positions, balance, my_trades, ohlcv, leverage,
    watch_order_book, watch_trades, watch_orders, watch_my_trades, watch_positions, watch_balance,
]


async def main(config: dict[str, Any]) -> None:
    runner = Runner(config)
    try:
        for step in STEPS:
            try:
                detail = await asyncio.wait_for(step(runner), STEP_TIMEOUT_S)
                line = {"step": step.__name__, "ok": True, "detail": detail}
            except BaseException as exc:  # report every failure, go on with the next step
                if isinstance(exc, KeyboardInterrupt | SystemExit):
                    raise
                line = {"step": step.__name__, "ok": False,
                        "detail": f"{type(exc).__name__}: {exc}"[:2000],
                        "trace": traceback.format_exc()[-3000:]}
            print(json.dumps(line, default=str), flush=True)
    finally:
        await runner.ex.close()


if __name__ == "__main__":
    if sys.argv[1:] == ["--steps"]:
        print(json.dumps([s.__name__ for s in STEPS]))
    else:
        asyncio.run(main(json.loads(sys.argv[1])))
