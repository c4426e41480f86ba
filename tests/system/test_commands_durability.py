"""The commands service as a process under Redis loss and beside a second replica (issue 14): the
whole system as separate processes (tests/system/procs.py) on a redis-server of its own, so the
test can kill it, lose its data and start it again."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from shared.localservers import RedisServer, free_port
from tests.system.procs import STRATEGIES, TOKENS, M, process_system, wait_until

HEADERS = {"Authorization": f"Bearer {TOKENS['mm']}"}
FAST_INDEX = {"COMMANDS_INDEX_SETTLE_S": "1.0"}


def order(cid: str, price: str = "30000") -> dict[str, Any]:
    return {"market": M, "side": "BUY", "type": "LIMIT", "size": "0.001", "price": price, "client_id": cid}


async def venue_orders(ps: Any) -> Counter[str]:
    truth = await ps.truth()
    return Counter(o["client_id"] for o in truth["orders"] if o.get("client_id"))


async def test_redis_killed_wiped_and_restarted_under_load_never_places_a_client_id_twice(
    nats_url: str, tmp_path: Path
) -> None:
    port = free_port()
    redis = RedisServer(tmp_path / "redis-1").start(port=port)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        async with process_system(nats_url, url, tmp_path / "sys", commands=FAST_INDEX) as ps:
            statuses: dict[str, list[int]] = {}
            stop = asyncio.Event()
            sent = 0

            async def one(client: httpx.AsyncClient, cid: str) -> None:
                try:
                    r = await client.post("/v1/orders", json=order(cid), headers=HEADERS)
                    statuses[cid].append(r.status_code)
                except httpx.HTTPError:
                    statuses[cid].append(0)

            async def flow(client: httpx.AsyncClient) -> None:  # 20 orders/s, each a new client id
                nonlocal sent
                running: set[asyncio.Task[None]] = set()
                while not stop.is_set():
                    cid = f"flow-{sent}"
                    sent += 1
                    statuses[cid] = []
                    t = asyncio.ensure_future(one(client, cid))
                    running.add(t)
                    t.add_done_callback(running.discard)
                    await asyncio.sleep(0.05)
                if running:
                    await asyncio.wait(running)

            async with httpx.AsyncClient(base_url=ps.commands_url, timeout=15.0) as client:
                task = asyncio.ensure_future(flow(client))
                await asyncio.sleep(3.0)
                redis.proc.kill()  # SIGKILL: no save, and it had no persistence: the data is gone
                redis.proc.wait(5)
                outage_from = len(statuses)
                await asyncio.sleep(2.0)
                health = await client.get("/healthz")
                assert health.status_code == 503 and health.json()["redis_connected"] is False, health.text
                outage_to = len(statuses)
                redis = RedisServer(tmp_path / "redis-2").start(port=port)  # an empty Redis
                await wait_until(_placed_again(statuses), 60.0, "places accepted again after the restart")
                await asyncio.sleep(1.0)
                stop.set()
                await task

                codes = Counter(c for cs in statuses.values() for c in cs)
                assert codes[500] == 0 and codes[0] == 0, codes
                # answered during the outage (the last 0.75 s may be answered after the restart)
                during = [statuses[c][0] for c in list(statuses)[outage_from : outage_to - 15]]
                assert during and set(during) <= {503}, Counter(during)
                # every client id ever sent is sent again: never a second venue order
                again: dict[str, int] = {}
                for cid in statuses:
                    r = await client.post("/v1/orders", json=order(cid), headers=HEADERS)
                    again[cid] = r.status_code
                    assert r.status_code != 500, r.text
                venue = await venue_orders(ps)
                twice = {c: n for c, n in venue.items() if n > 1}
                assert twice == {}, twice
                placed_first = [c for c, cs in statuses.items() if cs[0] in (201, 202)]
                assert len(placed_first) > 30 and all(venue[c] == 1 for c in placed_first)
                assert all(again[c] in (201, 202) for c in placed_first), Counter(
                    again[c] for c in placed_first
                )
                assert "Traceback" not in ps.log("commands"), ps.log("commands")[-3000:]
    finally:
        redis.stop()


def _placed_again(statuses: dict[str, list[int]]) -> Any:
    """A check for wait_until: the last three orders of the flow were placed (201)."""

    async def check() -> bool:
        answered = [cs for cs in statuses.values() if cs][-3:]
        return len(answered) == 3 and all(cs[-1] == 201 for cs in answered)

    return check


async def test_two_commands_replicas_share_the_venue_budget_and_the_limits(
    nats_url: str, redis_url: str, tmp_path: Path
) -> None:
    limited = [{**STRATEGIES[0], "max_open_orders_per_market": 6}, STRATEGIES[1]]
    budget = {"COMMANDS_RATE_PER_S": "5", "COMMANDS_RATE_BURST": "5", "COMMANDS_REPLICAS": "2"}
    async with process_system(nats_url, redis_url, tmp_path, commands=budget, strategies=limited) as ps:
        second = await ps.start_extra("commands2", "commands", {})
        urls = [ps.commands_url, second.url]
        answers: list[int] = []
        started = time.monotonic()

        async def blast(url: str, worker: int) -> None:
            async with httpx.AsyncClient(base_url=url, timeout=15.0) as c:
                for i in range(12):
                    r = await c.post(
                        "/v1/orders",
                        json=order(f"rep-{url[-5:]}-{worker}-{i}", "20000"),
                        headers={"Authorization": f"Bearer {TOKENS['poller']}"},
                    )
                    answers.append(r.status_code)

        await asyncio.gather(*(blast(u, w) for u in urls for w in range(4)))
        elapsed = time.monotonic() - started
        venue = await venue_orders(ps)
        rep = [c for c in venue if c.startswith("rep-")]
        # 96 attempts in `elapsed` s on two replicas: the shared bucket admits burst + rate * elapsed
        assert len(rep) <= 5 + 5 * elapsed + 1, (len(rep), elapsed, Counter(answers))
        assert Counter(answers)[429] > 0 and 500 not in answers, Counter(answers)

        # a limit two replicas cannot overshoot together: mm may hold 6 open orders in BTC; each
        # replica gets a batch of 5 at the same instant (one budget unit each)
        await asyncio.sleep(1.0)  # the shared bucket refills

        async def batch(url: str, tag: str) -> list[int]:
            async with httpx.AsyncClient(base_url=url, timeout=15.0) as c:
                body = {"orders": [order(f"lim-{tag}-{i}", "20000") for i in range(5)]}
                r = await c.post("/v1/orders/batch", json=body, headers=HEADERS)
                assert r.status_code in (201, 207), r.text
                return [x["http_status"] for x in r.json()["results"]]

        codes = [c for part in await asyncio.gather(batch(urls[0], "a"), batch(urls[1], "b")) for c in part]
        truth = await ps.truth()
        placed = [o for o in truth["orders"] if str(o.get("client_id", "")).startswith("lim-")]
        assert len(placed) == 6 and Counter(codes) == Counter({201: 6, 403: 4}), (len(placed), codes)
