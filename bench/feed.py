"""Feed throughput: book deltas decoded, sequence-checked and published per second.

``python -m bench.feed [--frames N]``. A local NATS server (JetStream on) and, in a separate
process (the venue is not on our CPU), a WebSocket frame server that answers ``auth``/
``subscribe`` and then pushes a prepared stream of book frames (one snapshot, then N consecutive,
non-crossing deltas with 1-4 level changes each) as fast as the socket takes them, in JSON text
frames or SBE binary frames. (The simulator's per-connection queue bound of 2000 frames, like the
venue's slow-consumer rule, makes it unsuitable as a firehose, hence this frame server.)

Measured per encoding (median of 3 rounds, wall clock):

* ``bare_loop_per_s``: a bare ``websockets`` client that only receives the same frames;
* ``json_per_s`` / ``sbe_per_s``: the real :class:`FeedService` (protocol core, book checker,
  bus sink) until every frame is published to NATS, market data on core NATS subjects (the MARKET
  stream stores them);
* ``json_js_async_per_s``: the same with JetStream ``publish_async`` batches (acks awaited per
  batch), for the record of the core-vs-JetStream choice;
* ``ratio_json`` / ``ratio_sbe``: feed rate / bare-loop rate of the same encoding.

Both loops run on the event loop the feed service runs on (``FEED_EVENT_LOOP``, uvloop by default;
``--loop asyncio`` for the stock loop). The last line printed is JSON with the figures (and
``loop``). Targets: 30000/s and ratio >= 0.5.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import multiprocessing.process
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import nats
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from services.feed.service import FeedService
from services.feed.settings import Settings
from shared.localservers import NatsServer
from shared.paradex import sbe
from shared.paradex.models import BookLevel, BookUpdate
from shared.settings import load

MARKET = "BTC-USD-PERP"
TARGET_PER_S = 30_000
TARGET_RATIO = 0.5


def _lv(side: str, ticks: int, size: str) -> BookLevel:
    return BookLevel(side=side, price=Decimal(ticks) / 10, size=Decimal(size))


def book_stream(count: int, seed: int = 7) -> list[BookUpdate]:
    """A snapshot then ``count`` consecutive deltas; bids stay below 67630.0 and asks above
    67631.0, so the book never crosses."""
    rng = random.Random(seed)
    snap = BookUpdate(seq_no=1000, market=MARKET, last_updated_at=1718267837265, update_type="s",
                      inserts=[_lv("BUY", 676300 - 10 * i, "1.5") for i in range(15)]
                      + [_lv("SELL", 676310 + 10 * i, "2.5") for i in range(15)], updates=[], deletes=[])
    out = [snap]
    for i in range(count):
        levels = []
        for _ in range(rng.randint(1, 4)):
            side = rng.choice(("BUY", "SELL"))
            ticks = 676300 - rng.randint(0, 200) if side == "BUY" else 676310 + rng.randint(0, 200)
            size = "0" if rng.random() < 0.2 else f"{rng.randint(1, 5000) / 1000:.3f}"
            levels.append(_lv(side, ticks, size))
        out.append(BookUpdate(seq_no=1001 + i, market=MARKET, last_updated_at=1718267837315 + i,
                              update_type="d", inserts=[], updates=[lv for lv in levels if lv.size],
                              deletes=[lv for lv in levels if not lv.size]))
    return out


def json_frames(stream: list[BookUpdate]) -> list[str]:
    enc = msgspec.json.Encoder()
    channel = f"order_book.{MARKET}.deltas"
    return [enc.encode({"jsonrpc": "2.0", "method": "subscription",
                        "params": {"channel": channel, "data": u}}).decode() for u in stream]


class Blaster:
    """Answers auth/subscribe; on the book subscription pushes every prepared frame at once."""

    def __init__(self, frames: list[Any]) -> None:
        self.frames = frames

    async def handler(self, ws: ServerConnection) -> None:
        async for raw in ws:
            req = msgspec.json.decode(raw)
            channel = req.get("params", {}).get("channel", "")
            result = {"node_id": "bench"} if req["method"] == "auth" else {"channel": channel}
            await ws.send(msgspec.json.encode({"jsonrpc": "2.0", "id": req["id"], "result": result}).decode())
            if req["method"] == "subscribe" and req["params"]["channel"].startswith("order_book."):
                for frame in self.frames:
                    await ws.send(frame)


async def bare_loop(url: str, total: int) -> float:
    """Frames per second a bare websockets client receives."""
    async with connect(url, max_size=None, compression=None, max_queue=None) as ws:
        await ws.send(json.dumps({"jsonrpc": "2.0", "method": "subscribe", "id": 1,
                                  "params": {"channel": f"order_book.{MARKET}.deltas"}}))
        await ws.recv()  # the reply
        n = 0
        start = 0.0
        async for _ in ws:
            if n == 0:
                start = time.perf_counter()
            n += 1
            if n == total:
                break
        return (total - 1) / (time.perf_counter() - start)


async def until(done: Callable[[], bool], timeout_s: float = 120.0) -> None:
    """Poll ``done`` every 0.5 ms (cheap next to the work measured)."""
    for _ in range(int(timeout_s / 0.0005)):
        if done():
            return
        await asyncio.sleep(0.0005)
    raise TimeoutError("bench run did not finish")


class _Jwt:
    async def token(self) -> str:
        return "bench"

    def invalidate(self, token: str) -> None:
        pass


async def feed_rate(url: str, nats_url: str, total: int, sbe_version: int, mode: str) -> tuple[float, int]:
    """Frames per second through FeedService until all are published; and how many were dropped."""
    nc = await nats.connect(nats_url, skip_subject_validation=True)  # as services.feed connects
    settings = load(Settings, env={}, paradex_ws_url=url, paradex_markets=(MARKET,), subscribe_summary=False,
                    sbe_schema_version=sbe_version, market_data_mode=mode, http_port=0,
                    market_queue_max=max(20_000, total + 10))
    service = FeedService(settings, nc, _Jwt(), http=False)
    try:
        await service.start()
        sink, proto = service.sink, service.protocol
        await until(lambda: bool(proto.frames))
        start = time.perf_counter()
        await until(lambda: sink.published_market + sink.market_dropped >= total)
        elapsed = time.perf_counter() - start
        return (total - 1) / elapsed, sink.market_dropped + proto.counters["decode_errors"]
    finally:
        await service.stop(drain_s=1.0)
        await nc.drain()


def _blaster_process(encoding: str, count: int, port: Any) -> None:
    """Child process: serve the prepared frames of ``encoding`` until killed; report the port."""
    stream = book_stream(count)
    frames: list[Any] = json_frames(stream) if encoding == "json" else [sbe.encode(u) for u in stream]

    async def serve_forever() -> None:
        blaster = Blaster(frames)
        async with serve(blaster.handler, "127.0.0.1", 0, max_size=None, compression=None) as srv:
            port.value = next(iter(srv.sockets)).getsockname()[1]
            await asyncio.Future()

    asyncio.run(serve_forever())


def start_blaster(encoding: str, count: int) -> tuple[multiprocessing.process.BaseProcess, str]:
    """The frame server in its own process (the venue is not on our CPU); its URL."""
    ctx = multiprocessing.get_context("spawn")
    port = ctx.Value("i", 0)
    proc = ctx.Process(target=_blaster_process, args=(encoding, count, port), daemon=True)
    proc.start()
    for _ in range(600):
        if port.value:
            return proc, f"ws://127.0.0.1:{port.value}/v1"
        time.sleep(0.05)
    proc.terminate()
    raise TimeoutError("frame server did not start")


async def run(count: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        server = NatsServer(Path(tmp)).start()
        try:
            out: dict[str, Any] = {"frames": count + 1}
            for name in ("json", "sbe"):
                proc, url = start_blaster(name, count)
                try:
                    total = count + 1
                    bare = statistics.median([await bare_loop(url, total) for _ in range(rounds)])
                    version = 2 if name == "sbe" else 0  # the frame server ignores the SBE query
                    runs = [await feed_rate(url, server.url, total, version, "core") for _ in range(rounds)]
                    rate = statistics.median(r for r, _ in runs)
                    out[f"bare_loop_{name}_per_s"] = round(bare)
                    out[f"{name}_per_s"] = round(rate)
                    out[f"ratio_{name}"] = round(rate / bare, 3)
                    out[f"{name}_dropped"] = max(d for _, d in runs)
                    print(f"{name:4s}: bare loop {bare:>9,.0f}/s  feed {rate:>9,.0f}/s  "
                          f"ratio {rate / bare:.2f}")
                    if name == "json":
                        js_rate, js_drop = await feed_rate(url, server.url, total, 0, "jetstream")
                        out["json_js_async_per_s"] = round(js_rate)
                        out["json_js_async_dropped"] = js_drop
                        print(f"json, JetStream publish_async: {js_rate:>9,.0f}/s")
                finally:
                    proc.terminate()
                    proc.join(5)
            out["bare_loop_per_s"] = out["bare_loop_json_per_s"]
        finally:
            server.stop()
    ok = all(out[f"{n}_per_s"] >= TARGET_PER_S and out[f"ratio_{n}"] >= TARGET_RATIO for n in ("json", "sbe"))
    print(f"targets ({TARGET_PER_S}/s, ratio >= {TARGET_RATIO}): {'met' if ok else 'NOT met'}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    deployed = next(f.default for f in msgspec.structs.fields(Settings) if f.name == "event_loop")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default=deployed,
                        help="the event loop of this process (bare loop and feed alike); default: the "
                             "feed service's own default (FEED_EVENT_LOOP), i.e. as deployed")
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        out = uvloop.run(run(args.frames, args.rounds))
    else:
        out = asyncio.run(run(args.frames, args.rounds))
    out["loop"] = args.loop
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
