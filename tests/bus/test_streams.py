"""Stream definitions, ensure_streams idempotence, subjects and deduplicating publishes on real NATS."""

from __future__ import annotations

import pytest
from nats.js.api import DiscardPolicy, StorageType

from shared.bus import BookGap, EventPublisher, FeedStatus, ensure_streams, streams, subject_for
from shared.bus import subjects as sj
from shared.bus.connect import connect as bus_connect
from shared.bus.connect import redact_url, seeds
from shared.bus.streams import account_stream, market_stream
from shared.errors import ConfigError
from shared.localservers import NatsServer, free_port


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


# --- replicas, limits and conservative updates (issue 14 item 4, issue 18 item 3) -------------------

def test_bus_settings_defaults_and_errors_name_the_variable():
    b = streams.bus_settings({})
    assert (b.stream_replicas, b.account_max_bytes) == (1, 8 * streams.GIB)
    assert b.account_max_age_s == 7 * streams.DAY_S
    acct, md, dlq = streams.all_streams(streams.bus_settings({"BUS_STREAM_REPLICAS": "3",
                                                              "BUS_ACCOUNT_MAX_BYTES": "1000000"}))
    assert acct.num_replicas == md.num_replicas == dlq.num_replicas == 3
    assert acct.max_bytes == 1_000_000 and acct.discard == DiscardPolicy.OLD
    for env, var in [({"BUS_STREAM_REPLICAS": "0"}, "BUS_STREAM_REPLICAS"),
                     ({"BUS_STREAM_REPLICAS": "three"}, "BUS_STREAM_REPLICAS"),
                     ({"BUS_ACCOUNT_MAX_BYTES": "0"}, "BUS_ACCOUNT_MAX_BYTES"),
                     ({"BUS_ACCOUNT_MAX_AGE_S": "-1"}, "BUS_ACCOUNT_MAX_AGE_S"),
                     ({"BUS_STREAM_REPLICA": "3"}, "BUS_STREAM_REPLICA")]:
        with pytest.raises(ConfigError) as info:
            streams.bus_settings(env)
        assert info.value.variable == var


def test_merge_keeps_unmanaged_fields_and_never_lowers_replicas():
    current = streams.dlq_stream(replicas=3)
    current.max_msgs_per_subject = 7  # set by an operator: not ours
    assert streams.merged(current, streams.dlq_stream(replicas=1)) is None  # the bug: reset to R1
    raised = streams.merged(streams.dlq_stream(replicas=1), streams.dlq_stream(replicas=3))
    assert raised is not None and raised.num_replicas == 3
    changed = streams.merged(current, streams.dlq_stream(max_age_s=60, replicas=1))
    assert changed is not None and changed.max_age == 60
    assert changed.num_replicas == 3 and changed.max_msgs_per_subject == 7


async def test_existing_stream_keeps_settings_ensure_streams_does_not_manage(js, unique):
    cfg = streams.dlq_stream()
    cfg.name, cfg.subjects = f"Q{unique}", [f"q{unique}.>"]
    await ensure_streams(js, [cfg])
    info = await js.stream_info(cfg.name)
    info.config.max_msgs_per_subject = 9
    info.config.max_msg_size = 4096
    await js.update_stream(info.config)
    assert await ensure_streams(js, [cfg]) == [f"unchanged:Q{unique}"]
    cfg.max_age = 3600
    assert await ensure_streams(js, [cfg]) == [f"updated:Q{unique}"]
    after = (await js.stream_info(cfg.name)).config
    assert (after.max_msgs_per_subject, after.max_msg_size, after.max_age) == (9, 4096, 3600)
    await js.delete_stream(cfg.name)


async def test_replicas_beyond_a_single_server_fail_naming_the_setting(js, unique):
    cfg = streams.dlq_stream(replicas=3)
    cfg.name, cfg.subjects = f"R{unique}", [f"r{unique}.>"]
    with pytest.raises(ConfigError) as info:
        await ensure_streams(js, [cfg])
    assert info.value.variable == "BUS_STREAM_REPLICAS"


async def test_on_a_cluster_streams_get_r3_and_a_default_start_never_lowers_them(nats_cluster, unique):
    nc = await bus_connect(nats_cluster.url, name="test-streams", max_reconnect_attempts=3)
    try:
        js = nc.jetstream()
        cfgs = streams.all_streams(streams.bus_settings({"BUS_STREAM_REPLICAS": "3"}))
        for c in cfgs:
            c.name = f"{c.name}{unique}"
            c.subjects = [f"c{unique}.{c.name}.>"]
        assert all(d.startswith("created:") for d in await ensure_streams(js, cfgs))
        for c in cfgs:
            info = await js.stream_info(c.name)
            assert info.config.num_replicas == 3 and len(info.cluster.replicas) == 2, info.cluster
        # a service started with the default (1) on every start: nothing changes, DLQ included
        defaults = streams.all_streams(streams.bus_settings({}))
        for c, d in zip(cfgs, defaults, strict=True):
            d.name, d.subjects = c.name, c.subjects
        assert all(d.startswith("unchanged:") for d in await ensure_streams(js, defaults))
        for c in cfgs:
            assert (await js.stream_info(c.name)).config.num_replicas == 3
            await js.delete_stream(c.name)
    finally:
        await nc.close()


def test_nats_url_takes_comma_separated_seeds_and_hides_passwords():
    assert seeds("nats://a:1, nats://b:2,,nats://c:3") == ["nats://a:1", "nats://b:2", "nats://c:3"]
    assert redact_url("nats://hub:s3cret-pw@a:1,nats://hub:s3cret-pw@b:2") == "nats://hub:***@a:1,nats://hub:***@b:2"
    for bad in ["", " , ", "http://a:1", "a:4222", "nats://a:1,redis://b:2"]:
        with pytest.raises(ConfigError) as info:
            seeds(bad)
        assert info.value.variable == "NATS_URL"


async def test_connect_reaches_a_cluster_through_any_live_seed(nats_cluster):
    dead = f"nats://127.0.0.1:{free_port()}"
    nc = await bus_connect(f"{dead},{nats_cluster.node_url('n2')}", name="test-seeds",
                           max_reconnect_attempts=3, dont_randomize=True)
    try:
        assert nc.is_connected
        assert nc.connected_url.port == nats_cluster.client_ports[1]
    finally:
        await nc.close()


async def test_a_size_cap_beyond_the_servers_storage_fails_naming_the_setting(tmp_path):
    conf = tmp_path / "small.conf"
    conf.write_text("jetstream { max_file_store: 1MB }\n")  # store_dir comes from -sd
    server = NatsServer(tmp_path / "n", extra_args=("-c", str(conf))).start()
    try:
        nc = await bus_connect(server.url, name="test-small", max_reconnect_attempts=2)
        try:
            with pytest.raises(ConfigError) as info:
                await ensure_streams(nc.jetstream(), [account_stream(max_bytes=64 * 1024 * 1024)])
            assert info.value.variable == "BUS_ACCOUNT_MAX_BYTES"
            assert await ensure_streams(nc.jetstream(), [account_stream(max_bytes=512 * 1024)]) == [
                f"created:{sj.ACCOUNT_STREAM}"]
        finally:
            await nc.close()
    finally:
        server.stop()
