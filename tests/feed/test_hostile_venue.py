"""The feed against a hostile venue (tests/feed/hostile.py: a small WebSocket peer that gets the feed
subscribed, then sends garbage), real NATS, a recorder on ``pdx.>`` and ``/healthz`` sampled all
along. One test per class of garbage. After each: the feed is alive (same session unless the
garbage must end it), good data for the good markets is on the bus within 1 s of being sent, the
recorder saw nothing invalid, the DLQ stream holds the reasons, the log stayed under a bound and
``/healthz`` told the truth throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import nats
import pytest

from services.feed.service import FeedService
from services.feed.settings import Settings
from shared.bus import BboEvent, BookEvent, BookGap, encode_event, subjects
from shared.bus.deadletter import DeadLetter, decode_dead_letter
from shared.paradex import sbe
from shared.settings import load
from tests.feed import samples as s
from tests.feed.helpers import until
from tests.feed.hostile import ETH, MARKETS, HealthPoller, HostileVenue, M, Recorder

FRESH_S = 1.0  # the bound: good data flows again within 1 s


class _Jwt:
    """The hostile peer takes any bearer."""

    def __init__(self) -> None:
        self.calls = 0

    async def token(self) -> str:
        self.calls += 1
        return "hostile-jwt"

    def invalidate(self, token: str) -> None:
        pass


@dataclass
class Rig:
    venue: HostileVenue
    service: FeedService
    recorder: Recorder
    poller: HealthPoller
    nc: Any
    caplog: pytest.LogCaptureFixture

    def feed_log_lines(self, since: int) -> list[logging.LogRecord]:
        return [r for r in self.caplog.records[since:] if r.name.startswith("feed")]


RigFactory = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def rig(nats_url: str, caplog: pytest.LogCaptureFixture) -> AsyncIterator[RigFactory]:
    caplog.set_level(logging.WARNING)
    made: list[Rig] = []

    async def make(rng: Callable[[], float] = random.random, **overrides: Any) -> Rig:
        venue = await HostileVenue().__aenter__()
        nc = await nats.connect(nats_url, skip_subject_validation=True)
        kw: dict[str, Any] = dict(
            paradex_ws_url=venue.url, paradex_account=s.ACCOUNT, paradex_markets=MARKETS, http_port=0,
            status_interval_s=0.1, backoff_initial_s=0.05, backoff_max_s=0.2, silence_timeout_s=30.0,
            reply_timeout_s=3.0, subscribe_summary=False)
        service = FeedService(load(Settings, env={}, **{**kw, **overrides}), nc, _Jwt(), rng=rng)
        recorder = await Recorder(service.protocol.scope).start(nc)
        await service.start()
        assert service.http is not None
        poller = HealthPoller(f"http://127.0.0.1:{service.http.port}/healthz").start()
        r = Rig(venue, service, recorder, poller, nc, caplog)
        made.append(r)
        await until(lambda: service.status.connected and venue.ready
                    and all(r.recorder.book_seqs(m) for m in MARKETS), 10.0, "subscribed with both snapshots")
        return r

    try:
        yield make
    finally:
        for r in made:
            await r.poller.stop()
            await r.service.stop(drain_s=1.0)
            await r.recorder.stop()
            await r.venue.__aexit__()
            with contextlib.suppress(Exception):
                await r.nc.close()


async def dead_letters_since(nc: Any, since_ns: int, want: int) -> list[DeadLetter]:
    """Dead letters stored on the DLQ stream (JetStream, not the core tap) since ``since_ns``."""
    sub = await nc.jetstream().subscribe(subjects.FEED_DLQ, ordered_consumer=True)
    out: list[DeadLetter] = []
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                msg = await sub.next_msg(timeout=0.5)
            except Exception:  # nats TimeoutError: the stream is read to its end
                if len(out) >= want:
                    break
                continue
            letter = decode_dead_letter(msg.data)
            if letter.recv_ns >= since_ns:
                out.append(letter)
    finally:
        await sub.unsubscribe()
    return out


async def good_data_flows(r: Rig) -> float:
    """Send a delta of each market and an order; seconds until all three are on the bus."""
    sent = time.monotonic()
    btc, eth = await r.venue.good_delta(M), await r.venue.good_delta(ETH)
    oid = await r.venue.good_order()
    rec = r.recorder
    await until(lambda: rec.has_book(M, btc) and rec.has_book(ETH, eth) and rec.has_order(oid),
                10.0, "good data after the garbage")
    return time.monotonic() - sent


async def survive(r: Rig, frames: list[str | bytes], reasons: dict[str, int], *, log_bound: int = 8,
                  reconnects: int = 0) -> list[DeadLetter]:
    """Send ``frames``, then good data; check every promise of the module docstring. ``reasons``:
    the least count per refusal reason the garbage must produce."""
    rej = r.service.protocol.rejects
    t0, t0_ns, logs0 = time.monotonic(), time.time_ns(), len(r.caplog.records)
    before = dict(rej.counts)
    await r.venue.send_many(frames)
    await until(lambda: all(rej.counts[k] - before.get(k, 0) >= n for k, n in reasons.items()), 20.0,
                f"refusals {reasons}")
    if reconnects:
        await until(lambda: r.venue.connections == 1 + reconnects and r.venue.ready
                    and r.service.status.connected, 10.0, "the reconnect")
    # the feed is alive: same session (unless the garbage had to end it), every task running
    assert r.venue.connections == 1 + reconnects and r.service.status.connected
    assert r.service.supervisor.healthy and not r.service.failed.is_set()
    # good data for the good markets flows again within 1 s
    latency = await good_data_flows(r)
    assert latency < FRESH_S, f"good data took {latency:.3f} s after the garbage"
    # nothing invalid reached the bus
    assert r.recorder.invalid == [], r.recorder.invalid[:5]
    # the DLQ stream holds the reasons
    stored = await dead_letters_since(r.nc, t0_ns, want=1 if reasons else 0)
    assert set(reasons) <= {d.reason for d in stored}, {d.reason for d in stored}
    # the log stayed under a bound
    lines = r.feed_log_lines(logs0)
    assert len(lines) <= log_bound, [ln.getMessage()[:120] for ln in lines]
    # /healthz told the truth throughout: 200 while connected and serving, the refusals counted
    await asyncio.sleep(0.15)
    samples = r.poller.since(t0)
    assert samples, "no /healthz sample"
    for _, code, body in samples:
        assert (code == 200) == (body["state"] == "connected" and not body["market_data_stalled"]
                                 and all(t["state"] == "running" for t in body["tasks"].values())), body
        if not reconnects:
            assert code == 200, body
    last = samples[-1][2]
    for reason, n in reasons.items():
        assert last["rejected"].get(reason, 0) - before.get(reason, 0) >= n, last["rejected"]
    return stored


def push(channel: str, data: Any) -> str:
    return s.push(channel, data).decode()


def order(**fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = s.to_json(s.order(ts=int(time.time() * 1000)))
    data.update(fields)
    return data


def bbo(market: str = M, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = s.to_json(s.bbo(ts=int(time.time() * 1000)))
    data.update(market=market, **fields)
    return data


def delta(market: str = M, seq: int = 1, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = s.to_json(s.book(seq, market=market, ts=int(time.time() * 1000),
                                            updates=(s.lv("BUY", "950", "1"),)))
    data.update(fields)
    return data


# --- one test per class of garbage -------------------------------------------------------------


async def test_invalid_json(rig: RigFactory) -> None:
    r = await rig()
    frames: list[str | bytes] = ["{not json", "", "[1,2",
                                 '{"jsonrpc":"2.0","method":"subscription","params":',
                                 "\u00e9\u00e9", "nul\x00l", "{" * 10_000]
    await survive(r, frames, {"bad_json": 6})


async def test_wrong_types(rig: RigFactory) -> None:
    r = await rig()
    frames = [push("orders.ALL", order(status=5)), push("orders.ALL", order(size=[1])),
              push(f"bbo.{M}", bbo(seq_no="seven")), push(f"order_book.{M}.deltas", delta(seq_no="x")),
              push("fills.ALL", {"id": 1}), push(f"trades.{M}", None), push("positions", [1, 2])]
    await survive(r, frames, {"bad_schema": 7})


async def test_nan_and_infinity_sizes_and_prices(rig: RigFactory) -> None:
    r = await rig()
    seq = r.venue.seq[M]
    frames = [push("orders.ALL", order(size="NaN")), push("orders.ALL", order(price="Infinity")),
              push("orders.ALL", order(remaining_size="-Infinity")), push("orders.ALL", order(size="sNaN")),
              push(f"trades.{M}", {**s.to_json(s.trade(ts=int(time.time() * 1000))), "price": "NaN"}),
              push(f"order_book.{M}.deltas", delta(seq=seq + 1, updates=[{"side": "BUY", "price": "NaN",
                                                                          "size": "1"}])),
              push(f"order_book.{ETH}.deltas", delta(ETH, seq=r.venue.seq[ETH] + 1, updates=[
                  {"side": "SELL", "price": "1200", "size": "Infinity"}])),
              push(f"bbo.{M}", bbo(bid="NaN"))]  # a BBO price is text matched by a pattern: bad_schema
    await survive(r, frames, {"non_finite": 7, "bad_schema": 1})
    # a NaN book price no longer drops the session, nor the book: it stayed valid
    assert all(r.service.protocol.books.book(m).valid for m in MARKETS)


async def test_negative_seq_no(rig: RigFactory) -> None:
    r = await rig()
    frames = [push("orders.ALL", order(seq_no=-1)), push(f"bbo.{M}", bbo(seq_no=-5)),
              push(f"order_book.{M}.deltas", delta(seq=-3)), push("account", {**s.to_json(s.account()),
                                                                              "seq_no": -9})]
    await survive(r, frames, {"negative_seq": 4})
    assert r.recorder.book_seqs(M) and min(r.recorder.book_seqs(M)) >= 0


async def test_unknown_status(rig: RigFactory) -> None:
    r = await rig()
    frames = [push("orders.ALL", order(status="EXPLODED")), push("orders.ALL", order(side="SIDEWAYS")),
              push("orders.ALL", order(type="MAGIC")), push("orders.ALL", order(instruction="FOREVER")),
              push("positions", {**s.to_json(s.position()), "status": "LIQUIDATED?"})]
    await survive(r, frames, {"unknown_enum": 5})
    assert not r.recorder.saw(lambda e: getattr(getattr(e, "order", None), "status", "") == "EXPLODED")


async def test_another_accounts_order(rig: RigFactory) -> None:
    r = await rig()
    frames = [push("orders.ALL", order(account="0xdeadbeef", id="theirs")),
              push("fills.ALL", {**s.to_json(s.fill_()), "account": "0x1"}),
              push("tradebusts", {**s.to_json(s.tradebust()), "account": "0x2"})]
    stored = await survive(r, frames, {"foreign_account": 3})
    assert not r.recorder.has_order("theirs")
    assert any('"theirs"' in d.raw for d in stored)  # the raw frame is kept


async def test_an_unsubscribed_market(rig: RigFactory) -> None:
    r = await rig()
    frames = [push(f"bbo.{M}", bbo("SOL-USD-PERP")), push(f"order_book.{M}.deltas", delta("SOL-USD-PERP", 5)),
              push(f"trades.{M}", {**s.to_json(s.trade(ts=int(time.time() * 1000))),
                                   "market": "DOGE-USD-PERP"}),
              push("order_book.SOL-USD-PERP.deltas", delta("SOL-USD-PERP", 6)), push("bbo.SOL-USD-PERP",
                                                                                       bbo("SOL-USD-PERP"))]
    await survive(r, frames, {"unsubscribed_market": 3, "unknown_channel": 2})
    assert not r.recorder.saw(lambda e: "SOL-USD-PERP" in msgspec.json.encode(e).decode())


async def test_a_market_name_with_subject_wildcards(rig: RigFactory) -> None:
    r = await rig()
    frames = [push(f"bbo.{M}", bbo("BTC.>*")), push(f"order_book.{M}.deltas", delta("BTC.>*", 5)),
              push(f"bbo.{M}", bbo("BTC\r\nPUB pdx.md.book.BTC 2\r\nhi")),
              push("orders.ALL", order(market="*")),
              push(f"bbo.{M}", bbo("x" * 10_000))]
    await survive(r, frames, {"unsafe_market": 5})
    # the market-data lane kept publishing throughout (it used to stop for good on such a market)
    assert r.service.sink.market_dropped == 0


async def test_a_10_mib_frame(rig: RigFactory) -> None:
    # the reconnect waits 0.5 s (the backoff's ceiling), so the 50 ms /healthz samples see the outage
    r = await rig(ws_max_size=1 << 20, backoff_initial_s=0.5, backoff_max_s=0.5, rng=lambda: 1.0)
    frames: list[str | bytes] = [push("orders.ALL", order(client_id="x" * (10 << 20)))]
    t0 = time.monotonic()
    await survive(r, frames, {}, reconnects=1, log_bound=12)
    # closed with a logged reason naming the limit, reported by /healthz, then reconnected
    lines = [ln.getMessage() for ln in r.caplog.records if "FEED_WS_MAX_SIZE" in ln.getMessage()]
    assert lines, "no log line names the frame limit"
    down = [b for _, c, b in r.poller.since(t0) if c == 503]
    assert down and any((b["failure"] or {}).get("kind") == "oversized" for b in down), down[:3]
    assert r.service.status.epoch == 2
    assert r.service.metrics.session_ends.labels("oversized")._value.get() == 1


async def test_binary_garbage_on_sbe_channels(rig: RigFactory) -> None:
    r = await rig(sbe_schema_version=2)
    rng = random.Random(13)
    good = sbe.encode(s.book(r.venue.seq[M] + 1, market=M, ts=int(time.time() * 1000),
                             updates=(s.lv("BUY", "950", "1"),)))
    negative = bytearray(good)
    negative[-30:-22] = (-5).to_bytes(8, "little", signed=True)  # somewhere in a level or the market
    frames: list[str | bytes] = [rng.randbytes(rng.randrange(1, 200)) for _ in range(40)]
    frames += [good[:12], good[: len(good) // 2], b"\x00" * 8, sbe.encode(msgspec.structs.replace(
        s.bbo(ts=int(time.time() * 1000)), market="SOL-USD-PERP")), sbe.encode(msgspec.structs.replace(
            s.trade(ts=int(time.time() * 1000)), market="BTC.>")), bytes(negative)]
    await survive(r, frames, {"bad_sbe": 3, "unsubscribed_market": 1, "unsafe_market": 1})
    assert r.service.protocol.counters["internal_errors"] == 0


async def test_out_of_order_deltas(rig: RigFactory) -> None:
    r = await rig()
    v = r.venue
    frames: list[str | bytes] = [v.delta(M).decode(), v.delta(M, step=3).decode(),
                                 v.delta(M, step=-2).decode(),
                                 v.delta(M, step=0).decode(), v.delta(M, step=5).decode()]
    await r.venue.send_many(frames)
    # a gap: BookGap, the book resubscribed (a fresh snapshot from the venue), deltas flow on
    await until(lambda: bool(r.recorder.of(BookGap)) and r.service.protocol.books.book(M).valid
                and r.venue.subscribed.get(f"order_book.{M}.deltas", False), 5.0, "gap handled")
    await survive(r, [], {})
    # what reached the bus is in order: each snapshot followed by consecutive deltas only
    published = [(e.book.update_type, e.book.seq_no) for e in r.recorder.of(BookEvent) if e.book.market == M]
    for (_, prev), (kind, seq) in itertools.pairwise(published):
        assert kind == "s" or seq == prev + 1, published
    assert r.recorder.of(BookGap)[0].reason == "gap"


async def test_a_flood_of_50000_bad_frames(rig: RigFactory) -> None:
    r = await rig()
    kinds = ["{garbage", push("orders.ALL", order(size="NaN")), push(f"bbo.{M}", bbo("BTC.>")),
             push("orders.ALL", order(account="0x1")), push("transfers", {"id": 1}),
             push(f"bbo.{M}", bbo(seq_no=-1))]
    frames: list[str | bytes] = [kinds[i % len(kinds)] for i in range(50_000)]
    t0 = time.monotonic()
    stored = await survive(r, frames, {"bad_json": 8000, "non_finite": 8000, "unsafe_market": 8000,
                                       "foreign_account": 8000, "unknown_channel": 8000,
                                       "negative_seq": 8000},
                           log_bound=10_000)
    seconds = time.monotonic() - t0
    lines = r.feed_log_lines(0)
    assert len(lines) <= 6 * (seconds + 2), f"{len(lines)} log lines in {seconds:.1f} s"
    assert any("similar lines suppressed" in ln.getMessage() for ln in lines)
    assert sum(r.service.protocol.rejects.counts.values()) >= 50_000
    # the DLQ keeps a bounded sample, not 50 000 copies (the stream's history survives a flood)
    assert 6 <= len(stored) <= 1000 * (seconds + 2)


# --- liveness and /healthz ----------------------------------------------------------------------


async def test_healthz_is_503_when_market_data_stops_while_the_socket_is_alive(rig: RigFactory) -> None:
    r = await rig(market_data_stale_s=0.5)
    t0 = time.monotonic()
    for _ in range(20):  # frames keep coming (orders), market data does not
        await r.venue.good_order()
        await asyncio.sleep(0.05)
    await until(lambda: any(c == 503 for _, c, _ in r.poller.since(t0)), 5.0, "a 503")
    stalled = [b for _, c, b in r.poller.since(t0) if c == 503]
    assert all(b["state"] == "connected" and b["market_data_stalled"] for b in stalled)
    ages = stalled[-1]["last_published_age_ms"]
    assert ages["book"] >= 500
    t1 = time.monotonic()
    await good_data_flows(r)
    await until(lambda: any(c == 200 for _, c, _ in r.poller.since(t1)), 5.0, "200 again")


async def test_a_task_that_keeps_dying_makes_healthz_503_and_sets_failed(
        rig: RigFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    r = await rig(task_restart_max=2)
    sink = r.service.sink

    async def broken(*args: Any) -> Any:
        raise RuntimeError("publisher bug")

    monkeypatch.setattr(sink, "_publish_batch", broken)
    await r.venue.good_delta(M)
    for _ in range(5):
        await asyncio.sleep(0.3)
        await r.venue.good_delta(M)
    await asyncio.wait_for(r.service.failed.wait(), 10)
    await until(lambda: r.poller.samples[-1][1] == 503, 3.0, "503")
    body = r.poller.samples[-1][2]
    assert body["tasks"]["market-publisher"]["state"] == "dead"
    assert "RuntimeError: publisher bug" in body["tasks"]["market-publisher"]["last_error"]
    assert r.service.metrics.task_restarts.labels("market-publisher")._value.get() >= 3
    assert any(ln.levelno == logging.CRITICAL for ln in r.caplog.records)


async def test_the_recorder_flags_invalid_data_if_any_got_through(rig: RigFactory) -> None:
    """The recorder can fail: an invalid event published behind the feed's back is caught."""
    r = await rig()
    forged = BboEvent(source="ws", recv_ns=time.time_ns(), bbo=msgspec.structs.replace(s.bbo(), bid="-1"))
    await r.nc.publish(subjects.market_subject("bbo", M), encode_event(forged))
    await until(lambda: bool(r.recorder.invalid), 3.0, "the recorder's verdict")
    assert "not_positive" in r.recorder.invalid[0]
    r.recorder.invalid.clear()
