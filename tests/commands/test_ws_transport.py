"""WebSocket order entry (``COMMANDS_TRANSPORT=ws``) end to end: the commands service against the
simulator (signatures verified), real NATS and Redis.

REST order writes of the service are replaced by recorders, so a test proves the command went by
the WebSocket (or, for the fallback, by REST). Faults are injected in the simulator's WebSocket
order methods (``sim.sim.ws.orders.methods``): a lost answer, a hang, an internal error.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from services.commands.ws import WsOrderClient
from services.simulator.ws.conn import Conn
from services.simulator.ws.rpc import RpcError
from shared.bus import CmdRejected, CmdUnknown, subjects
from shared.bus.requests import decode_request
from tests.commands.helpers import Factory, M, Running, auth
from tests.commands.stack import Tap, until
from tests.simfixture import SimHandle

REST_WRITES = (
    "create_order",
    "create_orders",
    "modify_order",
    "cancel_order",
    "cancel_order_by_client_id",
    "cancel_all_orders",
    "cancel_orders",
)


def record_rest(cmd: Running) -> list[str]:
    """Every REST order write of the service from now on, by name (the call still goes out)."""
    calls: list[str] = []
    rest = cmd.service.rest
    for name in REST_WRITES:
        real = getattr(rest, name)

        def wrapped(*a: Any, _real: Any = real, _name: str = name, **kw: Any) -> Any:
            calls.append(_name)
            return _real(*a, **kw)

        setattr(rest, name, wrapped)
    return calls


def ws_conn(sim: SimHandle) -> Conn:
    """The simulator's side of the commands service's order connection (authenticated, no
    subscriptions: the feed's has some)."""
    conns = [c for c in sim.sim.hub.conns.values() if c.account and not c.closed and not c.subscriptions]
    assert len(conns) == 1, conns
    return conns[0]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def client_of(cmd: Running) -> WsOrderClient:
    assert cmd.service.ws is not None
    return cmd.service.ws


def status(sim: SimHandle, order_id: str) -> str:
    sim.venue.process_now()
    return str(sim.exchange.get_order(sim.account, order_id).status)


def patch_method(sim: SimHandle, method: str, make: Callable[[Any], Any]) -> None:
    """Replace one simulator WS order method by ``make(real)`` (restored with the simulator)."""
    methods = sim.sim.ws.orders.methods
    methods[method] = make(methods[method])


async def start_ws(start_commands: Factory, sim: SimHandle, **kw: Any) -> Running:
    cmd = await start_commands(sim, transport="ws", **kw)
    assert client_of(cmd).ready
    return cmd


async def test_place_batch_modify_and_every_cancel_go_by_the_websocket(
    simulator: SimHandle, start_commands: Factory, unique: str
) -> None:
    sim = simulator
    cmd = await start_ws(start_commands, sim)
    rest = record_rest(cmd)
    conn = ws_conn(sim)
    # place one
    r = await cmd.place(client_id=f"mm-ws1-{unique}")
    assert r.status_code == 201, r.text
    one = r.json()["order_id"]
    assert one in conn.placed and status(sim, one) == "OPEN"
    # place a batch (one order.create_batch)
    r = await cmd.client.post(
        "/v1/orders/batch",
        headers=auth("mm"),
        json={
            "orders": [
                {"market": M, "side": "BUY", "size": "0.01", "price": str(49000 + k)} for k in range(3)
            ]
        },
    )
    assert r.status_code == 201, r.text
    batch = [x["reply"]["order_id"] for x in r.json()["results"]]
    assert len(batch) == 3 and set(batch) <= conn.placed
    assert all(status(sim, o) == "OPEN" for o in batch)
    # modify
    body = {"market": M, "side": "BUY", "type": "LIMIT", "size": "0.02", "price": "48000"}
    r = await cmd.client.put(f"/v1/orders/{one}", headers=auth("mm"), json=body)
    assert r.status_code == 200, r.text
    sim.venue.process_now()
    modified = sim.exchange.get_order(sim.account, one)
    assert (Decimal(modified.price), Decimal(modified.size)) == (Decimal("48000"), Decimal("0.02"))
    # cancel by id, by client id (with its market), a batch by ids
    assert (await cmd.client.delete(f"/v1/orders/{batch[0]}", headers=auth("mm"))).status_code == 202
    cid = f"mm-ws2-{unique}"
    two = (await cmd.place(client_id=cid)).json()["order_id"]
    r = await cmd.client.delete(f"/v1/orders/by_client_id/{cid}", params={"market": M}, headers=auth("mm"))
    assert r.status_code == 202, r.text
    r = await cmd.client.request(
        "DELETE", "/v1/orders/batch", headers=auth("mm"), json={"order_ids": [batch[1]]}
    )
    assert r.status_code == 200 and r.json()["results"][0]["status"] == "QUEUED_FOR_CANCELLATION", r.text
    assert [status(sim, o) for o in (batch[0], two, batch[1])] == ["CLOSED"] * 3
    # cancel all
    assert (
        await cmd.client.delete("/v1/orders", params={"market": M}, headers=auth("boss"))
    ).status_code == 202
    sim.venue.process_now()
    assert sim.exchange.open_orders(sim.account) == []
    assert rest == [] and cmd.service.transport.name == "ws"
    assert cmd.service.metrics.ws_fallback.labels("place")._value.get() == 0


async def test_venue_refusals_over_the_websocket_are_definite_with_the_venues_code(
    simulator: SimHandle, start_commands: Factory, nc: Any, unique: str
) -> None:
    sim = simulator
    cmd = await start_ws(start_commands, sim)
    tap = await Tap().start(nc, cmd.service.settings.account_token)
    rest = record_rest(cmd)
    # a cancel of an order the venue does not know: method error 100 ORDER_ID_NOT_FOUND -> 404
    r = await cmd.client.delete(f"/v1/orders/999{int(unique, 16) % 10**9}", headers=auth("boss"))
    assert r.status_code == 404 and r.json()["error"] == "ORDER_ID_NOT_FOUND", r.text

    # the venue's rate limit (42901) on order.create: a 429 rejection, the order never exists
    def limited(real: Any) -> Any:
        def call(conn: Conn, params: Any, now_ms: int) -> Any:
            raise RpcError(42901, "Rate limit exceeded", 0.5)

        return call

    patch_method(sim, "order.create", limited)
    cid = f"mm-rl-{unique}"
    r = await cmd.place(client_id=cid)
    assert r.status_code == 429 and r.json()["status"] == "rejected", r.text
    await until(lambda: bool(tap.of(CmdRejected, cid)), 3.0, "CmdRejected")
    assert [o for o in sim.exchange.orders_history(sim.account) if o.client_id == cid] == []
    assert rest == []


@pytest.mark.parametrize("execute", [True, False], ids=["executed", "not_executed"])
async def test_socket_dropped_after_the_write_is_unknown_looked_up_and_never_resent(
    simulator: SimHandle, start_commands: Factory, nc: Any, unique: str, execute: bool
) -> None:
    sim = simulator
    cmd = await start_ws(start_commands, sim)
    tap = await Tap().start(nc, cmd.service.settings.account_token)
    lookups: list[Any] = []

    async def on_req(msg: Any) -> None:
        lookups.append(decode_request(msg.data))

    await nc.subscribe(subjects.RECONCILE_REQUEST, cb=on_req)
    rest = record_rest(cmd)

    def lose_answer(real: Any) -> Any:
        def call(conn: Conn, params: Any, now_ms: int) -> Any:
            result = real(conn, params, now_ms) if execute else None
            conn.abort()  # the TCP connection is cut before the answer leaves
            return result

        return call

    patch_method(sim, "order.create", lose_answer)
    cid = f"mm-lost-{unique}"
    r = await cmd.place(client_id=cid)
    assert r.status_code == 202 and r.json()["status"] == "unknown", r.text
    await until(lambda: bool(tap.of(CmdUnknown, cid)), 3.0, "CmdUnknown")
    await until(lambda: any(q.client_ids == (cid,) for q in lookups), 3.0, "the lookup request")
    venue = [o for o in sim.exchange.orders_history(sim.account) if o.client_id == cid]
    assert len(venue) == (1 if execute else 0)
    # neither re-sent by REST nor by the reconnected socket; a duplicate replays the unknown
    again = await cmd.place(client_id=cid)
    assert again.json()["status"] == "unknown"
    assert rest == []
    assert len([o for o in sim.exchange.orders_history(sim.account) if o.client_id == cid]) == len(venue)
    await until(lambda: client_of(cmd).ready and client_of(cmd).sessions == 2, 5.0, "the reconnection")


async def test_no_answer_in_time_and_an_internal_error_are_unknown(
    simulator: SimHandle, start_commands: Factory, unique: str
) -> None:
    sim = simulator
    cmd = await start_ws(start_commands, sim, venue_read_timeout_s=0.3)
    rest = record_rest(cmd)
    real_deliver = sim.sim.hub.deliver
    swallowed: list[bytes] = []

    def swallow(conn: Conn, frame: bytes, binary: bool = False) -> None:
        swallowed.append(frame)

    def hang(real: Any) -> Any:  # the venue acts, its answer never comes
        def call(conn: Conn, params: Any, now_ms: int) -> Any:
            sim.sim.hub.deliver = swallow  # type: ignore[method-assign]
            return real(conn, params, now_ms)

        return call

    real_create = sim.sim.ws.orders.methods["order.create"]
    patch_method(sim, "order.create", hang)
    cid = f"mm-hang-{unique}"
    r = await cmd.place(client_id=cid)
    sim.sim.hub.deliver = real_deliver  # type: ignore[method-assign]
    sim.sim.ws.orders.methods["order.create"] = real_create
    assert r.status_code == 202 and r.json()["status"] == "unknown", r.text
    assert swallowed and len([o for o in sim.exchange.orders_history(sim.account) if o.client_id == cid]) == 1

    def internal(real: Any) -> Any:
        def call(conn: Conn, params: Any, now_ms: int) -> Any:
            raise RpcError(-32603, "internal error")

        return call

    patch_method(sim, "order.modify", internal)
    oid = (await cmd.place()).json()["order_id"]
    body = {"market": M, "side": "BUY", "type": "LIMIT", "size": "0.02", "price": "48000"}
    r = await cmd.client.put(f"/v1/orders/{oid}", headers=auth("mm"), json=body)
    assert r.json()["status"] == "unknown", r.text
    assert rest == []


async def test_websocket_down_falls_back_to_rest_counted_then_reconnects(
    simulator: SimHandle, start_commands: Factory, unique: str
) -> None:
    sim = simulator
    cmd = await start_ws(start_commands, sim, ws_backoff_initial_s=0.05, ws_backoff_max_s=0.1)
    ws = client_of(cmd)
    rest = record_rest(cmd)
    # the venue's websocket endpoint becomes unreachable (a closed port), the connection is cut
    url, ws.url = ws.url, f"ws://127.0.0.1:{closed_port()}/v1"
    ws_conn(sim).abort()
    await until(lambda: not ws.ready, 3.0, "the socket seen down")
    r = await cmd.place(client_id=f"mm-fb-{unique}")
    assert r.status_code == 201, r.text
    oid = r.json()["order_id"]
    assert status(sim, oid) == "OPEN"
    assert (await cmd.client.delete(f"/v1/orders/{oid}", headers=auth("mm"))).status_code == 202
    assert rest == ["create_order", "cancel_order"]
    assert cmd.service.metrics.ws_fallback.labels("place")._value.get() == 1
    assert cmd.service.metrics.ws_fallback.labels("cancel")._value.get() == 1
    health = (await cmd.client.get("/healthz")).json()
    assert health["order_ws"]["ready"] is False, health
    # the venue takes connections again: the client reconnects (re-authenticated) and is used
    ws.url = url
    await until(lambda: ws.ready and ws.sessions == 2, 5.0, "the reconnection")
    r = await cmd.place(client_id=f"mm-back-{unique}")
    assert r.status_code == 201 and r.json()["order_id"] in ws_conn(sim).placed
    assert rest == ["create_order", "cancel_order"]


async def test_cancel_on_disconnect_cancels_the_sessions_orders_when_the_socket_drops_and_is_rearmed(
    simulator: SimHandle, start_commands: Factory, start_feed: Any, nc: Any, unique: str
) -> None:
    sim = simulator
    await start_feed(sim)
    cmd = await start_ws(start_commands, sim, cancel_on_disconnect=True, ws_backoff_initial_s=0.05)
    ws = client_of(cmd)
    tap = await Tap().start(nc, cmd.service.settings.account_token)
    conn = ws_conn(sim)
    assert ws.cod_armed and conn.cancel_on_disconnect
    health = (await cmd.client.get("/healthz")).json()
    assert health["order_ws"]["cancel_on_disconnect"] == "armed", health
    ids = [(await cmd.place(client_id=f"mm-cod{k}-{unique}")).json()["order_id"] for k in range(2)]
    assert [status(sim, o) for o in ids] == ["OPEN", "OPEN"]
    conn.abort()  # the network drops the connection
    await until(lambda: all(status(sim, o) == "CLOSED" for o in ids), 3.0, "the venue's cancels")
    assert {str(sim.exchange.get_order(sim.account, o).cancel_reason) for o in ids} == {"USER_CANCELED"}

    def closed_in_state(order_id: str) -> bool:  # the feed's push, what the state folds
        from shared.bus import OrderEvent

        return any(e.order.id == order_id and e.order.status == "CLOSED" for e in tap.of(OrderEvent))

    await until(lambda: all(closed_in_state(o) for o in ids), 5.0, "the CLOSED pushes on the bus")
    # re-armed on the new connection: its orders are cancelled by the next drop too
    await until(lambda: ws.ready and ws.sessions == 2, 5.0, "the reconnection")
    assert ws.cod_armed and ws_conn(sim).cancel_on_disconnect
    third = (await cmd.place(client_id=f"mm-cod3-{unique}")).json()["order_id"]
    assert status(sim, third) == "OPEN"
    ws_conn(sim).abort()
    await until(lambda: status(sim, third) == "CLOSED", 3.0, "the cancel after the second drop")


async def test_cancel_on_disconnect_is_off_by_default_and_needs_the_ws_transport(
    simulator: SimHandle, start_commands: Factory
) -> None:
    sim = simulator
    cmd = await start_ws(start_commands, sim)
    assert not client_of(cmd).cod_armed and not ws_conn(sim).cancel_on_disconnect
    oid = (await cmd.place()).json()["order_id"]
    ws_conn(sim).abort()
    await asyncio.sleep(0.2)
    assert status(sim, oid) == "OPEN"
    from shared.errors import ConfigError

    with pytest.raises(ConfigError, match="COMMANDS_CANCEL_ON_DISCONNECT"):
        await start_commands(sim, transport="rest", cancel_on_disconnect=True)
    with pytest.raises(ConfigError, match="COMMANDS_TRANSPORT"):
        await start_commands(sim, transport="carrier-pigeon")


async def test_a_refused_jwt_at_reconnect_is_renewed_and_the_socket_authenticates_again(
    simulator: SimHandle, start_commands: Factory
) -> None:
    from services.simulator.tokens import TokenCheck, TokenProblem

    sim = simulator
    cmd = await start_ws(start_commands, sim, ws_backoff_initial_s=0.05, ws_backoff_max_s=0.1)
    ws, jwt = client_of(cmd), cmd.service.rest.jwt
    held, fetches = jwt.current, jwt.fetches
    assert held is not None
    tokens = sim.venue.tokens
    real_verify = tokens.verify

    def verify(token: str, now_s: float) -> TokenCheck:  # the held token is now refused (expired)
        return TokenCheck(problem=TokenProblem.INVALID) if token == held else real_verify(token, now_s)

    tokens.verify = verify  # type: ignore[method-assign]
    try:
        ws_conn(sim).abort()
        await until(lambda: ws.ready and ws.sessions == 2, 5.0, "re-authenticated with a new JWT")
    finally:
        tokens.verify = real_verify  # type: ignore[method-assign]
    assert "40111" in ws.last_error  # the refusal seen, then a new token fetched
    assert jwt.fetches > fetches and jwt.current != held
    r = await cmd.place()
    assert r.status_code == 201 and r.json()["order_id"] in ws_conn(sim).placed


@pytest.mark.parametrize("batch", [False, True], ids=["create", "create_batch"])
async def test_a_garbage_websocket_answer_is_unknown_counted_and_looked_up_never_accepted(
    simulator: SimHandle, start_commands: Factory, nc: Any, unique: str, batch: bool
) -> None:
    import msgspec

    sim = simulator
    cmd = await start_ws(start_commands, sim)
    tap = await Tap().start(nc, cmd.service.settings.account_token)

    def foreign(item: dict[str, Any]) -> dict[str, Any]:
        return {**item, "order": msgspec.structs.replace(item["order"], account="0xdeadbeef")}

    def garbage(real: Any) -> Any:  # the venue's answer names another account
        def call(conn: Conn, params: Any, now_ms: int) -> Any:
            result = real(conn, params, now_ms)
            if batch:
                return {"results": [foreign(result["results"][0]), *result["results"][1:]]}
            return foreign(result)

        return call

    patch_method(sim, "order.create_batch" if batch else "order.create", garbage)
    cids = [f"mm-bad{k}-{unique}" for k in range(2 if batch else 1)]
    if batch:
        orders = [
            {"market": M, "side": "BUY", "size": "0.01", "price": "49000", "client_id": c} for c in cids
        ]
        r = await cmd.client.post("/v1/orders/batch", headers=auth("mm"), json={"orders": orders})
        statuses = [x["reply"]["status"] for x in r.json()["results"]]
    else:
        r = await cmd.place(client_id=cids[0])
        statuses = [r.json()["status"]]
    assert statuses == (["unknown", "accepted"] if batch else ["unknown"]), r.text
    await until(lambda: bool(tap.of(CmdUnknown, cids[0])), 3.0, "CmdUnknown")
    assert cmd.service.metrics.invalid_answers.labels("foreign_account")._value.get() == 1


async def test_the_order_socket_can_connect_with_the_sbe_query_and_still_speaks_json_rpc(
    simulator: SimHandle, start_commands: Factory
) -> None:
    sim = simulator
    cmd = await start_ws(start_commands, sim, ws_sbe_schema_version=1)
    conn = ws_conn(sim)
    assert conn.sbe_version == 1
    sim.sim.hub.deliver(conn, b"\x00\x01binary", True)  # a binary frame is skipped, not an answer
    r = await cmd.place()
    assert r.status_code == 201 and r.json()["order_id"] in conn.placed, r.text


# ------------------------------------------------------------------ a stalled but open socket


async def arm(sim: SimHandle, fault: dict[str, Any]) -> None:
    """An order fault of the simulator's control API, on the WebSocket order methods."""
    import httpx

    async with httpx.AsyncClient(base_url=sim.control_url) as ctl:
        r = await ctl.post("/rest/errors", json={"transport": "ws", **fault})
        assert r.status_code == 200, r.text


async def reset(sim: SimHandle) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=sim.control_url) as ctl:
        assert (await ctl.post("/reset")).status_code == 200


def order_conns(sim: SimHandle) -> list[Conn]:
    return [c for c in sim.sim.hub.conns.values() if c.account and not c.closed and not c.subscriptions]


async def test_a_stalled_socket_is_suspect_after_an_unanswered_call_rest_meanwhile_then_a_new_session(
    simulator: SimHandle, start_commands: Factory, unique: str
) -> None:
    sim = simulator
    # no periodic ping: only the unanswered call can reveal the stall
    cmd = await start_ws(start_commands, sim, venue_read_timeout_s=0.5, ws_ping_interval_s=0,
                         ws_ping_timeout_s=0.3, ws_backoff_initial_s=0.05, ws_backoff_max_s=0.1)
    ws = client_of(cmd)
    rest = record_rest(cmd)
    await arm(sim, {"kind": "stall", "path": "order.create"})  # the venue stops reading the socket
    r = await cmd.place(client_id=f"mm-stall-{unique}")
    assert r.status_code == 202 and r.json()["status"] == "unknown", r.text
    assert ws.suspects == 1 and not ws.ready  # suspect: no new command on it until a pong
    r = await cmd.place(client_id=f"mm-stall2-{unique}")
    assert r.status_code == 201, r.text
    assert rest == ["create_order"]  # went by REST at once, not into the stalled socket
    assert status(sim, r.json()["order_id"]) == "OPEN"
    await until(lambda: ws.stalls == 1 and ws.ready and ws.sessions == 2, 5.0, "no pong: a new session")
    health = (await cmd.client.get("/healthz")).json()["order_ws"]
    assert (health["suspects"], health["stalls"], health["ready"]) == (1, 1, True), health
    await reset(sim)  # the old socket is read again: the simulator sees it was cut
    await until(lambda: len(order_conns(sim)) == 1, 5.0, "the stalled connection gone at the venue")
    r = await cmd.place(client_id=f"mm-stall3-{unique}")
    assert r.status_code == 201 and r.json()["order_id"] in ws_conn(sim).placed, r.text
    assert rest == ["create_order"]


async def test_an_unanswered_call_on_a_live_socket_keeps_it_once_the_pong_comes(
    simulator: SimHandle, start_commands: Factory, unique: str
) -> None:
    sim = simulator
    cmd = await start_ws(start_commands, sim, venue_read_timeout_s=0.3, ws_ping_timeout_s=2.0)
    ws = client_of(cmd)
    rest = record_rest(cmd)
    await arm(sim, {"kind": "hang", "path": "order.create"})  # one call hangs, pings are answered
    r = await cmd.place(client_id=f"mm-hung-{unique}")
    assert r.status_code == 202 and r.json()["status"] == "unknown", r.text
    assert ws.suspects == 1
    await until(lambda: ws.ready, 3.0, "ready again after the pong")
    assert (ws.stalls, ws.sessions) == (0, 1)
    r = await cmd.place(client_id=f"mm-hung2-{unique}")
    assert r.status_code == 201 and r.json()["order_id"] in ws_conn(sim).placed, r.text
    assert rest == []
    await reset(sim)


async def test_the_periodic_ping_cuts_a_stalled_socket_before_the_read_timeout(
    simulator: SimHandle, start_commands: Factory, unique: str
) -> None:
    sim = simulator
    cmd = await start_ws(start_commands, sim, venue_read_timeout_s=30.0, ws_ping_interval_s=0.2,
                         ws_ping_timeout_s=0.3, ws_backoff_initial_s=0.05, ws_backoff_max_s=0.1)
    ws = client_of(cmd)
    await arm(sim, {"kind": "stall", "path": "order.create", "execute": True})
    cid = f"mm-keepalive-{unique}"
    # the read timeout is 30 s: an answer within 10 s can only come from the lost connection
    r = await asyncio.wait_for(cmd.place(client_id=cid), 10.0)
    assert r.status_code == 202 and r.json()["status"] == "unknown", r.text
    assert ws.suspects == 0  # the keepalive found it, not a timed-out call
    await until(lambda: ws.ready and ws.sessions == 2, 5.0, "a new session")
    await reset(sim)
