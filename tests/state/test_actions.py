"""The shell's request publisher: lookups of orders absent right after an update wait out the
lookup grace (the REST answer may predate the order), everything else goes at once."""

from __future__ import annotations

import asyncio
from typing import Any

from services.state.actions import ReconcileRequester
from services.state.core import Action
from services.state.core.model import LOOKUP_LATER
from shared.bus.requests import decode_request


class Nc:
    def __init__(self) -> None:
        self.sent: list[tuple[float, Any]] = []

    async def publish(self, subject: str, data: bytes) -> None:
        self.sent.append((asyncio.get_running_loop().time(), decode_request(data)))


async def test_later_lookups_wait_for_the_grace_and_others_go_at_once() -> None:
    nc = Nc()
    req = ReconcileRequester(nc, coalesce_s=0.0, later_s=0.2)
    t0 = asyncio.get_running_loop().time()
    await req.perform([Action(kind="lookup", reason=LOOKUP_LATER, order_id="7"),
                       Action(kind="lookup", reason="absent_from_snapshot", order_id="8")])
    assert [r.order_ids for _, r in nc.sent] == [("8",)]  # the ordinary lookup went at once
    await asyncio.sleep(0.35)
    assert [r.order_ids for _, r in nc.sent] == [("8",), ("7",)]
    assert nc.sent[1][0] - t0 >= 0.19 and nc.sent[1][1].reason == LOOKUP_LATER


async def test_waiting_lookups_are_dropped_on_shutdown() -> None:
    nc = Nc()
    req = ReconcileRequester(nc, later_s=0.1)
    await req.perform([Action(kind="lookup", reason=LOOKUP_LATER, order_id="7")])
    req.cancel_later()
    await asyncio.sleep(0.2)
    assert nc.sent == []
