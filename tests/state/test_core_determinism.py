"""Determinism and checkpoints of the state core, and its purity (no I/O, clock or randomness)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from services.state.core import StateConfig, StateCore
from shared.bus import (
    BookGap,
    CmdAccepted,
    CmdCancelFailed,
    CmdCancelRequested,
    CmdCancelUnknown,
    CmdModifyFailed,
    CmdModifyRequested,
    CmdModifyUnknown,
    CmdNotSent,
    CmdSubmitted,
    FeedStatus,
    KillSwitch,
    SnapshotFinished,
    SnapshotPart,
    SnapshotStarted,
)
from shared.errors import DecodeError
from tests.state.builders import (
    MS,
    T0,
    balance_change,
    balance_rec,
    book_ev,
    fill,
    fill_ev,
    lvl,
    order,
    order_ev,
    position,
    position_ev,
)

CORE_DIR = Path(__file__).resolve().parents[2] / "services" / "state" / "core"
FORBIDDEN = {"asyncio", "nats", "redis", "fastapi", "starlette", "httpx", "websockets", "time",
             "random", "datetime", "uuid", "os", "socket", "threading"}


def scenario() -> list[Any]:
    """A fixed mix of every kind of event (account and market)."""
    return [
        FeedStatus(source="ws", state="subscribed", epoch=1, recv_ns=T0 * MS),
        CmdSubmitted(source="cmd", client_id="c1", market="BTC-USD-PERP", side="BUY", type="LIMIT",
                     size="1.50", price="100.0"),
        order_ev(order("1", status="NEW", size="1.50", seq=1)),
        CmdAccepted(source="cmd", client_id="c1", order_id="1"),
        order_ev(order("1", size="1.50", remaining="0.70", seq=2, lua=T0 + 5)),
        fill_ev(fill("f1", size="0.80", ts=T0 + 5)),
        position_ev(position(size="0.80", ts=T0 + 5, seq=3)),
        balance_change("1000", "999.92", ts=T0 + 5),
        book_ev(10, "s", inserts=[lvl("BUY", "99.5", "2"), lvl("SELL", "100.5", "3")]),
        book_ev(11, updates=[lvl("BUY", "99.7", "1.0")]),
        CmdModifyRequested(source="cmd", client_id="c1", order_id="1", price="101", size="1.50",
                           recv_ns=(T0 + 6) * MS),
        CmdModifyUnknown(source="cmd", client_id="c1", order_id="1"),
        CmdModifyFailed(source="cmd", client_id="c1", order_id="1", code="INVALID_PRICE"),
        CmdCancelRequested(source="cmd", client_id="c1", order_id="1", recv_ns=(T0 + 7) * MS),
        CmdCancelFailed(source="cmd", client_id="c1", order_id="1", code="X", message="m"),
        CmdCancelRequested(source="cmd", client_id="c1", order_id="1", recv_ns=(T0 + 8) * MS),
        CmdCancelUnknown(source="cmd", client_id="c1", order_id="1"),
        CmdSubmitted(source="cmd", client_id="c3", market="BTC-USD-PERP", side="SELL", type="LIMIT",
                     size="1", recv_ns=(T0 + 9) * MS),
        CmdNotSent(source="cmd", client_id="c3"),
        KillSwitch(source="cmd", active=True, strategy="s1", by="s1", recv_ns=(T0 + 9) * MS),
        SnapshotStarted(source="rest", snapshot_id="s1", recv_ns=(T0 + 20_000) * MS),
        order_ev(order("2", client_id="c2", seq=1, lua=T0 + 1), "rest", snapshot_id="s1"),
        balance_rec("999.90", ts=T0 + 9, snapshot_id="s1"),
        SnapshotPart(source="rest", snapshot_id="s1", part="open_orders", complete=True),
        book_ev(13, updates=[lvl("BUY", "99.7", "0")]),
        FeedStatus(source="ws", state="disconnected", epoch=1, recv_ns=(T0 + 21_000) * MS),
        SnapshotFinished(source="rest", snapshot_id="s1", complete=True),
        BookGap(source="ws", market="ETH-USD-PERP"),
        order_ev(order("1", status="CLOSED", size="1.50", remaining="0.70", seq=3, lua=T0 + 30_000),
                 epoch=2),
    ]


def fold(events: list[Any], core: StateCore | None = None, start: int = 1) -> StateCore:
    core = core or StateCore()
    for i, ev in enumerate(events, start):
        core.apply(i, ev)
    return core


def test_same_events_give_byte_identical_dumps() -> None:
    a, b = fold(scenario()), fold(scenario())
    assert a.dump() == b.dump()
    assert b'"1.50"' in a.dump()  # exact decimals as the venue sent them


def test_dump_load_round_trip_continues_identically_from_every_cut() -> None:
    events = scenario()
    full = fold(events).dump()
    for k in range(len(events) + 1):
        restored = StateCore.load(fold(events[:k]).dump())
        assert restored.dump() == fold(events[:k]).dump()
        assert fold(events[k:], restored, k + 1).dump() == full, k


def test_loaded_core_answers_queries_like_the_original() -> None:
    a = fold(scenario())
    b = StateCore.load(a.dump())
    assert b.get_book("BTC-USD-PERP").value == a.get_book("BTC-USD-PERP").value
    assert b.list_orders() == a.list_orders()
    assert b.orders.live == a.orders.live and b.health() == a.health()


def test_redelivery_after_restore_is_ignored() -> None:
    events = scenario()
    restored = StateCore.load(fold(events).dump())
    before = restored.dump()
    res = restored.apply(3, events[2])
    assert res.dropped == "redelivered"
    assert restored.dump().replace(b'"redelivered":1,', b"") == before


@pytest.mark.parametrize("data", [b"not json", b"{}", b'{"version": 99}'])
def test_bad_checkpoint_is_a_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        StateCore.load(data)


def test_core_imports_no_io_clock_or_randomness() -> None:
    for path in sorted(CORE_DIR.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"


def retained_scenario() -> list[Any]:
    """The scenario, then the venue clock moves past a small retention (and its tombstones')."""
    return [*scenario(), balance_rec("999.80", ts=T0 + 45_000),
            order_ev(order("1", status="CLOSED", size="1.50", remaining="0.70", seq=9, lua=T0 + 30_000),
                     "rest"),
            balance_rec("999.70", ts=T0 + 200_000)]


def test_dumps_with_eviction_are_byte_identical_and_resume_identically_from_every_cut() -> None:
    config = StateConfig(retention_ms=10_000, fill_retention_ms=10_000)
    events = retained_scenario()
    full = fold(events, StateCore(config)).dump()
    assert full == fold(events, StateCore(config)).dump()
    for k in range(len(events) + 1):
        cut = fold(events[:k], StateCore(config))
        restored = StateCore.load(cut.dump())
        assert restored.dump() == cut.dump(), k
        assert fold(events[k:], restored, k + 1).dump() == full, k
    final = StateCore.load(full)
    assert final.metrics()["evicted_orders"] == 1 and final.metrics()["evicted_fills"] == 1
    assert final.metrics()["evicted_order_suppressed"] == 1
    # the tombstones were there, then expired; the live order "2" stays
    assert final.retention.order_tombs == {} and final.get_order("2").value is not None
    assert final.get_order("1").value is None


def test_eviction_state_is_in_the_checkpoint() -> None:
    config = StateConfig(retention_ms=10_000, fill_retention_ms=10_000)
    core = fold(retained_scenario()[:-1], StateCore(config))
    restored = StateCore.load(core.dump())
    ret, got = core.retention, restored.retention
    assert ret.order_tombs and (got.now, got.queue, got.order_tombs, got.fill_tombs) == (
        ret.now, ret.queue, ret.order_tombs, ret.fill_tombs)
