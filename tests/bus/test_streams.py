"""Stream definitions, ensure_streams idempotence, subjects and deduplicating publishes on real NATS."""

from __future__ import annotations

import pytest
from nats.js.api import StorageType

from shared.bus import BookGap, EventPublisher, FeedStatus, ensure_streams, subject_for
from shared.bus import subjects as sj
from shared.bus.streams import account_stream, market_stream


def _isolated(unique):
    """Stream configs with unique names/subjects so tests never touch each other's streams."""
    acct = account_stream()
    acct.name, acct.subjects = f"A{unique}", [f"x{unique}.acct.>"]
    md = market_stream(max_age_s=30)
    md.name, md.subjects = f"M{unique}", [f"x{unique}.md.>"]
    return [acct, md]


async def test_ensure_streams_creates_then_is_idempotent_then_updates(js, unique):
    cfgs = _isolated(unique)
    assert await ensure_streams(js, cfgs) == [f"created:A{unique}", f"created:M{unique}"]
    assert await ensure_streams(js, cfgs) == [f"unchanged:A{unique}", f"unchanged:M{unique}"]
    cfgs[1].max_age = 45
    assert await ensure_streams(js, cfgs) == [f"unchanged:A{unique}", f"updated:M{unique}"]
    acct = await js.stream_info(f"A{unique}")
    md = await js.stream_info(f"M{unique}")
    assert acct.config.storage == StorageType.FILE and acct.config.duplicate_window == 120
    assert md.config.storage == StorageType.MEMORY and md.config.max_age == 45
    for c in cfgs:
        await js.delete_stream(c.name)


async def test_default_streams_cover_account_and_market_subjects(js):
    await ensure_streams(js)
    acct = await js.stream_info(sj.ACCOUNT_STREAM)
    assert acct.config.subjects == [sj.ACCOUNT_WILDCARD]
    md = await js.stream_info(sj.MARKET_STREAM)
    assert md.config.subjects == [sj.MARKET_WILDCARD]


def test_subjects_route_account_and_market_events():
    st = FeedStatus(source="ws", state="connected", epoch=3)
    assert subject_for(st, "0xabc") == "pdx.acct.0xabc.feed_status"
    gap = BookGap(source="ws", market="BTC-USD-PERP", expected_seq=5, got_seq=7)
    assert subject_for(gap, "0xabc") == "pdx.md.book_gap.BTC-USD-PERP"


@pytest.mark.parametrize("bad", ["a.b", "a b", "", "a*", ">"])
def test_subject_tokens_are_validated(bad):
    with pytest.raises(ValueError):
        sj.account_subject(bad, "order")


async def test_publisher_retry_is_deduplicated_by_msg_id(js, unique):
    await ensure_streams(js)
    pub = EventPublisher(js, f"acct{unique}")
    ev = FeedStatus(source="ws", state="connected", epoch=1, recv_ns=123)
    first = await pub.publish(ev)
    again = await pub.publish(ev)  # a producer retry: same bytes, same id
    assert again == first
    other = await pub.publish(FeedStatus(source="ws", state="connected", epoch=1, recv_ns=124))
    assert other > first
    sub = await js.pull_subscribe(sj.account_filter(f"acct{unique}"), stream=sj.ACCOUNT_STREAM)
    msgs = await sub.fetch(10, timeout=2)
    assert len(msgs) == 2
    for m in msgs:
        await m.ack()


async def test_identical_events_of_two_accounts_are_both_stored(js, unique):
    """The duplicate window is stream-wide: the subject must be part of the message id."""
    await ensure_streams(js)
    ev = FeedStatus(source="ws", state="connected", epoch=1, recv_ns=7)
    a = await EventPublisher(js, f"a{unique}").publish(ev)
    b = await EventPublisher(js, f"b{unique}").publish(ev)
    assert a != b
