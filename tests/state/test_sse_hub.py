"""SSE ids, kinds, the Redis-tail dedupe and the hub's replay rules (no servers)."""

from __future__ import annotations

import ast
import asyncio
import re
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.state.core.sse import (
    ACCOUNT_KINDS,
    END,
    KINDS,
    MARKET_KINDS,
    BadEventId,
    Cursor,
    TailEntry,
    dedupe_tail,
    parse_event_id,
    parse_kinds,
)
from services.state.encode import Encoded
from services.state.hub import ChangeHub

CORE = Path(__file__).resolve().parents[2] / "services" / "state" / "core"


def acc(seq: int, key: str, kind: str = "order") -> Encoded:
    value = msgspec.json.encode({"k": key, "seq": seq})
    return Encoded("account", kind, key, seq, value, False, None)


def md(key: str, kind: str = "bbo") -> Encoded:
    return Encoded("market", kind, key, 1, b'{"m":"%s"}' % key.encode(), False, None)


def frames(data: list[bytes]) -> list[dict[str, str]]:
    """Parse SSE frames into {"id", "event", "data"} dicts."""
    out = []
    for block in b"".join(data).decode().split("\n\n"):
        if not block.strip():
            continue
        f = {}
        for line in block.split("\n"):
            name, _, value = line.partition(": ")
            f[name] = value
        out.append(f)
    return out


def drain(q: asyncio.Queue[bytes | None]) -> list[bytes]:
    out = []
    while not q.empty():
        item = q.get_nowait()
        if item is not None:
            out.append(item)
    return out


def keys(fs: list[dict[str, str]]) -> list[tuple[str, int]]:
    return [(msgspec.json.decode(f["data"])["key"], msgspec.json.decode(f["data"])["seq"]) for f in fs]


# -------------------------------------------------------------------------------------- ids

def test_event_id_round_trips_and_a_foreign_id_is_refused_naming_the_form() -> None:
    c = Cursor(1234, 2, "9f3c01", 5512)
    assert c.format() == "a:1234.2,m:9f3c01.5512"
    assert parse_event_id(c.format()) == c
    assert parse_event_id("a:7.*,m:ab.0") == Cursor(7, END, "ab", 0)
    assert Cursor(7, END, "ab", 0).format() == "a:7.*,m:ab.0"
    for bad in ("17", "a:1.2", "a:x.1,m:ab.1", "a:1.2,m:XY.1", "a:1.2,m:ab.1\nretry: 0", ""):
        with pytest.raises(BadEventId, match=re.escape("a:<seq>.<i>,m:<epoch>.<n>")):
            parse_event_id(bad)


@given(st.integers(0, 2**62), st.one_of(st.integers(0, 10**9 - 1), st.just(END)),
       st.text("0123456789abcdef", min_size=1, max_size=16), st.integers(0, 2**62))
def test_every_cursor_parses_back_to_itself(seq: int, idx: int, epoch: str, n: int) -> None:
    c = Cursor(seq, idx, epoch, n)
    assert parse_event_id(c.format()) == c


def test_kinds_filter_refuses_unknown_kinds_and_names_the_known_ones() -> None:
    assert parse_kinds(None) is None and parse_kinds("") is None and parse_kinds(" , ") is None
    assert parse_kinds("order, fill") == {"order", "fill"}
    with pytest.raises(ValueError, match=r"unknown kinds \['nonsense'\]; known: \["):
        parse_kinds("order,nonsense")


def test_every_change_kind_the_core_emits_is_a_known_sse_kind() -> None:
    """A kind added to the core without adding it here would be refused by ``?kinds=`` (422)."""
    emitted: set[str] = set()
    for path in CORE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Change"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                emitted.add(node.args[0].value)
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Change"
                    and node.args and isinstance(node.args[0], ast.Name)):
                emitted.add("<variable>")
    assert {"order", "fill", "position", "balance", "account", "feed", "reconciliation", "book",
            "trade"} <= emitted
    assert emitted - {"<variable>"} <= KINDS, emitted - KINDS
    assert set(ACCOUNT_KINDS).isdisjoint(MARKET_KINDS)


# ------------------------------------------------------------------------------- redis tail

def T(seq: int, key: str) -> TailEntry:
    return TailEntry(seq, "order", key, b"{}")


def test_tail_dedupe_keeps_one_copy_of_each_group_from_the_newest_run_and_drops_the_cut_oldest() -> None:
    # written: 449a | 450a 450b | 451a | 452a, crash, replay from 450: 450a 450b | 451a | 452a | 453a
    chrono = [T(449, "x"), T(449, "y"), T(450, "a"), T(450, "b"), T(451, "a"), T(452, "a"),
              T(450, "a"), T(450, "b"), T(451, "a"), T(452, "a"), T(453, "a")]
    kept, floor = dedupe_tail(list(reversed(chrono)))
    assert floor == 449  # the oldest group might be cut by the read limit: dropped
    assert [(e.seq, e.key, i) for e, i in kept] == [
        (450, "a", 0), (450, "b", 1), (451, "a", 0), (452, "a", 0), (453, "a", 0)]


def test_tail_dedupe_of_nothing_is_nothing() -> None:
    assert dedupe_tail([]) == ([], -1)
    assert dedupe_tail([T(5, "a"), T(5, "b")]) == ([], 5)


@given(st.lists(st.integers(1, 4), min_size=1, max_size=30), st.integers(0, 29), st.integers(0, 29))
def test_tail_dedupe_equals_the_run_without_replays(sizes: list[int], crash: int, back: int) -> None:
    """Any crash point and any replay start give back the changes of the crash-free run."""
    groups = [[T(10 + 2 * g, f"k{j}") for j in range(n)] for g, n in enumerate(sizes)]
    crash = min(crash, len(groups))
    start = max(0, crash - back)
    written = [e for g in groups[:crash] for e in g] + [e for g in groups[start:] for e in g]
    kept, floor = dedupe_tail(list(reversed(written)))
    truth = [(e, i) for g in groups[1:] for i, e in enumerate(g)]
    assert floor == groups[0][0].seq
    assert kept == truth


# ----------------------------------------------------------------------------------- hub

async def test_a_client_resuming_from_an_id_gets_exactly_what_followed_it_in_order() -> None:
    hub = ChangeHub(replay_max=100)
    hub.publish([acc(5, "o1"), acc(5, "p1", "position")])
    hub.publish([md("BTC")])
    hub.publish([acc(9, "o2")])
    live = hub.subscribe()
    hub.publish([acc(12, "o3"), acc(12, "f3", "fill")])
    got = frames(drain(live.subscriber.queue))
    assert keys(got) == [("o3", 12), ("f3", 12)]
    assert [f["id"] for f in got] == [f"a:12.0,m:{hub.epoch}.1", f"a:12.1,m:{hub.epoch}.1"]

    all_ids = [f["id"] for f in frames([f.data for f in sorted([*hub.account, *hub.market])])]
    assert len(all_ids) == 6
    for n, last in enumerate(list(all_ids)):
        start = hub.subscribe(resume=parse_event_id(last))
        assert start.preamble == b""
        assert [f["id"] for f in frames(start.replay)] == all_ids[n + 1:], last
        hub.publish([acc(100 + n, "x")])
        assert keys(frames(drain(start.subscriber.queue))) == [("x", 100 + n)]
        all_ids.append(f"a:{100 + n}.0,m:{hub.epoch}.1")
        hub.unsubscribe(start.subscriber)


async def test_kinds_filter_applies_to_replay_and_live_frames() -> None:
    hub = ChangeHub()
    hub.publish([acc(5, "o1"), acc(5, "f1", "fill"), md("BTC")])
    start = hub.subscribe(frozenset({"fill"}), resume=Cursor(0, END, hub.epoch, 0))
    assert keys(frames(start.replay)) == [("f1", 5)]
    hub.publish([acc(6, "o2"), acc(6, "f2", "fill"), md("ETH")])
    assert keys(frames(drain(start.subscriber.queue))) == [("f2", 6)]


async def test_a_position_older_than_the_buffer_gets_a_reset_then_live_frames() -> None:
    hub = ChangeHub(replay_max=3)
    for seq in range(1, 7):
        hub.publish([acc(seq, f"o{seq}")])
    assert hub.floor == 3  # 1..3 evicted
    start = hub.subscribe(resume=Cursor(2, 0, hub.epoch, 0))
    assert frames([start.preamble])[0]["event"] == "reset"
    assert msgspec.json.decode(frames([start.preamble])[0]["data"])["seq"] == 6
    assert start.replay == []
    ok = hub.subscribe(resume=Cursor(3, END, hub.epoch, 0))
    assert ok.preamble == b"" and keys(frames(ok.replay)) == [("o4", 4), ("o5", 5), ("o6", 6)]
    assert hub.resumes[("account", "reset")] == 1 and hub.resumes[("account", "replayed")] == 1


async def test_after_seq_replays_account_changes_after_a_state_read() -> None:
    hub = ChangeHub()
    hub.publish([acc(5, "o1")])
    hub.publish([acc(8, "o2"), acc(8, "o3")])
    start = hub.subscribe(after_seq=5)
    assert keys(frames(start.replay)) == [("o2", 8), ("o3", 8)]
    # a read ahead of what the hub published yet: nothing replayed, nothing up to it sent later
    ahead = hub.subscribe(after_seq=10)
    hub.publish([acc(9, "late"), acc(11, "new")])
    assert ahead.replay == [] and keys(frames(drain(ahead.subscriber.queue))) == [("new", 11)]


async def test_a_restarted_hub_seeded_from_redis_serves_a_client_of_the_old_one_once_each() -> None:
    old = ChangeHub()
    stream: list[TailEntry] = []  # what the old process wrote to the Redis change stream
    for seq in range(1, 11):
        batch = [acc(seq, f"o{seq}"), acc(seq, f"p{seq}", "position")]
        old.publish(batch)
        stream += [TailEntry(c.seq, c.kind, c.key, c.value) for c in batch]
    client_last = [f for f in frames([f.data for f in old.account])][12]["id"]  # a:7.0
    assert client_last.startswith("a:7.0,")

    new = ChangeHub()  # restarted from a checkpoint at seq 4: it replays 5.. and publishes again
    assert new.seed(list(reversed(stream)), restored_seq=4, redis_seq=10) == 18  # group 1 dropped (maybe cut)
    start = new.subscribe(resume=parse_event_id(client_last))
    for seq in range(5, 13):
        new.publish([acc(seq, f"o{seq}"), acc(seq, f"p{seq}", "position")])
    got = keys(frames(start.replay + drain(start.subscriber.queue)))
    assert got == [("p7", 7)] + [(f"{k}{s}", s) for s in range(8, 13) for k in "op"]
    # the market part of the old id is another epoch: a snapshot of the market values instead
    assert new.resumes[("market", "snapshot")] == 1


async def test_a_checkpoint_past_the_last_change_is_reached_when_redis_seq_says_so() -> None:
    """Events after the last change (snapshot markers, checks) changed nothing: the checkpoint may
    be past the newest entry while Redis still reflects everything up to it."""
    hub = ChangeHub()
    assert hub.seed([T(5, "b"), T(4, "a"), T(3, "z")], restored_seq=9, redis_seq=9) == 2
    start = hub.subscribe(resume=Cursor(4, 0, "ab", 0))
    assert start.preamble == b"" and keys(frames(start.replay)) == [("b", 5)]
    hub.publish([acc(8, "old"), acc(10, "new")])  # 8 <= 9: replayed from the checkpoint, seen
    assert keys(frames(drain(start.subscriber.queue))) == [("new", 10)]
    assert ChangeHub().seed([T(5, "b"), T(4, "a")], restored_seq=9, redis_seq=None) == 0


async def test_seed_stops_at_a_full_rewrite_of_redis() -> None:
    hub = ChangeHub()
    tail = [T(9, "c"), T(8, "b"), TailEntry(7, "resync", "redis", b"{}"), T(5, "a"), T(3, "z")]
    assert hub.seed(tail, restored_seq=6, redis_seq=9) == 2
    assert hub.floor == 7 and [f.pos for f in hub.account] == [(8, 0), (9, 0)]
    assert frames([hub.subscribe(resume=Cursor(5, END, "ab", 0)).preamble])[0]["event"] == "reset"


async def test_seed_that_does_not_reach_the_checkpoint_is_not_used() -> None:
    hub = ChangeHub()
    assert hub.seed([T(3, "a"), T(2, "b")], restored_seq=10, redis_seq=3) == 0
    assert hub.floor == 10
    assert frames([hub.subscribe(resume=Cursor(5, 0, "ab", 0)).preamble])[0]["event"] == "reset"
    assert hub.subscribe(resume=Cursor(10, END, "ab", 0)).preamble == b""


async def test_market_resume_replays_within_an_epoch_and_sends_a_snapshot_across_epochs() -> None:
    hub = ChangeHub(market_replay_max=2)
    hub.market_snapshot = lambda: [md("BTC", "book"), md("BTC")]
    hub.publish([md("A"), md("B"), md("C")])
    start = hub.subscribe(resume=Cursor(0, END, hub.epoch, 1))
    assert [msgspec.json.decode(f["data"])["key"] for f in frames(start.replay)] == ["B", "C"]
    too_old = hub.subscribe(resume=Cursor(0, END, hub.epoch, 0))  # A was evicted
    other = hub.subscribe(frozenset({"book"}), resume=Cursor(0, END, "0ther", 3))
    assert [f["event"] for f in frames(too_old.replay)] == ["book", "bbo"]
    assert [f["event"] for f in frames(other.replay)] == ["book"]


async def test_a_slow_client_is_cut_off_with_overflow() -> None:
    hub = ChangeHub(maxsize=2)
    sub = hub.subscribe().subscriber
    hub.publish([acc(1, "a"), acc(2, "b"), acc(3, "c")])
    assert sub.overflowed and sub not in hub.subscribers and hub.dropped_clients == 1
