"""``/v1/events`` on the real service: refused filters and ids, resume with Last-Event-ID within a
process and across a restart of the service (the buffer seeded from the Redis change stream)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
import msgspec

from tests.state.test_service_harness import instance, order, order_ev, publish_all, settings_for, wait_for


class Reader:
    """Reads SSE frames of one connection into ``frames`` ({"id", "event", "data"} dicts)."""

    def __init__(self, client: httpx.AsyncClient, params: dict[str, str] | None = None,
                 last_id: str | None = None) -> None:
        self.frames: list[dict[str, Any]] = []
        self.comments: list[str] = []
        headers = {"Last-Event-ID": last_id} if last_id else {}
        self.task = asyncio.create_task(self._run(client, params, headers))

    async def _run(self, client: httpx.AsyncClient, params: Any, headers: dict[str, str]) -> None:
        async with client.stream("GET", "/v1/events", params=params, headers=headers) as r:
            assert r.status_code == 200, await r.aread()
            cur: dict[str, Any] = {}
            async for line in r.aiter_lines():
                if not line:
                    if "event" in cur:
                        if "data" in cur:
                            cur["data"] = msgspec.json.decode(cur["data"])
                        self.frames.append(cur)
                    cur = {}
                elif line.startswith(":"):
                    self.comments.append(line)
                else:
                    name, _, value = line.partition(": ")
                    cur[name] = value

    def keys(self) -> list[tuple[str, int]]:
        return [(f["data"]["key"], f["data"]["seq"]) for f in self.frames if f.get("event") == "order"]

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task


async def test_unknown_kinds_and_foreign_ids_are_422_naming_the_rule(
        nats_url: str, redis_url: str, unique: str) -> None:
    async with instance(settings_for(nats_url, redis_url, f"acct{unique}")) as inst:
        r = await inst.get("/v1/events", kinds="order,nonsense")
        assert r.status_code == 422
        assert r.json()["error"] == "bad_kinds" and "['nonsense']" in r.json()["reason"]
        r = await inst.client.get("/v1/events", headers={"Last-Event-ID": "17"})
        assert r.status_code == 422 and r.json()["error"] == "bad_last_event_id"
        assert "a:<seq>.<i>,m:<epoch>.<n>" in r.json()["reason"]
        assert (await inst.get("/v1/events", last_event_id="x")).status_code == 422
        assert (await inst.get("/v1/events", after_seq="-1")).status_code == 422


async def test_ids_name_each_stream_and_a_reconnect_with_the_last_id_misses_nothing(
        nats_url: str, redis_url: str, js: Any, unique: str) -> None:
    account = f"acct{unique}"
    async with instance(settings_for(nats_url, redis_url, account)) as inst:
        first = Reader(inst.client, {"kinds": "order"})
        await wait_for(lambda: _subscribers(inst, 1), 5, "SSE subscriber")
        seqs = await publish_all(js, account, [order_ev(order(str(i), account=account)) for i in range(3)])
        await wait_for(lambda: _count(first, 3), 5, "3 frames")
        await first.close()
        epoch = inst.service.hub.epoch
        assert [f["id"].split(",")[0].rsplit(".", 1)[0] for f in first.frames] == [f"a:{s}" for s in seqs]
        assert all(f["id"].endswith(f",m:{epoch}.{f['id'].rsplit('.', 1)[1]}") for f in first.frames)
        assert first.comments[0].startswith(": connected a:")

        missed = await publish_all(js, account, [order_ev(order(str(i), account=account))
                                                 for i in range(3, 6)])
        await inst.wait_seq(missed[-1])
        second = Reader(inst.client, {"kinds": "order"}, last_id=first.frames[1]["id"])
        await wait_for(lambda: _count(second, 4), 5, "replayed frames")
        more = await publish_all(js, account, [order_ev(order("6", account=account))])
        await wait_for(lambda: _count(second, 5), 5, "live frame")
        await second.close()
        replayed = [(str(i), s) for i, s in zip(range(3, 6), missed, strict=True)]
        assert second.keys() == [("2", seqs[2]), *replayed, ("6", more[0])]

        # after_seq: exactly what followed a state read
        third = Reader(inst.client, {"kinds": "order", "after_seq": str(missed[0])})
        await wait_for(lambda: _count(third, 3), 5, "frames after the read")
        await third.close()
        assert third.keys() == [("4", missed[1]), ("5", missed[2]), ("6", more[0])]


async def test_a_client_resumes_across_a_restart_of_the_service_with_nothing_missed_or_twice(
        nats_url: str, redis_url: str, js: Any, unique: str) -> None:
    account = f"acct{unique}"
    settings = settings_for(nats_url, redis_url, account)
    async with instance(settings) as inst:
        reader = Reader(inst.client, {"kinds": "order"})
        await wait_for(lambda: _subscribers(inst, 1), 5, "SSE subscriber")
        before = await publish_all(js, account, [order_ev(order(str(i), account=account)) for i in range(4)])
        await wait_for(lambda: _count(reader, 4), 5, "frames before the restart")
        await reader.close()
        last = reader.frames[1]["id"]  # the client saw only two of them
    down = await publish_all(js, account, [order_ev(order(str(i), account=account)) for i in range(4, 7)])
    async with instance(settings) as inst:
        assert inst.service.restored_seq == before[-1]
        resumed = Reader(inst.client, {"kinds": "order"}, last_id=last)
        after = await publish_all(js, account, [order_ev(order("7", account=account))])
        await wait_for(lambda: _count(resumed, 6), 10, "frames after the restart")
        await asyncio.sleep(0.2)  # nothing more may arrive
        await resumed.close()
    want = [(str(i), s) for i, s in enumerate(before[2:] + down + after, start=2)]
    assert resumed.keys() == want


async def _subscribers(inst: Any, n: int) -> bool:
    return len(inst.service.hub.subscribers) >= n


async def _count(reader: Reader, n: int) -> bool:
    if reader.task.done():
        reader.task.result()
    return len(reader.keys()) >= n
