"""The signer process signs exactly what the inline path signs, and a missing, dead or refusing
child only means the order is signed inline (the same signature)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from services.commands.signproc import SignerProcess, signed, unsigned
from shared.config import DEV_L2_PRIVATE_KEY
from shared.errors import SigningError
from shared.paradex.rest.orders import build_order
from shared.paradex.signer import OrderSigner

ACCOUNT = "0x49ddd7a564c978f6e4089ff8355b56a42b7e2d48ba282cb5aad60f04bea0ec3"
SIGNER = OrderSigner(DEV_L2_PRIVATE_KEY, ACCOUNT, "PRIVATE_SN_PARACLEAR_MAINNET")
B, E = "BTC-USD-PERP", "ETH-USD-PERP"
ORDERS: list[dict[str, Any]] = [
    {"market": B, "side": "BUY", "type": "LIMIT", "size": Decimal("0.001"), "price": Decimal("40000")},
    {"market": E, "side": "SELL", "type": "MARKET", "size": Decimal("12.34567891"), "price": None},
    {
        "market": B,
        "side": "SELL",
        "type": "STOP_LIMIT",
        "size": Decimal("3"),
        "price": Decimal("39999.9"),
        "trigger_price": Decimal("40000.5"),
        "flags": ["REDUCE_ONLY"],
    },
]


@pytest.fixture
async def child() -> AsyncIterator[SignerProcess]:
    proc = SignerProcess(SIGNER, DEV_L2_PRIVATE_KEY)
    assert await proc.start()
    try:
        yield proc
    finally:
        await proc.stop()


async def test_the_child_signs_every_order_as_build_order_does(child: SignerProcess) -> None:
    for i, order in enumerate(ORDERS):
        now_ms = 1_700_000_000_000 + i
        body, values = unsigned(now_ms=now_ms, client_id=f"c{i}", **order)
        got = signed(body, await child.sign(values, child.submit(values)))
        assert got == build_order(SIGNER, now_ms=now_ms, client_id=f"c{i}", **order)
    assert child.signed == len(ORDERS) + 1 and child.fallbacks == 0  # + the start-up probe


async def test_a_value_the_child_refuses_is_signed_inline_and_meets_the_same_error(
    child: SignerProcess,
) -> None:
    values = ("BTC-USD-PERP", "BUY", "LIMIT", Decimal(10) ** 80, Decimal(1), 1)
    fut = child.submit(values)
    assert fut is not None
    with pytest.raises(SigningError):
        await fut
    with pytest.raises(SigningError):
        await child.sign(values, fut)
    assert child.ready  # a refused value is not a dead child


async def test_a_dead_child_means_inline_signing_with_the_same_signatures(child: SignerProcess) -> None:
    assert child._proc is not None
    child._proc.kill()
    body, values = unsigned(now_ms=5, client_id="x", **ORDERS[0])
    fut = child.submit(values)  # the write may still succeed: the answer never comes
    got = signed(body, await child.sign(values, fut))
    assert got == build_order(SIGNER, now_ms=5, client_id="x", **ORDERS[0])
    for _ in range(100):
        if not child.ready:
            break
        await asyncio.sleep(0.01)
    assert not child.ready and child.submit(values) is None and child.fallbacks == 1


async def test_a_dead_child_is_started_again_and_signs_again() -> None:
    proc = SignerProcess(SIGNER, DEV_L2_PRIVATE_KEY, restart_s=0.05)
    assert await proc.start()
    try:
        for round_ in (1, 2):  # twice: the backoff is reset after a successful restart
            assert proc._proc is not None
            old = proc._proc.pid
            proc._proc.kill()
            for _ in range(500):
                if proc.ready and proc._proc is not None and proc._proc.pid != old:
                    break
                await asyncio.sleep(0.01)
            assert proc.ready and proc.restarts == round_, proc.view()
            body, values = unsigned(now_ms=7, client_id="y", **ORDERS[0])
            signed_before = proc.signed
            got = signed(body, await proc.sign(values, proc.submit(values)))
            assert got == build_order(SIGNER, now_ms=7, client_id="y", **ORDERS[0])
            assert proc.signed == signed_before + 1 and proc.fallbacks == 0  # by the new child
    finally:
        await proc.stop()
    assert not proc.ready and (proc._restarting is None or proc._restarting.done())


async def test_a_child_signing_for_another_key_is_never_used() -> None:
    proc = SignerProcess(SIGNER, hex(0x1234567))
    assert not await proc.start()
    assert not proc.ready and proc.submit(("BTC-USD-PERP", "BUY", "LIMIT", Decimal(1), Decimal(1), 1)) is None
