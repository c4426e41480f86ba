"""The idempotency index rebuild reads every command event, and a stream follower (the kill switch,
exposure) is caught up only after handing on every stored event, also when the server has pushed
them all before the rebuild or the follower looks.

CI met it (tests/commands/test_durability.py, about 1 run in 9 here): the rebuild subscribed, asked
the consumer how much was pending, got 0 (everything was already pushed to this client, none of
it handled yet) and concluded there was nothing to read. The index came back EMPTY, so every client
id sent before Redis was wiped could be placed a second time. Here the race is forced: the
consumer's info is answered only once the server has pushed everything, and the callbacks run only
after it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from services.commands.follow import _Ordered
from services.commands.index import IndexKeeper
from shared.bus import encode_event, ensure_streams, subjects
from shared.bus.events import CmdSubmitted
from shared.rediskeys import Keys


async def _submit(js: Any, account: str, n: int) -> set[str]:
    cids = set()
    for i in range(n):
        event = CmdSubmitted(source="cmd", recv_ns=time.time_ns(), client_id=f"c{i}", strategy="mm",
                             market="BTC-USD-PERP", side="BUY", type="LIMIT", size="1", price="100")
        await js.publish(subjects.account_subject(account, "cmd_submitted"), encode_event(event))
        cids.add(f"c{i}")
    return cids


def _hold_until_info(js: Any, monkeypatch: pytest.MonkeyPatch, pushed: int) -> None:
    """``js.subscribe`` whose consumer info answers only once the server has pushed ``pushed``
    events, and whose callbacks run only after that answer (the race, forced)."""
    real_subscribe = js.subscribe
    handled = asyncio.Event()

    async def subscribe(*args: Any, cb: Any, **kwargs: Any) -> Any:
        async def held(msg: Any) -> None:
            await handled.wait()
            await cb(msg)

        sub = await real_subscribe(*args, cb=held, **kwargs)
        real_info = sub.consumer_info

        async def consumer_info() -> Any:
            for _ in range(500):  # <= 5 s
                info = await real_info()
                if not info.num_pending:
                    break
                await asyncio.sleep(0.01)
            assert not info.num_pending and info.delivered.consumer_seq == pushed
            asyncio.get_running_loop().call_later(0.05, handled.set)
            return info

        sub.consumer_info = consumer_info
        return sub

    monkeypatch.setattr(js, "subscribe", subscribe)


async def _pushed_and_held(js: Any, account: str, monkeypatch: pytest.MonkeyPatch, n: int) -> set[str]:
    """``n`` command events of ``account`` stored, then the race armed for the next subscriber."""
    await ensure_streams(js)
    cids = await _submit(js, account, n)
    _hold_until_info(js, monkeypatch, n)
    return cids


async def test_a_follower_is_caught_up_only_after_every_pushed_event(
        js: Any, unique: str, monkeypatch: pytest.MonkeyPatch) -> None:
    account = f"0x{unique}"
    cids = await _pushed_and_held(js, account, monkeypatch, 4)
    seen: list[str] = []
    follower = _Ordered(js, account, ("cmd_submitted",), lambda _seq, e: seen.append(e.client_id))
    try:
        await follower.start(timeout_s=15)
        assert set(seen) == cids  # (the old code returned with none of them handed on)
    finally:
        await follower.stop()


async def test_events_pushed_before_the_rebuild_looks_are_all_read(
        js: Any, unique: str, monkeypatch: pytest.MonkeyPatch) -> None:
    account = f"0x{unique}"
    cids = await _pushed_and_held(js, account, monkeypatch, 5)
    keeper = IndexKeeper(js, None, Keys(account), account, ttl_s=3600, settle_s=0.0)
    fold, end = await asyncio.wait_for(keeper.read(), 15)
    assert fold.events == 5 and set(fold.records) == cids
    assert fold.seq <= end


async def test_nothing_to_read_returns_at_once(js: Any, unique: str) -> None:
    await ensure_streams(js)
    await _submit(js, f"0x{unique}other", 1)  # another account's events are not this one's
    keeper = IndexKeeper(js, None, Keys(f"0x{unique}"), f"0x{unique}", ttl_s=3600, settle_s=0.0)
    fold, _ = await asyncio.wait_for(keeper.read(), 5)
    assert fold.events == 0 and not fold.records
