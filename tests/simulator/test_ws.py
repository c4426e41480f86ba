"""WebSocket JSON-RPC of the simulator: auth, subscribe errors, pushes, books, SBE, keepalive."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from shared.paradex.models import BookUpdate
from shared.paradex.sbe import decode as sbe_decode
from tests.simfixture import SimFactory, SimHandle, ws_client

BOOK = "order_book.BTC-USD-PERP.deltas"


def _error(reply: dict[str, Any]) -> tuple[int, Any]:
    return reply["error"]["code"], reply["error"].get("data")


async def test_replies_echo_id_and_carry_timing_fields(simulator: SimHandle) -> None:
    async with ws_client(simulator) as ws:
        reply = await ws.call("subscribe", {"channel": "bbo.BTC-USD-PERP"})
    assert reply["id"] == 1 and reply["result"] == {"channel": "bbo.BTC-USD-PERP"}
    assert reply["usDiff"] == reply["usOut"] - reply["usIn"] >= 0


async def test_auth_errors_distinguish_malformed_from_invalid_bearer(simulator: SimHandle) -> None:
    async with simulator.client() as c:
        token = await simulator.jwt(c)
    async with ws_client(simulator) as ws:
        malformed = await ws.call("auth", {"bearer": "garbage"})
        forged = await ws.call("auth", {"bearer": token[:-4] + "AAAA"})
        missing = await ws.call("auth", {})
        good = await ws.call("auth", {"bearer": token})
    assert _error(malformed)[0] == 40110
    assert _error(forged)[0] == 40111
    assert _error(missing)[0] == -32602
    assert isinstance(good["result"]["node_id"], str) and good["result"]["node_id"]


async def test_expired_bearer_is_40111(simulator_factory: SimFactory) -> None:
    sim = await simulator_factory(jwt_ttl_s=0.2)
    async with sim.client() as c:
        token = await sim.jwt(c)
    await asyncio.sleep(0.3)
    async with ws_client(sim) as ws:
        assert _error(await ws.call("auth", {"bearer": token}))[0] == 40111


@pytest.mark.parametrize(
    ("method", "params", "code"),
    [
        ("subscribe", {"channel": "nope.BTC-USD-PERP"}, -32600),
        ("subscribe", {"channel": "bbo.NOPE-USD-PERP"}, -32600),
        ("subscribe", {"channel": "order_book.BTC-USD-PERP.deltas@15@50ms"}, -32600),
        ("subscribe", {"channel": "order_book.BTC-USD-PERP.snapshot@20@50ms"}, -32600),
        ("subscribe", {"channel": "orders.ALL"}, -32600),  # private before auth
        ("subscribe", {"chan": "bbo.BTC-USD-PERP"}, -32602),
        ("subscribe", None, -32602),
        ("unsubscribe", {"channel": "bbo.BTC-USD-PERP"}, -32600),  # not subscribed
        ("order.teleport", {}, -32601),
    ],
)
async def test_bad_requests_get_documented_codes(
    simulator: SimHandle, method: str, params: Any, code: int
) -> None:
    async with ws_client(simulator) as ws:
        assert _error(await ws.call(method, params))[0] == code


async def test_double_subscribe_is_an_error_and_unsubscribe_stops_pushes(simulator: SimHandle) -> None:
    async with ws_client(simulator) as ws:
        await ws.subscribe("trades.BTC-USD-PERP")
        again = await ws.call("subscribe", {"channel": "trades.BTC-USD-PERP"})
        off = await ws.call("unsubscribe", {"channel": "trades.BTC-USD-PERP"})
        off_again = await ws.call("unsubscribe", {"channel": "trades.BTC-USD-PERP"})
        simulator.venue.step_synthetic(30)
        await ws.quiet(0.2)
    assert _error(again)[0] == -32600
    assert off["result"] == {"channel": "trades.BTC-USD-PERP"}
    assert _error(off_again)[0] == -32600
    assert ws.pushes == []


async def test_parse_error_and_non_object_requests(simulator: SimHandle) -> None:
    async with ws_client(simulator) as ws:
        await ws.ws.send("{not json")
        parse = await ws.reply(None)
        await ws.ws.send("[1, 2]")
        invalid = await ws.reply(None)
    assert _error(parse)[0] == -32700 and _error(invalid)[0] == -32600


async def test_order_lifecycle_new_open_closed_is_pushed_on_orders_channels(simulator: SimHandle) -> None:
    sim = simulator
    async with ws_client(sim, auth=True) as ws, sim.authed() as c:
        await ws.subscribe("orders.ALL")
        await ws.subscribe("orders.BTC-USD-PERP")
        resp = await c.post("/orders", json=sim.order(client_id="life"))
        order_id = resp.json()["id"]
        states = [(await ws.next_push("orders.ALL"))["params"]["data"] for _ in range(2)]
        per_market = await ws.next_push("orders.BTC-USD-PERP")
        assert (await c.delete(f"/orders/{order_id}")).status_code == 204
        closed = (await ws.next_push("orders.ALL"))["params"]["data"]
    assert [s["status"] for s in states] == ["NEW", "OPEN"]
    assert all(s["id"] == order_id and s["client_id"] == "life" for s in states)
    assert states[0]["seq_no"] < states[1]["seq_no"] < closed["seq_no"]
    assert per_market["params"]["data"]["status"] == "NEW"
    assert closed["status"] == "CLOSED" and closed["cancel_reason"] == "USER_CANCELED"


async def test_fill_pushes_fills_positions_account_and_balance_events(simulator: SimHandle) -> None:
    sim = simulator
    _, ask = sim.best()
    async with ws_client(sim, auth=True) as ws, sim.authed() as c:
        for channel in ("fills.ALL", "positions", "account", "balance_events", "trades.BTC-USD-PERP"):
            await ws.subscribe(channel)
        await c.post("/orders", json=sim.order("BUY", "0.01", str(ask)))
        fill = (await ws.next_push("fills.ALL"))["params"]["data"]
        position = (await ws.next_push("positions"))["params"]["data"]
        account = (await ws.next_push("account"))["params"]["data"]
        balance_event = (await ws.next_push("balance_events"))["params"]["data"]
        trade = (await ws.next_push("trades.BTC-USD-PERP"))["params"]["data"]
    assert Decimal(fill["size"]) == Decimal("0.01") and fill["liquidity"] == "TAKER"
    assert position["side"] == "LONG" and Decimal(position["size"]) == Decimal("0.01")
    assert account["account"] == sim.account
    assert balance_event["fill_id"] == fill["id"]
    assert trade["side"] == "BUY" and Decimal(trade["price"]) == ask


async def test_private_pushes_go_only_to_the_owner_account(simulator: SimHandle) -> None:
    sim = simulator
    async with ws_client(sim, auth=True) as mine, ws_client(sim) as anonymous, sim.authed() as c:
        await mine.subscribe("orders.ALL")
        await anonymous.subscribe("bbo.BTC-USD-PERP")
        await c.post("/orders", json=sim.order())
        await mine.next_push("orders.ALL")
        await anonymous.quiet(0.1)
    assert all(p["params"]["channel"] == "bbo.BTC-USD-PERP" for p in anonymous.pushes)


async def test_deltas_start_with_a_snapshot_then_seq_plus_one(simulator: SimHandle) -> None:
    sim = simulator
    async with ws_client(sim) as ws:
        await ws.subscribe(BOOK)
        first = (await ws.next_push(BOOK))["params"]["data"]
        sim.venue.step_synthetic(50)
        frames = [(await ws.next_push(BOOK))["params"]["data"] for _ in range(20)]
    assert first["update_type"] == "s" and first["seq_no"] == frames[0]["seq_no"] - 1
    assert first["inserts"] and not first["updates"] and not first["deletes"]
    assert all(f["update_type"] == "d" for f in frames)
    assert [f["seq_no"] for f in frames] == list(range(first["seq_no"] + 1, first["seq_no"] + 21))


async def test_replaying_deltas_reproduces_the_engine_book(simulator: SimHandle) -> None:
    sim = simulator
    async with ws_client(sim) as ws:
        await ws.subscribe(BOOK)
        book: dict[tuple[str, Decimal], Decimal] = {}
        snap = (await ws.next_push(BOOK))["params"]["data"]
        for lv in snap["inserts"]:
            book[(lv["side"], Decimal(lv["price"]))] = Decimal(lv["size"])
        sim.venue.step_synthetic(40)
        target = sim.exchange.books["BTC-USD-PERP"].seq_no
        seq = snap["seq_no"]
        while seq < target:
            frame = (await ws.next_push(BOOK))["params"]["data"]
            seq = frame["seq_no"]
            for lv in frame["inserts"] + frame["updates"]:
                book[(lv["side"], Decimal(lv["price"]))] = Decimal(lv["size"])
            for lv in frame["deletes"]:
                book.pop((lv["side"], Decimal(lv["price"])), None)
    engine = sim.exchange.orderbook("BTC-USD-PERP", None)
    assert book == {(str(lv.side), lv.price): lv.size for lv in engine.inserts}


async def test_snapshot_channel_sends_throttled_top_15_frames(simulator: SimHandle) -> None:
    sim = simulator
    channel = "order_book.BTC-USD-PERP.snapshot@15@50ms"
    async with ws_client(sim) as ws:
        await ws.subscribe(channel)
        first = (await ws.next_push(channel))["params"]["data"]
        sim.venue.step_synthetic(5)
        later = (await ws.next_push(channel, wait_s=2))["params"]["data"]
    assert first["update_type"] == later["update_type"] == "s"
    bids = [lv for lv in later["inserts"] if lv["side"] == "BUY"]
    assert 0 < len(bids) <= 15 and later["seq_no"] > first["seq_no"]


async def test_one_order_book_channel_per_market_per_session(simulator: SimHandle) -> None:
    async with ws_client(simulator) as ws:
        await ws.subscribe(BOOK)
        second = await ws.call("subscribe", {"channel": "order_book.BTC-USD-PERP.snapshot@15@100ms"})
        other_market = await ws.call("subscribe", {"channel": "order_book.ETH-USD-PERP.deltas"})
    assert _error(second)[0] == -32600 and "result" in other_market


async def test_sbe_session_gets_binary_book_frames_and_json_control(simulator: SimHandle) -> None:
    sim = simulator
    async with ws_client(sim, query="?sbeSchemaId=1&sbeSchemaVersion=2") as ws:
        reply = await ws.subscribe(BOOK)  # the reply is a JSON text frame
        snapshot = sbe_decode(await ws.next_binary())
        sim.venue.step_synthetic(3)
        delta = sbe_decode(await ws.next_binary())
    assert reply["result"] == {"channel": BOOK}
    assert isinstance(snapshot, BookUpdate) and snapshot.update_type == "s"
    assert isinstance(delta, BookUpdate) and delta.update_type == "d" and delta.seq_no == snapshot.seq_no + 1
    assert snapshot.market == "BTC-USD-PERP" and snapshot.inserts
    assert ws.pushes == []


@pytest.mark.parametrize("query", ["?sbeSchemaId=2&sbeSchemaVersion=1", "?sbeSchemaId=1&sbeSchemaVersion=99"])
async def test_unsupported_sbe_schema_is_refused_with_400(simulator: SimHandle, query: str) -> None:
    with pytest.raises(InvalidStatus) as info:
        async with connect(simulator.ws_url + query):
            pass
    assert info.value.response.status_code == 400


async def test_a_non_get_request_to_the_websocket_port_gets_405(simulator: SimHandle) -> None:
    """websockets 17 passes non-GET requests (without a body) to process_request: they get an
    answer, not a hang-up."""
    import asyncio
    from urllib.parse import urlsplit

    url = urlsplit(simulator.ws_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    writer.write(f"DELETE {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\n\r\n".encode())
    status = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    assert status.startswith(b"HTTP/1.1 405"), status


async def test_wrong_path_is_refused(simulator: SimHandle) -> None:
    with pytest.raises(InvalidStatus) as info:
        async with connect(simulator.ws_url.replace("/v1", "/v2")):
            pass
    assert info.value.response.status_code == 404


async def test_markets_summary_and_funding_are_pushed_periodically(simulator_factory: SimFactory) -> None:
    sim = await simulator_factory(summary_interval_ms=50)
    async with ws_client(sim) as ws:
        await ws.subscribe("markets_summary")
        await ws.subscribe("funding_data.ETH-USD-PERP")
        summary = (await ws.next_push("markets_summary"))["params"]["data"]
        funding = (await ws.next_push("funding_data.ETH-USD-PERP"))["params"]["data"]
    assert summary["symbol"] in sim.exchange.markets
    assert funding["market"] == "ETH-USD-PERP" and funding["funding_period_hours"] == 8


async def test_synthetic_driver_pushes_book_updates_on_its_own(simulator_factory: SimFactory) -> None:
    sim = await simulator_factory(synthetic_rate=200)
    async with ws_client(sim) as ws:
        await ws.subscribe(BOOK)
        frames = [(await ws.next_push(BOOK))["params"]["data"] for _ in range(10)]
    assert [f["seq_no"] for f in frames] == list(range(frames[0]["seq_no"], frames[0]["seq_no"] + 10))


async def test_silent_client_is_closed_after_the_pong_timeout(simulator_factory: SimFactory) -> None:
    sim = await simulator_factory(ping_interval_s=0.1, pong_timeout_s=0.1)
    async with connect(sim.ws_url, ping_interval=None) as ws:
        ws.transport.pause_reading()  # never sees the ping, never answers
        await asyncio.sleep(0.6)
        ws.transport.resume_reading()
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 2)
    assert not sim.sim.hub.conns
    assert info.value.rcvd is None or info.value.rcvd.code == 1011


async def test_responsive_client_survives_pings(simulator_factory: SimFactory) -> None:
    sim = await simulator_factory(ping_interval_s=0.05, pong_timeout_s=0.2)
    async with ws_client(sim) as ws:
        await asyncio.sleep(0.4)
        reply = await ws.call("subscribe", {"channel": "bbo.BTC-USD-PERP"})
    assert "result" in reply


async def test_slow_consumer_is_disconnected_when_its_queue_overflows(simulator_factory: SimFactory) -> None:
    sim = await simulator_factory(queue_bound=50, ws_compression=False)
    async with connect(sim.ws_url, compression=None, max_queue=1) as ws:
        request = {"jsonrpc": "2.0", "method": "subscribe", "params": {"channel": BOOK}, "id": 1}
        await ws.send(json.dumps(request))
        await asyncio.sleep(0.05)
        ws.transport.pause_reading()
        for _ in range(100):
            sim.venue.step_synthetic(100)
            await asyncio.sleep(0)
            if not sim.sim.hub.conns:
                break
        ws.transport.resume_reading()
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 5)
    assert not sim.sim.hub.conns
