"""The simulator's signature checker (``services.simulator.verifyproc``): the child decides every
order exactly as the inline check does, the REST order routes take its verdicts, and a dead
checker only means inline checks (the same answers) until it is started again. The WebSocket
``order.create`` / ``order.create_batch`` calls take its verdicts too, with the inline answers."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from services.simulator.verifyproc import BAD_SIGNATURE, Verifier, key, verdict
from shared.config import DEV_ACCOUNT, DEV_L2_PRIVATE_KEY
from shared.paradex.models.requests import OrderRequest
from shared.paradex.signer import OrderSigner

from ..simfixture import SimFactory, SimHandle, ws_client

CHAIN = "PRIVATE_SN_POTC_MOCK_SEPOLIA"
SIGNER = OrderSigner(DEV_L2_PRIVATE_KEY, DEV_ACCOUNT, CHAIN)


def _order(size: str = "0.01", price: str | None = "60000", *, signed_size: str | None = None,
           type_: str = "LIMIT", signature: str | None = None) -> OrderRequest:
    ts = 1_700_000_000_000
    sig = SIGNER.sign_order("BTC-USD-PERP", "BUY", type_, signed_size or size, price or "0", ts)
    return OrderRequest(market="BTC-USD-PERP", side="BUY", type=type_, size=Decimal(size),
                        price=None if price is None else Decimal(price), signature=signature or sig,
                        signature_timestamp=ts, instruction="GTC")


CASES = {
    "valid": _order(),
    "valid market order (no price)": _order(price=None, type_="MARKET"),
    "signed for another size": _order(size="0.02", signed_size="0.01"),
    "not a signature": _order(signature='["1","2"]'),
    "malformed signature": _order(signature="nonsense"),
    "size with 9 decimals": _order(size="0.000000001", signed_size="0.01"),
    "size too large": _order(size="1e80", signed_size="0.01"),
}


@pytest.fixture
async def checker() -> AsyncIterator[Verifier]:
    v = Verifier(CHAIN)
    assert await v.child.start()
    try:
        yield v
    finally:
        await v.stop()


@pytest.mark.parametrize("case", list(CASES))
async def test_the_child_decides_as_the_inline_check(checker: Verifier, case: str) -> None:
    req = CASES[case]
    inline = verdict(CHAIN, DEV_ACCOUNT, SIGNER.public_key, req.market, req.side, req.type, req.size,
                     req.price, req.signature_timestamp, req.signature)
    answered = checker.child.answered
    got = await checker.verdicts(DEV_ACCOUNT, SIGNER.public_key, [req])
    assert got == {key(DEV_ACCOUNT, req): inline}
    assert checker.child.answered == answered + 1  # the child's verdict, not a fallback
    assert (inline == "") == case.startswith("valid")


async def test_an_unknown_account_key_fails_every_order_without_asking(checker: Verifier) -> None:
    req = CASES["valid"]
    answered = checker.child.answered
    assert await checker.verdicts("0x2", None, [req]) == {key("0x2", req): BAD_SIGNATURE}
    assert checker.child.answered == answered


async def test_a_child_for_another_chain_is_never_used() -> None:
    """The probe is signed for the checker's chain: a child hashing for another one fails it."""
    v = Verifier(CHAIN)
    v.child._config = {"chain_id": "ANOTHER_CHAIN"}
    try:
        assert not await v.child.start()
        assert not v.child.ready
        assert await v.verdicts(DEV_ACCOUNT, SIGNER.public_key, [CASES["valid"]]) == {}  # inline then
    finally:
        await v.stop()


async def _checked_sim(simulator_factory: SimFactory) -> SimHandle:
    sim = await simulator_factory(verify_process=True)
    verifier = sim.venue.verifier
    assert verifier is not None
    for _ in range(500):
        if verifier.child.ready:
            break
        await asyncio.sleep(0.01)
    assert verifier.child.ready
    return sim


async def test_rest_orders_take_the_checkers_verdicts(simulator_factory: SimFactory) -> None:
    sim = await _checked_sim(simulator_factory)
    verifier = sim.venue.verifier
    assert verifier is not None
    async with sim.authed() as c:
        good = await c.post("/orders", json=sim.order())
        assert good.status_code == 201, good.text
        bad_body = sim.order()
        bad_body["size"] = "0.02"  # signed for 0.01
        bad = await c.post("/orders", json=bad_body)
        assert bad.status_code == 400 and bad.json()["error"] == "INVALID_ORDER_SIGNATURE"
        assert bad.json()["message"] == BAD_SIGNATURE
        batch = await c.post("/orders/batch", json=[sim.order(price="59000"), bad_body])
        # one bad order spoils the batch
        assert batch.status_code == 400 and batch.json()["error"] == "INVALID_ORDER_SIGNATURE"
        fine = await c.post("/orders/batch", json=[sim.order(price="59000"), sim.order(price="58000")])
        assert fine.status_code == 201 and len(fine.json()["orders"]) == 2
        broken = await c.post("/orders", content=b"{not json")
        assert broken.status_code == 400 and broken.json()["error"] == "VALIDATION_ERROR"
    assert verifier.child.answered >= 6 and verifier.child.fallbacks == 0  # every check was the child's
    assert len(sim.exchange.open_orders(sim.account)) == 3


async def test_a_dead_checker_means_inline_checks_until_it_is_back(simulator_factory: SimFactory) -> None:
    sim = await _checked_sim(simulator_factory)
    verifier = sim.venue.verifier
    assert verifier is not None
    verifier.child.restart_s = verifier.child._restart_wait = 0.05
    pid = verifier.child.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    async with sim.authed() as c:
        deadline = time.monotonic() + 5
        while verifier.child.ready and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        good = await c.post("/orders", json=sim.order())  # checked inline or by the new child
        assert good.status_code == 201, good.text
        bad_body = sim.order()
        bad_body["price"] = "60001"
        bad = await c.post("/orders", json=bad_body)
        assert bad.status_code == 400 and bad.json()["message"] == BAD_SIGNATURE
        while not verifier.child.ready and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        assert verifier.child.ready and verifier.child.restarts == 1 and verifier.child.pid != pid
        answered = verifier.child.answered
        again = await c.post("/orders", json=sim.order(price="59000"))
        assert again.status_code == 201 and verifier.child.answered == answered + 1


def _shape(reply: dict[str, Any]) -> Any:
    """A WS answer without what differs between two venues (ids, times)."""
    if "error" in reply:
        return {"error": reply["error"]}
    result = reply["result"]
    if "results" in result:
        return [r.get("error") or r["order"]["status"] for r in result["results"]]
    return result["order"]["status"]


async def test_ws_order_create_takes_the_checkers_verdicts_and_answers_as_inline(
    simulator_factory: SimFactory,
) -> None:
    checked = await _checked_sim(simulator_factory)
    inline = await simulator_factory()  # the test default: no checker, every check inline
    assert inline.venue.verifier is None
    verifier = checked.venue.verifier
    assert verifier is not None
    answered = verifier.child.answered
    shapes: dict[str, list[Any]] = {}
    for name, sim in (("checked", checked), ("inline", inline)):
        bad = sim.order()
        bad["size"] = "0.02"  # signed for 0.01
        calls = [("order.create", sim.order()), ("order.create", bad),
                 ("order.create_batch", {"orders": [sim.order(price="59000"), bad]}),
                 ("order.create_batch", [sim.order(price="58000"), sim.order(price="57000")]),
                 ("order.create", {"market": "BTC-USD-PERP"})]  # params the method refuses itself
        async with ws_client(sim, auth=True) as ws:
            shapes[name] = [_shape(await ws.call(m, p)) for m, p in calls]
    assert shapes["checked"] == shapes["inline"]
    assert shapes["checked"][1]["error"]["data"]["error"] == "INVALID_ORDER_SIGNATURE"
    assert shapes["checked"][0] != shapes["checked"][1]
    # every order of the four decodable calls was decided by the child: 1 + 1 + 2 + 2
    assert verifier.child.answered - answered == 6 and verifier.child.fallbacks == 0
    opened = {name: len(sim.exchange.open_orders(sim.account)) for name, sim in (("checked", checked),
                                                                                 ("inline", inline))}
    assert opened["checked"] == opened["inline"] == 3
