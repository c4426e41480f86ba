"""The venue's whole order surface through the commands service, seen in the state (the whole
system in one loop: simulator + NATS + Redis + feed + reconciler + state + commands).

- every order type (LIMIT, MARKET, STOP_*, TAKE_PROFIT_*, STOP_LOSS_*), instruction (GTC,
  POST_ONLY, IOC, RPI), STP mode, REDUCE_ONLY and the STOP_CONDITION flags reach the venue as
  sent and the state shows each order with what the venue made of it;
- a stop goes UNTRIGGERED -> OPEN (and a stop market UNTRIGGERED -> CLOSED filled) in the state
  when the simulator's mark price reaches its trigger;
- a TWAP placed through commands is in the state with its child orders linked, progresses as the
  venue schedule runs, and ends CLOSED; a cancelled TWAP places no more children;
- bad algo input is answered 422 naming the rule and publishes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from shared.bus import decode_event, subjects
from tests.system.harness import TOKENS, System, full_system, wait_until

M = "BTC-USD-PERP"
D = Decimal
TICK = D("0.1")
FAST_RECONCILE = {"fast_interval_s": 0.3}


@pytest.fixture
async def system(nats_url: str, redis_url: str) -> AsyncIterator[System]:
    async with full_system(nats_url, redis_url, reconciler=FAST_RECONCILE) as sys_:
        yield sys_


class Http:
    """Raw HTTP to commands (the mm strategy's token) and the state."""

    def __init__(self, sys_: System) -> None:
        self.cmd = httpx.AsyncClient(base_url=sys_.commands_url, timeout=10.0,
                                     headers={"Authorization": f"Bearer {TOKENS['mm']}"})
        self.state = httpx.AsyncClient(base_url=sys_.state_url, timeout=10.0)
        self.sys = sys_

    async def aclose(self) -> None:
        await self.cmd.aclose()
        await self.state.aclose()

    async def place(self, **body: Any) -> httpx.Response:
        return await self.cmd.post("/v1/orders", json={"market": M, **body})

    async def order(self, client_id: str) -> dict[str, Any] | None:
        r = await self.state.get(f"/v1/orders/by_client_id/{client_id}")
        return r.json()["value"] if r.status_code == 200 else None

    async def algo(self, algo_id: str) -> dict[str, Any] | None:
        r = await self.state.get(f"/v1/algo/orders/{algo_id}")
        return r.json()["value"] if r.status_code == 200 else None

    async def bbo(self) -> tuple[Decimal, Decimal]:
        b = (await self.state.get(f"/v1/bbo/{M}")).json()["value"]
        return D(b["bid"]), D(b["ask"])

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        return await self.sys.fault(method, path, body)


@pytest.fixture
async def http(system: System) -> AsyncIterator[Http]:
    h = Http(system)
    try:
        yield h
    finally:
        await h.aclose()


async def _status_is(h: Http, cid: str, *statuses: str) -> dict[str, Any]:
    got: dict[str, Any] = {}

    async def check() -> bool:
        o = await h.order(cid)
        if o is not None:
            got.update(o)
        return o is not None and o["status"] in statuses

    await wait_until(check, 10.0, f"{cid} in {statuses} in the state (last: {got.get('status')})")
    return got


async def test_every_order_type_instruction_stp_and_flag_is_placed_and_visible_in_the_state(
        http: Http) -> None:
    bid, ask = await http.bbo()
    far_below, far_above = (bid - 2000).quantize(TICK), (ask + 2000).quantize(TICK)
    # (client id, body, the venue status the state must reach)
    cases: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
        ("gtc", {"side": "BUY", "type": "LIMIT", "size": "0.001", "price": str(far_below),
                 "instruction": "GTC", "stp": "EXPIRE_MAKER"}, ("OPEN",)),
        ("post", {"side": "SELL", "type": "LIMIT", "size": "0.001", "price": str(far_above),
                  "instruction": "POST_ONLY", "stp": "EXPIRE_BOTH"}, ("OPEN",)),
        ("ioc", {"side": "BUY", "type": "LIMIT", "size": "0.001", "price": str(far_below),
                 "instruction": "IOC", "stp": "EXPIRE_TAKER"}, ("CLOSED",)),
        ("mkt", {"side": "BUY", "type": "MARKET", "size": "0.001"}, ("CLOSED",)),
        ("reduce", {"side": "SELL", "type": "LIMIT", "size": "0.001", "price": str(far_above),
                    "flags": ["REDUCE_ONLY"]}, ("OPEN", "CLOSED")),
        ("stop-limit", {"side": "SELL", "type": "STOP_LIMIT", "size": "0.001",
                        "price": str(far_below), "trigger_price": str((bid - 1000).quantize(TICK)),
                        "flags": ["STOP_CONDITION_BELOW_TRIGGER"]}, ("UNTRIGGERED",)),
        ("stop-market", {"side": "BUY", "type": "STOP_MARKET", "size": "0.001",
                         "trigger_price": str((ask + 1000).quantize(TICK)),
                         "flags": ["STOP_CONDITION_ABOVE_TRIGGER"]}, ("UNTRIGGERED",)),
        ("tp-limit", {"side": "SELL", "type": "TAKE_PROFIT_LIMIT", "size": "0.001",
                      "price": str(far_above), "trigger_price": str((ask + 1000).quantize(TICK))},
         ("UNTRIGGERED",)),
        ("tp-market", {"side": "SELL", "type": "TAKE_PROFIT_MARKET", "size": "0.001",
                       "trigger_price": str((ask + 1000).quantize(TICK)), "flags": ["REDUCE_ONLY"]},
         ("UNTRIGGERED",)),
        ("sl-limit", {"side": "SELL", "type": "STOP_LOSS_LIMIT", "size": "0.001",
                      "price": str(far_below), "trigger_price": str((bid - 1000).quantize(TICK))},
         ("UNTRIGGERED",)),
        ("sl-market", {"side": "SELL", "type": "STOP_LOSS_MARKET", "size": "0.001",
                       "trigger_price": str((bid - 1000).quantize(TICK)), "flags": ["REDUCE_ONLY"],
                       "stp": "EXPIRE_BOTH"}, ("UNTRIGGERED",)),
    ]
    for cid, body, _ in cases:
        r = await http.place(client_id=cid, **body)
        assert r.status_code in (200, 201), (cid, r.status_code, r.text)
        assert r.json()["status"] == "accepted", (cid, r.text)
    for cid, body, statuses in cases:
        o = await _status_is(http, cid, *statuses)
        venue = o["order"]
        assert venue["type"] == body["type"], cid
        assert venue["side"] == body["side"], cid
        assert D(venue["size"]) == D(body["size"]), cid
        assert venue["instruction"] == body.get("instruction", "GTC"), cid
        assert venue["stp"] == body.get("stp", "EXPIRE_TAKER"), cid
        for flag in body.get("flags", []):
            assert flag in venue["flags"], (cid, venue["flags"])
        if "trigger_price" in body:
            assert D(venue["trigger_price"]) == D(body["trigger_price"]), cid
        if body["type"].endswith("LIMIT"):
            assert D(venue["price"]) == D(body["price"]), cid
        else:
            assert D(venue["price"]) == 0, cid
    # the conditionless stops got the direction the venue chose (the mark crossing the trigger)
    tp = await http.order("tp-limit")
    assert tp is not None and "STOP_CONDITION_ABOVE_TRIGGER" in tp["order"]["flags"]
    # the market order filled (the state's copy says so), the IOC expired unfilled
    mkt, ioc = await http.order("mkt"), await http.order("ioc")
    assert mkt is not None and D(mkt["filled"]) == D("0.001")
    assert ioc is not None and D(ioc["filled"]) == 0


async def test_rpi_is_signed_and_sent_and_the_state_shows_the_venue_verdict(http: Http) -> None:
    """RPI passes our rules and reaches the venue; the simulator models no RPI orders (its
    Instruction enum is GTC/IOC/POST_ONLY) and refuses it: the state shows that refusal."""
    bid, _ = await http.bbo()
    r = await http.place(client_id="rpi", side="BUY", type="LIMIT", size="0.001",
                         price=str((bid - 2000).quantize(TICK)), instruction="RPI")
    body = r.json()
    assert body["client_id"] == "rpi" and body["status"] in ("accepted", "rejected"), r.text
    if body["status"] == "rejected":  # the venue's refusal, not ours (no "rule": it is a venue code)
        assert r.status_code == 400 and "rule" not in body and body["http_status"] == 400, r.text
        o = await _status_is(http, "rpi", "REJECTED")
        assert o["reject_code"] == body["error"]
    else:
        o = await _status_is(http, "rpi", "OPEN")
        assert o["order"]["instruction"] == "RPI"


BAD_ORDERS: list[tuple[dict[str, Any], str]] = [
    ({"type": "STOP_LIMIT", "price": "60000"}, "trigger_price"),
    ({"type": "STOP_MARKET", "trigger_price": "0"}, "trigger_price"),
    ({"type": "STOP_LOSS_MARKET", "trigger_price": "-5"}, "trigger_price"),
    ({"type": "TAKE_PROFIT_MARKET", "trigger_price": "60000.05"}, "tick_size"),
    ({"type": "STOP_MARKET", "trigger_price": "NaN"}, "finite_number"),
    ({"type": "LIMIT", "price": "60000", "trigger_price": "61000"}, "trigger_price"),
    ({"type": "LIMIT", "price": "60000", "flags": ["STOP_CONDITION_BELOW_TRIGGER"]}, "stop_condition"),
    ({"type": "STOP_MARKET", "trigger_price": "61000",
      "flags": ["STOP_CONDITION_BELOW_TRIGGER", "STOP_CONDITION_ABOVE_TRIGGER"]}, "stop_condition"),
    ({"type": "LIMIT", "price": "60000", "stp": "EXPIRE_SOMETIMES"}, "schema"),
    ({"type": "LIMIT", "price": "60000", "instruction": "FOK"}, "schema"),
    ({"type": "TRAILING_STOP", "trigger_price": "61000"}, "schema"),
]


async def test_a_bad_trigger_flag_instruction_or_stp_is_422_naming_the_rule_and_unpublished(
        http: Http, system: System) -> None:
    async with _tap(system) as seen:
        for i, (body, rule) in enumerate(BAD_ORDERS):
            r = await http.place(client_id=f"bad-{i}", side="SELL", size="0.001", **body)
            assert r.status_code == 422, (body, r.text)
            assert r.json()["rule"] == rule, (body, r.text)
            assert "seq" not in r.json() and "X-Stream-Seq" not in r.headers, body
        await asyncio.sleep(0.3)
    assert seen == [], "a refused order published an event"
    for i in range(len(BAD_ORDERS)):
        assert await http.order(f"bad-{i}") is None


@contextlib.asynccontextmanager
async def _tap(system: System) -> AsyncIterator[list[Any]]:
    """Every account event the commands service published while inside (core subscription on
    the account subjects; the reconciler's fast checks publish meanwhile, they are left out)."""
    seen: list[Any] = []

    async def on_msg(msg: Any) -> None:
        event = decode_event(msg.data)
        if event.source == "cmd":
            seen.append(event)

    sub = await system.commands.nc.subscribe(subjects.account_filter(system.account), cb=on_msg)
    try:
        yield seen
    finally:
        await sub.unsubscribe()


async def test_a_stop_goes_untriggered_then_open_and_a_stop_market_fills_at_its_trigger(
        http: Http) -> None:
    bid, _ = await http.bbo()
    trigger = (bid - 300).quantize(TICK)
    limit = (bid - 1500).quantize(TICK)  # rests after the trigger (far below the book)
    r = await http.place(client_id="sl", side="BUY", type="STOP_LIMIT", size="0.001", price=str(limit),
                         trigger_price=str(trigger), flags=["STOP_CONDITION_BELOW_TRIGGER"])
    assert r.status_code == 201, r.text
    r = await http.place(client_id="sm", side="SELL", type="STOP_MARKET", size="0.001",
                         trigger_price=str(trigger), flags=["STOP_CONDITION_BELOW_TRIGGER"])
    assert r.status_code == 201, r.text
    before_sl = await _status_is(http, "sl", "UNTRIGGERED")
    await _status_is(http, "sm", "UNTRIGGERED")
    assert D(before_sl["filled"]) == 0
    # an untriggered stop's trigger is modified through commands (signed ModifyOrder)
    moved = (trigger - 100).quantize(TICK)
    r = await http.cmd.put(f"/v1/orders/{before_sl['id']}", json={
        "market": M, "side": "BUY", "type": "STOP_LIMIT", "size": "0.001", "price": str(limit),
        "trigger_price": str(moved)})
    assert r.status_code in (200, 201), r.text

    async def trigger_moved() -> bool:
        o = await http.order("sl")
        return o is not None and o["status"] == "UNTRIGGERED" and D(o["order"]["trigger_price"]) == moved

    await wait_until(trigger_moved, 10.0, "the modified trigger price in the state")
    await http.control("PUT", "/mark_price", {"market": M, "price": str(trigger)})
    await _status_is(http, "sm", "CLOSED")  # at its trigger; sl's moved trigger is not reached
    o = await http.order("sl")
    assert o is not None and o["status"] == "UNTRIGGERED", o
    await http.control("PUT", "/mark_price", {"market": M, "price": str(moved)})
    sl = await _status_is(http, "sl", "OPEN")
    assert sl["id"] == before_sl["id"]  # the same order, triggered
    sm = await _status_is(http, "sm", "CLOSED")
    assert D(sm["filled"]) == D("0.001")
    await http.control("PUT", "/mark_price", {"market": M, "price": None})


async def _algo_place(http: Http, **body: Any) -> httpx.Response:
    return await http.cmd.post("/v1/algo/orders", json={"market": M, **body})


async def test_a_twap_is_in_the_state_with_its_children_linked_until_it_closes(http: Http) -> None:
    r = await _algo_place(http, side="BUY", size="0.003", duration_seconds=90, frequency=30)
    assert r.status_code == 201, r.text
    placed = r.json()
    algo_id = placed["algo_id"]
    assert placed["status"] == "accepted" and placed["seq"] > 0 and placed["strategy"] == "mm"
    assert placed["algo"]["algo_type"] == "TWAP" and D(placed["algo"]["size"]) == D("0.003")

    async def children(n: int) -> bool:
        a = await http.algo(algo_id)
        return a is not None and len(a["child_order_ids"]) >= n

    await wait_until(lambda: children(1), 10.0, "the TWAP's first child linked in the state")
    a = await http.algo(algo_id)
    assert a is not None and a["strategy"] == "mm"
    first = a["child_order_ids"][0]
    child = (await http.state.get(f"/v1/orders/{first}")).json()["value"]
    assert child["order"]["type"] == "MARKET" and child["market"] == M and child["side"] == "BUY"
    assert D(child["size"]) == D("0.001")

    await http.control("POST", "/time/advance", {"ms": 30_000})
    await wait_until(lambda: children(2), 10.0, "the second child linked")
    await http.control("POST", "/time/advance", {"ms": 30_000})

    last: list[Any] = [None]

    async def closed() -> bool:
        a = last[0] = await http.algo(algo_id)
        return a is not None and a["status"] == "CLOSED" and len(a["child_order_ids"]) == 3

    try:
        await wait_until(closed, 10.0, "the TWAP CLOSED with 3 children (the reconciler's algo read)")
    except AssertionError as exc:
        counters = http.sys.state_service.core.counters.snapshot()
        algo_counters = {k: v for k, v in counters.items() if "algo" in k or "snapshot" in k}
        runner = http.sys.reconciler.runner
        algo_counters["runner"] = (runner.open_algos, runner.algo_errors, http.sys.reconciler.limiter.counts)
        raise AssertionError(f"{exc}; the state's algo: {last[0]}; {algo_counters}") from None
    a = await http.algo(algo_id)
    assert a is not None and D(a["filled"]) == D("0.003") and D(a["algo"]["remaining_size"]) == 0
    assert len(set(a["child_order_ids"])) == 3
    listed = (await http.state.get("/v1/algo/orders", params={"status": "CLOSED"})).json()["value"]
    assert [x["id"] for x in listed] == [algo_id]
    # in Redis too (pdx:{a}:algo:{id}, the {"seq","value"} record)
    names = sorted([k async for k in http.sys.redis.scan_iter(match=f"*:algo:{algo_id}")])
    assert len(names) == 2 and b":cmd:algo:" in names[1]  # the state's record, commands' owner
    assert await http.sys.redis.get(names[1]) == b"mm"
    record = json.loads(await http.sys.redis.get(names[0]))
    assert record["value"]["status"] == "CLOSED" and len(record["value"]["child_order_ids"]) == 3
    # the venue lists it no more
    venue = (await http.cmd.get("/v1/algo/orders")).json()
    assert venue["results"] == []


async def test_a_twap_cancel_closes_it_and_no_more_children_come(
        http: Http, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="commands.audit")
    r = await _algo_place(http, side="SELL", size="0.01", duration_seconds=300)
    assert r.status_code == 201, r.text
    algo_id = r.json()["algo_id"]
    listed = (await http.cmd.get("/v1/algo/orders", params={"market": M})).json()
    assert [a["id"] for a in listed["results"]] == [algo_id] and listed["strategies"] == {algo_id: "mm"}

    async def one_child() -> bool:
        a = await http.algo(algo_id)
        return a is not None and len(a["child_order_ids"]) == 1

    await wait_until(one_child, 10.0, "the first child linked")
    r = await http.cmd.delete(f"/v1/algo/orders/{algo_id}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "cancel_requested" and body["algo"]["status"] == "CLOSED"
    assert body["algo"]["cancel_reason"] == "USER_CANCELED" and body["seq"] > 0
    a = (await http.state.get(f"/v1/algo/orders/{algo_id}",
                              params={"min_seq": body["seq"]})).json()["value"]
    assert a["status"] == "CLOSED" and a["algo"]["cancel_reason"] == "USER_CANCELED"
    await http.control("POST", "/time/advance", {"ms": 120_000})
    await asyncio.sleep(0.5)  # the fast check and any (wrong) child push would have landed
    a = await http.algo(algo_id)
    assert a is not None and len(a["child_order_ids"]) == 1 and a["status"] == "CLOSED"
    # cancelling again: the venue's refusal, passed on
    again = await http.cmd.delete(f"/v1/algo/orders/{algo_id}")
    assert again.status_code == 400 and again.json()["status"] == "rejected", again.text
    # one audit line per command and per outcome, the algo id as order_id
    lines = [(r.getMessage(), getattr(r, "op", ""), getattr(r, "order_id", ""), getattr(r, "http_status", 0))
             for r in caplog.records if r.name == "commands.audit"]
    assert ("command", "place_algo", "", 0) in lines
    assert ("outcome", "place_algo", algo_id, 201) in lines
    assert lines.count(("command", "cancel_algo", algo_id, 0)) == 2
    assert ("outcome", "cancel_algo", algo_id, 200) in lines
    assert ("outcome", "cancel_algo", algo_id, 400) in lines


BAD_ALGOS: list[tuple[dict[str, Any], int, str]] = [
    ({"duration_seconds": 45}, 422, "duration_seconds"),
    ({"duration_seconds": 0}, 422, "duration_seconds"),
    ({"duration_seconds": 90_000}, 422, "duration_seconds"),
    ({"duration_seconds": 90, "frequency": 60}, 422, "frequency"),
    ({"duration_seconds": 90, "frequency": 20}, 422, "frequency"),
    ({"duration_seconds": 90, "frequency": 120}, 422, "frequency"),
    ({"duration_seconds": 90, "size": "0.0015"}, 422, "size_increment"),
    ({"duration_seconds": 90, "size": "0.002"}, 422, "child_size"),
    ({"duration_seconds": 90, "size": "-1"}, 422, "size"),
    ({"duration_seconds": 90, "size": "NaN"}, 422, "finite_number"),
    ({"duration_seconds": 90, "size": "1e400"}, 422, "number_range"),
    ({"duration_seconds": 90, "recv_window": 5}, 422, "recv_window"),
    ({"duration_seconds": 90, "market": "DOGE-USD-PERP"}, 422, "market"),
    ({"duration_seconds": 90, "type": "LIMIT"}, 422, "schema"),
    ({"duration_seconds": 90, "algo_type": "VWAP"}, 422, "schema"),
    ({"duration_seconds": 90, "price": "1"}, 422, "schema"),
    ({"duration_seconds": "90"}, 422, "schema"),
    ({}, 422, "schema"),
    ({"duration_seconds": 90, "size": "200"}, 403, "max_order_notional"),
]


async def test_bad_algo_input_is_refused_naming_the_rule_and_nothing_is_published(
        http: Http, system: System) -> None:
    async with _tap(system) as seen:
        for body, status, rule in BAD_ALGOS:
            r = await _algo_place(http, **{"side": "BUY", "size": "0.003", **body})
            assert r.status_code == status, (body, r.text)
            assert r.json()["rule"] == rule, (body, r.text)
        r = await http.cmd.post("/v1/algo/orders", content=b"{not json")
        assert r.status_code == 422 and r.json()["rule"] == "schema", r.text
        r = await http.cmd.post("/v1/algo/orders", json={"market": M, "side": "BUY", "size": "0.003",
                                                         "duration_seconds": 90},
                                headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401, r.text
        await asyncio.sleep(0.3)
    assert seen == [], "a refused algo published an event"
    assert (await http.cmd.get("/v1/algo/orders")).json()["results"] == []
    assert (await http.state.get("/v1/algo/orders")).json()["value"] == []


async def test_algo_cancel_of_a_bad_or_unknown_id(http: Http) -> None:
    r = await http.cmd.delete("/v1/algo/orders/12ab")
    assert r.status_code == 422 and r.json()["rule"] == "algo_id", r.text
    r = await http.cmd.delete("/v1/algo/orders/%3Fmarket%3DX")
    assert r.status_code == 422 and r.json()["rule"] == "algo_id", r.text
    r = await http.cmd.delete("/v1/algo/orders/123456789")  # owned by nobody: not ours to cancel
    assert r.status_code == 403 and r.json()["rule"] == "can_cancel_others", r.text
    r = await http.state.get("/v1/algo/orders", params={"status": "DONE"})
    assert r.status_code == 422, r.text


async def test_the_kill_switch_cancels_the_strategy_s_twaps_and_refuses_new_ones(http: Http) -> None:
    r = await _algo_place(http, side="BUY", size="0.02", duration_seconds=600)
    assert r.status_code == 201, r.text
    algo_id = r.json()["algo_id"]
    poller = httpx.AsyncClient(base_url=http.sys.commands_url, timeout=10.0,
                               headers={"Authorization": f"Bearer {TOKENS['poller']}"})
    try:
        r = await poller.post("/v1/algo/orders", json={"market": M, "side": "SELL", "size": "0.02",
                                                       "duration_seconds": 600})
        assert r.status_code == 201, r.text
        other = r.json()["algo_id"]
        r = await http.cmd.post("/v1/kill", json={"reason": "test"})  # the mm strategy only
        assert r.status_code == 200, r.text

        async def cancelled() -> bool:
            a = await http.algo(algo_id)
            return a is not None and a["status"] == "CLOSED" and a["algo"]["cancel_reason"] == "USER_CANCELED"

        await wait_until(cancelled, 10.0, "mm's TWAP cancelled by its kill switch")
        a = await http.algo(other)
        assert a is not None and a["status"] != "CLOSED"  # another strategy's algo runs on
        r = await _algo_place(http, side="BUY", size="0.003", duration_seconds=90)
        assert r.status_code == 403 and r.json()["rule"] == "kill_switch", r.text
        r = await http.cmd.post("/v1/resume", json={})
        assert r.status_code == 200, r.text
        r = await _algo_place(http, side="BUY", size="0.003", duration_seconds=90)
        assert r.status_code == 201, r.text
    finally:
        await poller.aclose()


async def test_the_typed_clients_place_read_and_cancel_a_twap_and_a_stop_with_stp(system: System) -> None:
    cmd, state = system.commands_client(), system.state_client()
    placed = await cmd.place_twap(M, "SELL", D("0.004"), 120)
    assert placed.status == "accepted" and placed.http_status == 201 and placed.algo is not None
    assert [a.id for a in await cmd.open_algos(M)] == [placed.algo_id]
    seen = await state.algo(placed.algo_id, min_seq=placed.seq)
    assert seen.value.strategy == "mm" and seen.value.algo.algo_params["frequency"] == "30"

    async def linked() -> bool:
        return len((await state.algo(placed.algo_id)).value.child_order_ids) == 1

    await wait_until(linked, 10.0, "the first child linked, through the client")
    gone = await cmd.cancel_algo(placed.algo_id)
    assert gone.status == "cancel_requested" and gone.algo is not None and gone.algo.status == "CLOSED"
    closed = await state.algos(status="CLOSED", min_seq=gone.seq)
    assert [a.id for a in closed.value] == [placed.algo_id]
    bid = (await state.bbo(M)).value.bid
    assert bid is not None
    stop = await cmd.place(M, "SELL", D("0.001"), type="STOP_MARKET",
                           trigger_price=(bid - 500).quantize(TICK), stp="EXPIRE_BOTH",
                           client_id="client-stop")
    assert stop.status == "accepted"

    async def untriggered() -> bool:
        found = await state.find_order("client-stop")
        return found is not None and found.status == "UNTRIGGERED"

    await wait_until(untriggered, 10.0, "client-stop UNTRIGGERED")
    found = await state.find_order("client-stop")
    assert found is not None and found.order is not None and found.order.stp == "EXPIRE_BOTH"
