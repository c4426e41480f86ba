"""What the state holds for long stays out of the garbage collector's scans (issue 18: full
collections over the held orders, fills and SSE replay buffer paused the loop ~20 ms at 15 000
orders). Values are unchanged; only object identity and GC tracking are pinned here."""

from __future__ import annotations

import gc

import msgspec

from services.state.core import StateCore
from services.state.encode import encode_change
from services.state.hub import ChangeHub
from tests.state import builders as b


def test_held_orders_and_fills_share_their_flags_lists() -> None:
    core = StateCore()
    seq = 0
    for i in range(50):
        seq += 1
        o = b.order(str(i), client_id=f"c{i}", seq=seq)
        if i % 2:
            o = msgspec.structs.replace(o, flags=["REDUCE_ONLY"])
        core.apply(seq, b.order_ev(o))
        seq += 1
        core.apply(seq, b.fill_ev(b.fill(f"f{i}", order_id=str(i))))
    orders = core.orders.orders.values()
    assert len({id(st.order.flags) for st in orders if st.order is not None}) == 2
    assert sorted({tuple(st.order.flags) for st in orders if st.order is not None}) == [(), ("REDUCE_ONLY",)]
    assert len({id(f.fill.flags) for f in core.entities.fills.values()}) == 1
    assert not any(gc.is_tracked(st) for st in orders)


def test_replay_buffer_frames_and_changes_are_untracked() -> None:
    core = StateCore()
    hub = ChangeHub(100, 100)
    for seq in range(1, 21):
        res = core.apply(seq, b.order_ev(b.order(str(seq), client_id=f"c{seq}", seq=seq)))
        hub.publish([encode_change("account", res.seq, c) for c in res.changes])
    assert len(hub.account) == 21  # a feed change first, then one per order
    assert not any(gc.is_tracked(f) for f in hub.account)
    assert not any(hasattr(f, "record") or hasattr(f, "ch") for f in hub.account)  # no record kept alive
    assert hub.account[-1].data.startswith(b"id: a:20.0,m:")  # built on demand, as before


def test_held_records_share_repeated_values_and_keep_exact_ones() -> None:
    """msgspec decodes every string and decimal as a new object; the held copies are shared (memory),
    with values unchanged: ``1`` and ``1.0`` stay distinct (they encode differently)."""
    from decimal import Decimal

    from services.state.core.codec import dump

    core = StateCore()
    for i, size in enumerate(("1", "1.0", "1", "2"), start=1):
        o = msgspec.structs.replace(b.order(str(i), client_id=f"c{i}", seq=i, size=size),
                                    market="".join(["BTC-", "USD-PERP"]))  # a fresh str each time
        core.apply(i, b.order_ev(o))
    held = [core.orders.orders[str(i)] for i in range(1, 5)]
    assert len({id(st.order.market) for st in held if st.order}) == 1
    assert held[0].order and held[2].order and held[0].order.size is held[2].order.size
    assert held[1].order and str(held[1].order.size) == "1.0" and held[1].size == Decimal("1.0")
    assert [str(st.size) for st in held] == ["1", "1.0", "1", "2"]
    fresh = StateCore()
    for i, size in enumerate(("1", "1.0", "1", "2"), start=1):
        fresh.apply(i, b.order_ev(b.order(str(i), client_id=f"c{i}", seq=i, size=size)))
    assert dump(core) == dump(fresh)  # the same state, byte for byte
