"""The state's guard: an event whose venue record is invalid (it reached the stream behind the
edges' backs: an old feed, a bug, a hand-published message) is consumed, counted, dead-lettered
by the shell and never served; the fold stays deterministic."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from services.state.core import INVALID, StateCore
from shared.bus import BookEvent
from shared.bus.events import OrderEvent
from shared.bus.subjects import account_subject, dlq_subject
from shared.paradex.models.market_data import BookLevel, BookUpdate
from tests.state.builders import T0, order, order_ev
from tests.state.test_service_harness import instance, publish_all, settings_for, wait_for
from tests.state.test_service_harness import order as svc_order
from tests.state.test_service_harness import order_ev as svc_order_ev

NAN = Decimal("NaN")


def bad_order(**fields: Any) -> OrderEvent:
    return order_ev(msgspec.structs.replace(order("7"), **fields))


def test_an_invalid_order_is_consumed_counted_and_never_served() -> None:
    core = StateCore()
    for seq, ev in enumerate([bad_order(size=NAN), bad_order(status="EXPLODED"), bad_order(market="BTC.>"),
                              bad_order(seq_no=-1)], start=1):
        res = core.apply(seq, ev)
        assert res.dropped.startswith(INVALID) and res.changes == [] and res.actions == []
        assert core.account_seq == seq  # consumed: the stream moves on, a redelivery is a redelivery
    assert core.get_order("7").value is None
    counts = core.metrics()
    assert {k: v for k, v in counts.items() if k.startswith("invalid.")} == {
        "invalid.non_finite": 1, "invalid.unknown_enum": 1, "invalid.unsafe_market": 1,
        "invalid.negative_seq": 1}
    res = core.apply(5, order_ev(order("7")))  # the valid record applies as usual
    assert not res.dropped and core.get_order("7").value is not None
    assert core.apply(4, bad_order(size=NAN)).dropped == "redelivered"


def test_an_invalid_book_never_touches_the_book() -> None:
    core = StateCore()
    good = BookUpdate(seq_no=1, market="BTC-USD-PERP", last_updated_at=T0, update_type="s",
                      inserts=[BookLevel(side="BUY", price=Decimal(100), size=Decimal(1))], updates=[],
                      deletes=[])
    core.apply(1, BookEvent(source="ws", book=good))
    before = core.get_book("BTC-USD-PERP").value
    bad = msgspec.structs.replace(good, seq_no=2, update_type="d", inserts=[],
                                  updates=[BookLevel(side="BUY", price=Decimal(-5), size=Decimal(1))])
    res = core.apply(2, BookEvent(source="ws", book=bad))
    assert res.dropped == INVALID + "not_positive" and core.get_book("BTC-USD-PERP").value == before


def test_the_guard_is_deterministic_across_a_replay() -> None:
    events = [order_ev(order("1")), bad_order(size=NAN), order_ev(order("1", seq=2, status="CLOSED",
                                                                         remaining="0"))]
    a, b = StateCore(), StateCore()
    for i, ev in enumerate(events, start=1):
        a.apply(i, ev)
    restored = StateCore.load(a.dump())
    for i, ev in enumerate(events, start=1):
        b.apply(i, ev)
    assert a.dump() == b.dump() == restored.dump()


async def test_the_service_dead_letters_an_invalid_event_and_does_not_serve_it(
        nats_url: str, redis_url: str, js: Any, nc: Any, unique: str) -> None:
    account = f"acct{unique}"
    dead: list[Any] = []

    async def cb(msg: Any) -> None:
        dead.append(msg)

    sub = await nc.subscribe(dlq_subject("state"), cb=cb)
    async with instance(settings_for(nats_url, redis_url, account)) as inst:
        nan = msgspec.structs.replace(svc_order("66", account=account), size=NAN)
        bad = await js.publish(account_subject(account, "order"), msgspec.json.encode(svc_order_ev(nan)))
        seqs = await publish_all(js, account, [svc_order_ev(svc_order("67", account=account))])
        await inst.wait_seq(seqs[-1])
        assert (await inst.get("/v1/orders/66")).status_code == 404
        assert (await inst.get("/v1/orders/67")).status_code == 200
        async def arrived() -> bool:
            return any(m.headers["Pdx-Original-Seq"] == str(bad.seq) for m in dead)

        await wait_for(arrived, 5, "the DLQ")
        [letter] = [m for m in dead if m.headers["Pdx-Original-Seq"] == str(bad.seq)]
        assert letter.headers["Pdx-Error"] == "invalid:non_finite"
        assert inst.service.dlq_count >= 1
    await sub.unsubscribe()
