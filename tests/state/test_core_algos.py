"""The state core's TWAP algo orders: merge rules, child linking, checkpoints."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from services.state.core.core import StateCore
from shared.bus import AlgoEvent
from shared.paradex.models.algo import AlgoOrder
from tests.state.builders import MS, T0, order, order_ev

D = Decimal
M = "BTC-USD-PERP"


def algo(id: str = "900", *, status: str = "OPEN", lua: int = T0, remaining: str = "0.003",
         created: int = T0, side: str = "BUY", duration_s: int = 90, reason: str = "") -> AlgoOrder:
    return AlgoOrder(id=id, market=M, side=side, size=D("0.003"), status=status,
                     remaining_size=D(remaining), created_at=created, last_updated_at=lua,
                     end_at=created + duration_s * 1000, algo_type="TWAP", cancel_reason=reason)


def algo_ev(a: AlgoOrder, source: str = "rest", **kw: Any) -> AlgoEvent:
    return AlgoEvent(source=source, venue_ts_ms=a.last_updated_at, recv_ns=a.last_updated_at * MS,  # type: ignore[arg-type]
                     algo=a, **kw)


def child(id: str, *, at: int = T0 + 5, status: str = "CLOSED", remaining: str = "0", side: str = "BUY",
          ts: int = T0 - 1) -> Any:
    seq = at * 10 + (2 if status == "CLOSED" else 1)
    o = order(id, client_id="", status=status, size="0.001", remaining=remaining, lua=at, side=side, seq=seq)
    return msgspec.structs.replace(o, type="MARKET", price=D(0), created_at=at, timestamp=ts)


class Fold:
    def __init__(self) -> None:
        self.core = StateCore()
        self.seq = 0

    def __call__(self, ev: Any) -> Any:
        self.seq += 1
        return self.core.apply(self.seq, ev)

    def algo(self, id: str = "900") -> Any:
        return self.core.get_algo(id).value


def test_an_algo_from_commands_then_its_children_from_the_websocket_are_linked() -> None:
    f = Fold()
    res = f(algo_ev(algo(status="NEW"), "cmd", strategy="mm", signature_timestamp=T0 - 1))
    assert [c.kind for c in res.changes] == ["algo"]
    res = f(order_ev(child("1", status="OPEN", remaining="0.001")))
    assert [c.kind for c in res.changes if c.kind != "feed"] == ["order", "algo"]
    res = f(order_ev(child("1")))  # filled: the algo's filled size follows
    a = f.algo()
    assert a.child_order_ids == ("1",) and a.filled == D("0.001") and a.strategy == "mm"
    f(order_ev(child("2", at=T0 + 30_000)))
    a = f.algo()
    assert a.child_order_ids == ("1", "2") and a.filled == D("0.002")
    # a REST update keeps what only commands knew
    f(algo_ev(algo(lua=T0 + 30_001, remaining="0.001")))
    a = f.algo()
    assert (a.status, a.strategy, a.signature_timestamp) == ("OPEN", "mm", T0 - 1)
    assert a.child_order_ids == ("1", "2")
    assert a.algo.remaining_size == D("0.001")


def test_orders_that_are_no_child_are_not_linked() -> None:
    f = Fold()
    f(algo_ev(algo()))
    f(order_ev(child("s", side="SELL")))  # other side
    f(order_ev(child("late", at=T0 + 200_000)))  # after the algo's end
    f(order_ev(child("early", at=T0 - 5_000)))  # before it began
    f(order_ev(order("lim", client_id="")))  # a LIMIT order
    f(order_ev(msgspec.structs.replace(child("cid"), client_id="mine")))  # has a client id
    assert f.algo().child_order_ids == ()
    assert f.algo().filled == 0


def test_an_algo_learnt_after_its_children_adopts_them() -> None:
    f = Fold()
    f(order_ev(child("1")))
    f(order_ev(child("2", at=T0 + 30_000)))
    res = f(algo_ev(algo(status="CLOSED", lua=T0 + 30_001, remaining="0")))
    assert [c.kind for c in res.changes] == ["algo"]
    a = f.algo()
    assert a.child_order_ids == ("1", "2") and a.filled == D("0.002") and a.status == "CLOSED"


def test_two_running_algos_split_by_the_signature_timestamp_else_not_linked() -> None:
    f = Fold()
    f(algo_ev(algo("900"), "cmd", signature_timestamp=111))
    f(algo_ev(algo("901"), "cmd", signature_timestamp=222))
    f(order_ev(child("1", ts=222)))
    assert f.algo("901").child_order_ids == ("1",) and f.algo("900").child_order_ids == ()
    f(order_ev(child("2", ts=333)))  # fits both, matches neither: left alone, counted
    assert f.algo("900").child_order_ids == () and f.algo("901").child_order_ids == ("1",)
    assert f.core.counters.snapshot()["algo_child_ambiguous"] == 1


def test_older_and_backward_updates_are_dropped_and_closed_is_final() -> None:
    f = Fold()
    f(algo_ev(algo(lua=T0 + 10)))
    assert f(algo_ev(algo(lua=T0 + 5, remaining="0.001"))).dropped == "stale"
    assert f(algo_ev(algo(status="NEW", lua=T0 + 10))).dropped == "stale"
    assert f(algo_ev(algo(lua=T0 + 10))).dropped == "stale"  # unchanged
    f(algo_ev(algo(status="CLOSED", lua=T0 + 20, reason="USER_CANCELED")))
    assert f(algo_ev(algo(status="OPEN", lua=T0 + 30))).dropped == "stale"
    a = f.algo()
    assert (a.status, a.algo.cancel_reason) == ("CLOSED", "USER_CANCELED")
    # a child pushed after the algo closed is not its child
    f(order_ev(child("1", at=T0 + 5_000)))
    assert f.algo().child_order_ids == ()


def test_queries_filter_and_the_checkpoint_keeps_algos_and_links() -> None:
    f = Fold()
    f(algo_ev(algo("900")))
    f(algo_ev(algo("1000", status="CLOSED", side="SELL")))
    f(order_ev(child("1")))
    assert [a.id for a in f.core.list_algos().value] == ["900", "1000"]
    assert [a.id for a in f.core.list_algos("CLOSED").value] == ["1000"]
    assert f.core.list_algos(market="ETH-USD-PERP").value == []
    assert ("algo", "900", f.algo("900")) in f.core.current_entities()
    dump = f.core.dump()
    back = StateCore.load(dump)
    assert back.dump() == dump
    assert back.algos.parent == {"1": "900"}
    # the restored core keeps folding the same way
    back.apply(f.seq + 1, order_ev(child("2", at=T0 + 30_000)))
    f(order_ev(child("2", at=T0 + 30_000)))
    assert back.algos.algos["900"].child_order_ids == ("1", "2")
    assert back.algos.algos["900"].filled == D("0.002")
    assert back.dump() == f.core.dump()


def test_closed_algos_are_evicted_after_the_retention_and_beyond_the_cap() -> None:
    from services.state.core import algos as algos_mod

    f = Fold()
    f(algo_ev(algo("900", status="CLOSED", lua=T0)))
    f(order_ev(child("1", at=T0 - 500)))
    assert f.core.algos.parent == {"1": "900"}
    f(algo_ev(algo("901", lua=T0 + 1)))  # live: never evicted
    late = T0 + f.core.config.retention_ms + 10
    f(order_ev(order("x", lua=late, seq=late)))  # venue time moves past the retention
    res = f(algo_ev(algo("902", status="CLOSED", lua=late, created=late)))
    assert ("algo", "900") in [(c.kind, c.key) for c in res.changes if c.value is None]
    assert sorted(f.core.algos.algos) == ["901", "902"] and f.core.algos.parent == {}
    old_cap = algos_mod.MAX_CLOSED
    algos_mod.MAX_CLOSED = 1
    try:
        f(algo_ev(algo("903", status="CLOSED", lua=late + 1, created=late)))
    finally:
        algos_mod.MAX_CLOSED = old_cap
    assert sorted(f.core.algos.algos) == ["901", "903"]


def test_a_stale_commands_event_still_gives_the_algo_its_placer() -> None:
    """A REST snapshot can read the algo (the same record, or a newer one after its first child)
    before commands' event arrives: the venue part of that event is stale, but who placed it is
    known only to commands and is kept; the venue record stays the newer one."""
    f = Fold()
    f(algo_ev(algo(lua=T0 + 10, remaining="0.002")))  # the reconciler saw it first, already updated
    res = f(algo_ev(algo(lua=T0), "cmd", strategy="mm", signature_timestamp=111))
    assert res.dropped != "stale"
    a = f.algo()
    assert (a.strategy, a.signature_timestamp) == ("mm", 111)
    assert a.algo.last_updated_at == T0 + 10 and a.algo.remaining_size == D("0.002")
    f(algo_ev(algo(lua=T0 + 10, remaining="0.002")))  # identical again: stale, placer kept
    assert f(algo_ev(algo(lua=T0), "cmd", strategy="other", signature_timestamp=222)).dropped == "stale"
    assert (f.algo().strategy, f.algo().signature_timestamp) == ("mm", 111)
    assert f.core.counters.snapshot()["algo_placer_adopted"] == 1
