"""Drive the official SDK (paradex-py 0.8.2) against a simulator, unchanged except for its URLs.

Run by ``tests/interop/test_sdk.py`` with the interpreter of ``.venv-sdk`` (Python 3.10)::

    .venv-sdk/bin/python tests/interop/sdk_runner.py '{"rest_url": ..., "ws_url": ..., ...}'

Prints one JSON line per step, ``{"step", "ok", "detail"}``; a failed step does not stop the
others. Every socket that is not loopback is refused (:mod:`loopback`). With JSON pushes every
payload is also checked with the SDK's own pydantic models (``validate_ws_payload``).
Self-contained: it imports nothing from the project.
"""

from __future__ import annotations

import asyncio
import json
import sys
import traceback
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import loopback

loopback.install()

from paradex_py import Paradex  # noqa: E402
from paradex_py.api.ws_client import ParadexWebsocketChannel  # noqa: E402
from paradex_py.api.ws_message_models import get_ws_payload_model, validate_ws_payload  # noqa: E402
from paradex_py.common.order import Order, OrderSide, OrderType  # noqa: E402
from paradex_py.environment import TESTNET  # noqa: E402

MARKET = "BTC-USD-PERP"
STEP_TIMEOUT_S = 20.0
L1_ADDRESS = "0x" + "11" * 20
PRIVATE = {"orders", "fills", "positions", "account", "balance_events", "tradebusts"}


class Runner:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.sbe = bool(config["sbe"])
        self.paradex: Paradex | None = None
        self.ids: dict[str, Any] = {}
        self.pushes: dict[str, list[Any]] = {}
        self.invalid: list[str] = []
        self.validated: set[str] = set()

    @property
    def p(self) -> Paradex:
        assert self.paradex is not None, "the constructor step failed"
        return self.paradex

    def order(self, side: OrderSide = OrderSide.Buy, size: str = "0.01", price: str = "60000",
              kind: OrderType = OrderType.Limit, client_id: str = "") -> Order:
        limit = Decimal(price) if kind == OrderType.Limit else Decimal(0)
        return Order(market=MARKET, order_type=kind, order_side=side, size=Decimal(size), limit_price=limit,
                     client_id=client_id)

    def best_ask(self) -> Decimal:
        return Decimal(self.p.api_client.fetch_bbo(MARKET)["ask"])

    async def on_push(self, channel: Any, message: Any) -> None:
        name = message["params"]["channel"] if isinstance(message, dict) else str(channel)
        data = message["params"]["data"] if isinstance(message, dict) else message
        # The SDK has payload models for order_book and balance_events; SBE book frames reach the
        # callback decoded by its codec in another shape, so only JSON payloads are checked.
        binary = self.sbe and name.split(".")[0] not in PRIVATE
        if isinstance(data, dict) and not binary and get_ws_payload_model(name) is not None:
            self.validated.add(name.split(".")[0])
            if validate_ws_payload(name, data) is None:
                self.invalid.append(name)
        self.pushes.setdefault(name, []).append(data)

    async def next_push(self, channel: str, after: int, wait_s: float = 5.0) -> Any:
        for _ in range(int(wait_s / 0.02)):
            got = self.pushes.get(channel, [])
            if len(got) > after:
                return got[after]
            await asyncio.sleep(0.02)
        raise TimeoutError(f"no push on {channel} (pushes on {sorted(self.pushes)})")


# ---------------------------------------------------------------- REST steps


async def constructor(r: Runner) -> Any:
    """``Paradex(...)`` reads /system/config (fourteen required fields) and accepts the chain id."""
    c = r.config
    r.paradex = Paradex(env=TESTNET, api_base_url=c["rest_url"], ws_url_override=c["ws_url"],
                        ws_direct_url_override=c["ws_url"], ws_sbe_enabled=r.sbe, auto_start_ws_reader=True)
    assert r.p.config.starknet_chain_id == c["chain_id"]
    return {"chain_id": r.p.config.starknet_chain_id, "l1_chain_id": r.p.config.l1_chain_id}


async def onboarding_and_auth(r: Runner) -> Any:
    """``init_account``: derives the address locally, auth fails NOT_ONBOARDED, onboards, auths."""
    r.p.init_account(l1_address=L1_ADDRESS, l2_private_key=r.config["private_key"])
    derived = hex(r.p.account.l2_address)
    assert derived == r.config["address"], (derived, r.config["address"])
    assert r.p.account.jwt_token
    return {"address": hex(r.p.account.l2_address)}


async def server_derived_address(r: Runner) -> Any:
    """``server_derive_address=True``: the address comes from GET /onboarding (exists now)."""
    c = r.config
    other = Paradex(env=TESTNET, api_base_url=c["rest_url"], ws_url_override=c["ws_url"],
                    ws_direct_url_override=c["ws_url"], server_derive_address=True)
    other.init_account(l1_address=L1_ADDRESS, l2_private_key=c["private_key"])
    assert hex(other.account.l2_address) == c["address"] and other.account.is_onboarded is True
    return {"address": hex(other.account.l2_address)}


async def markets(r: Runner) -> Any:
    found = r.p.api_client.fetch_markets()["results"]
    assert MARKET in [m["symbol"] for m in found]
    summary = r.p.api_client.fetch_markets_summary({"market": MARKET})["results"]
    assert summary[0]["symbol"] == MARKET
    return {"markets": [m["symbol"] for m in found]}


async def order_book(r: Runner) -> Any:
    book = r.p.api_client.fetch_orderbook(MARKET)
    assert book["bids"] and book["asks"] and Decimal(book["bids"][0][0]) < Decimal(book["asks"][0][0])
    return {"best_bid": book["bids"][0], "best_ask": book["asks"][0]}


async def create_order(r: Runner) -> Any:
    order = r.p.api_client.submit_order(r.order(client_id="sdk-1"))
    assert order["status"] == "NEW" and order["client_id"] == "sdk-1"
    r.ids["limit"] = order["id"]
    return {"id": order["id"]}


async def edit_order(r: Runner) -> Any:
    await asyncio.sleep(0.05)
    modify = r.order(size="0.02")
    modify.id = r.ids["limit"]
    order = r.p.api_client.modify_order(r.ids["limit"], modify)
    assert order["id"] == r.ids["limit"] and Decimal(order["size"]) == Decimal("0.02"), order
    return {"size": order["size"]}


async def cancel_order(r: Runner) -> Any:
    r.p.api_client.cancel_order(r.ids["limit"])
    await asyncio.sleep(0.05)
    order = r.p.api_client.fetch_order(r.ids["limit"])
    assert order["status"] == "CLOSED" and order["cancel_reason"] == "USER_CANCELED", order
    return {"status": order["status"]}


async def create_orders(r: Runner) -> Any:
    res = r.p.api_client.submit_orders_batch([r.order(price="59000"), r.order(price="58000")])
    assert len(res["orders"]) == 2 and not res["errors"], res
    r.ids["batch"] = [o["id"] for o in res["orders"]]
    return {"ids": r.ids["batch"]}


async def cancel_orders(r: Runner) -> Any:
    res = r.p.api_client.cancel_orders_batch(order_ids=r.ids["batch"])
    statuses = [x["status"] for x in res["results"]]
    assert statuses == ["QUEUED_FOR_CANCELLATION"] * 2, res
    return {"statuses": statuses}


async def open_orders(r: Runner) -> Any:
    order = r.p.api_client.submit_order(r.order(price="57000"))
    await asyncio.sleep(0.05)
    found = r.p.api_client.fetch_orders({"market": MARKET})["results"]
    assert order["id"] in [o["id"] for o in found]
    return {"open": len(found)}


async def closed_orders(r: Runner) -> Any:
    found = r.p.api_client.fetch_orders_history({"market": MARKET, "status": "CLOSED"})["results"]
    assert {r.ids["limit"], *r.ids["batch"]} <= {o["id"] for o in found}
    return {"closed": len(found)}


async def positions(r: Runner) -> Any:
    r.p.api_client.submit_order(r.order(kind=OrderType.Market, size="0.001"))
    await asyncio.sleep(0.1)
    found = [p for p in r.p.api_client.fetch_positions()["results"] if p["market"] == MARKET]
    assert found and Decimal(found[0]["size"]) > 0 and found[0]["side"] == "LONG", found
    return {"size": found[0]["size"]}


async def balance(r: Runner) -> Any:
    found = r.p.api_client.fetch_balances()["results"]
    assert found[0]["token"] == "USDC" and Decimal(found[0]["size"]) > 0
    summary = r.p.api_client.fetch_account_summary()
    assert summary.account == r.config["address"]
    return {"USDC": found[0]["size"], "account_value": summary.account_value}


async def my_trades(r: Runner) -> Any:
    fills = r.p.api_client.fetch_fills({"market": MARKET})["results"]
    assert fills and fills[0]["market"] == MARKET
    return {"fills": len(fills)}


async def ohlcv(r: Runner) -> Any:
    now = int(asyncio.get_running_loop().time())  # any end time works; use the server's clock
    server_ms = int(r.p.api_client.fetch_system_time()["server_time"])
    candles = r.p.api_client.fetch_klines(MARKET, "1", server_ms - 3_600_000, server_ms)["results"]
    assert candles and len(candles[0]) == 6, candles
    return {"candles": len(candles), "loop_time": now}


async def account_info(r: Runner) -> Any:
    info = r.p.api_client.fetch_account_info()["results"][0]
    assert info["account"] == r.config["address"]
    funding = r.p.api_client.fetch_funding_data({"market": MARKET})
    assert "results" in funding
    return {"kind": info["kind"]}


# ---------------------------------------------------------------- WebSocket steps


async def ws_connect(r: Runner) -> Any:
    assert await r.p.ws_client.connect()
    return {"sbe": r.sbe}


async def _subscribe(r: Runner, channel: ParadexWebsocketChannel, **params: str) -> None:
    await r.p.ws_client.subscribe(channel, r.on_push, params)
    await asyncio.sleep(0.3)


async def ws_order_book(r: Runner) -> Any:
    await _subscribe(r, ParadexWebsocketChannel.ORDER_BOOK, market=MARKET)
    book = await r.next_push(f"order_book.{MARKET}.snapshot@15@100ms", 0)
    return {"type": type(book).__name__}


async def ws_trades(r: Runner) -> Any:
    await _subscribe(r, ParadexWebsocketChannel.TRADES, market=MARKET)
    r.p.api_client.submit_order(r.order(kind=OrderType.Market, size="0.001"))
    trade = await r.next_push(f"trades.{MARKET}", 0)
    return {"type": type(trade).__name__}


async def ws_orders(r: Runner) -> Any:
    await _subscribe(r, ParadexWebsocketChannel.ORDERS, market=MARKET)
    r.p.api_client.submit_order(r.order(price="56000"))
    order = await r.next_push(f"orders.{MARKET}", 0)
    assert order["market"] == MARKET
    return {"status": order["status"]}


async def ws_fills_positions_account(r: Runner) -> Any:
    await _subscribe(r, ParadexWebsocketChannel.FILLS, market=MARKET)
    await _subscribe(r, ParadexWebsocketChannel.POSITIONS)
    await _subscribe(r, ParadexWebsocketChannel.ACCOUNT)
    await _subscribe(r, ParadexWebsocketChannel.BALANCE_EVENTS)
    r.p.api_client.submit_order(r.order(kind=OrderType.Market, size="0.001"))
    fill = await r.next_push(f"fills.{MARKET}", 0)
    position = await r.next_push("positions", 0)
    account = await r.next_push("account", 0)
    await r.next_push("balance_events", 0)
    assert fill["market"] == MARKET and position["market"] == MARKET
    assert account["account"] == r.config["address"]
    return {"fill": fill["id"]}


async def ws_payloads_match_sdk_models(r: Runner) -> Any:
    """Every JSON push so far validated against the SDK's pydantic models (SBE: decoded by its codec)."""
    assert not r.invalid, f"pushes the SDK's models reject: {sorted(set(r.invalid))}"
    expected = {"balance_events"} if r.sbe else {"balance_events", "order_book"}
    assert r.validated == expected, r.validated
    return {"validated": sorted(r.validated), "channels": sorted(r.pushes)}


async def ws_order_methods(r: Runner) -> Any:
    created = await r.p.ws_client.submit_order(r.order(price="55000", client_id="sdk-ws"))
    assert created["order"]["status"] == "NEW"
    await asyncio.sleep(0.05)
    cancelled = await r.p.ws_client.cancel_order(created["order"]["id"])
    assert cancelled["status"] == "QUEUED_FOR_CANCELLATION"
    batch = await r.p.ws_client.submit_orders_batch([r.order(price="54000"), r.order(price="53000")])
    assert [x["order"]["status"] for x in batch["results"]] == ["NEW", "NEW"], batch
    everything = await r.p.ws_client.cancel_all_orders(MARKET)
    assert everything == {"status": "ok"}
    return {"batch": len(batch["results"])}


async def ws_cancel_on_disconnect(r: Runner) -> Any:
    armed = await r.p.ws_client.cancel_on_disconnect(True)
    assert armed == {"enabled": True}
    created = await r.p.ws_client.submit_order(r.order(price="52000"))
    await asyncio.sleep(0.1)
    await r.p.ws_client.close()
    for _ in range(100):
        await asyncio.sleep(0.05)
        if r.p.api_client.fetch_order(created["order"]["id"])["status"] == "CLOSED":
            return {"cancelled": created["order"]["id"]}
    raise AssertionError("the order placed on the dropped session is still open")


STEPS: list[Callable[[Runner], Awaitable[Any]]] = [
    constructor, onboarding_and_auth, server_derived_address, markets, order_book, create_order, edit_order,
    cancel_order, create_orders, cancel_orders, open_orders, closed_orders, positions, balance, my_trades,
    ohlcv, account_info, ws_connect, ws_order_book, ws_trades, ws_orders, ws_fills_positions_account,
    ws_payloads_match_sdk_models, ws_order_methods, ws_cancel_on_disconnect,
]


async def main(config: dict[str, Any]) -> None:
    runner = Runner(config)
    for step in STEPS:
        try:
            detail = await asyncio.wait_for(step(runner), STEP_TIMEOUT_S)
            line = {"step": step.__name__, "ok": True, "detail": detail}
        except BaseException as exc:  # report every failure, go on with the next step
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            line = {"step": step.__name__, "ok": False, "detail": f"{type(exc).__name__}: {exc}"[:2000],
                    "trace": traceback.format_exc()[-3000:]}
        print(json.dumps(line, default=str), flush=True)
    if runner.paradex is not None:
        try:
            await runner.p.ws_client.close()
        except Exception as exc:
            print(json.dumps({"step": "_close", "ok": False, "detail": repr(exc)}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
