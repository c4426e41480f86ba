"""A 3-node NATS cluster with R3 streams: the ACCOUNT stream's leader is SIGKILLed mid-flow.

Every service runs as its own process against the cluster's seed list (``NATS_URL`` with three
URLs) and ``BUS_STREAM_REPLICAS=3``. Orders flow (resting and crossing, some cancelled) while the
node leading ``PDX_ACCOUNT`` is killed; a command that fails during the election is re-sent with
the same client id, as a strategy would. Then: every client id is exactly one venue order and one
``CmdSubmitted`` in the stream (0 lost, 0 duplicated), the state applied each account event of the
stream exactly once (its applied counters equal the stream's content, its applied sequence is the
stream's last), and the state equals the simulator's truth.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import re
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.bus import decode_event, kind_of
from shared.bus import subjects as sj
from shared.bus.connect import connect as bus_connect
from shared.client.errors import ClientError, ServiceError
from shared.localservers import NatsCluster
from tests.system.procs import M, ProcSystem, process_system, wait_until
from tests.system.races import canonical_state, canonical_truth, diff

R3 = {"BUS_STREAM_REPLICAS": "3"}
ORDERS = 45
KILL_AFTER = 15


async def _place(ps: ProcSystem, cid: str, side: str, price: Decimal, retries: list[str]) -> str:
    """Place until the service gives a definite answer (the same client id on every try)."""
    cmd = ps.commands_client()
    deadline = time.monotonic() + 60
    while True:
        try:
            res = await cmd.place(M, side, Decimal("0.01"), price, client_id=cid, wait="ack", timeout_s=10)
            return res.order_id or ""
        except ServiceError as exc:
            if exc.status < 500 and exc.status != 409:
                raise
            retries.append(f"{cid}: {exc}")
        except ClientError as exc:
            retries.append(f"{cid}: {exc}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{cid}: no definite answer within 60 s: {retries[-3:]}")
        await asyncio.sleep(0.5)


async def _stream_account_events(url: str, account: str) -> list[tuple[int, str, Any]]:
    """(stream seq, kind, event) of every message of ``account`` in the ACCOUNT stream."""
    nc = await bus_connect(url, name="test-cluster-reader", max_reconnect_attempts=5)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe(sj.account_filter(account), stream=sj.ACCOUNT_STREAM)
        out: list[tuple[int, str, Any]] = []
        while True:
            try:
                msgs = await sub.fetch(500, timeout=2)
            except TimeoutError:
                break
            for m in msgs:
                ev = decode_event(m.data)
                out.append((m.metadata.sequence.stream, kind_of(ev), ev))
                await m.ack()
        await sub.unsubscribe()
        return out
    finally:
        await nc.close()


def _applied(metrics: str) -> dict[str, float]:
    out: dict[str, float] = collections.Counter()
    for kind, value in re.findall(r'^state_events_applied_total\{kind="([^"]+)",source="[^"]+"\} (\S+)$',
                                  metrics, re.M):
        out[kind] += float(value)
    return out


def _gauge(metrics: str, name: str) -> float:
    m = re.search(rf"^{name} (\S+)$", metrics, re.M)
    assert m, f"{name} not in the state's metrics"
    return float(m.group(1))


@pytest.mark.slow
async def test_account_stream_leader_killed_mid_flow_loses_nothing_and_applies_nothing_twice(
        nats_cluster: NatsCluster, redis_url: str, tmp_path: Path) -> None:
    async with process_system(nats_cluster.url, redis_url, tmp_path, state=R3, commands=R3, reconciler=R3,
                              feed=R3, ready_within_s=60) as ps:
        nc = await bus_connect(nats_cluster.url, name="test-cluster", max_reconnect_attempts=-1)
        try:
            info = await nc.jetstream().stream_info(sj.ACCOUNT_STREAM)
        finally:
            await nc.close()
        assert info.config.num_replicas == 3, info.config
        leader = info.cluster.leader
        assert leader in nats_cluster.nodes, info.cluster

        bbo = (await ps.state_client().bbo(M)).value
        assert bbo.bid is not None and bbo.ask is not None
        retries: list[str] = []
        placed: dict[str, str] = {}
        killed_at = 0.0
        for i in range(ORDERS):
            cid = f"cl-{i}"
            crossing = i % 3 == 0
            side = "BUY" if i % 2 else "SELL"
            if crossing:  # marketable: fills at once
                price = bbo.ask + 50 if side == "BUY" else bbo.bid - 50
            else:  # resting, well away from the touch
                price = bbo.bid - 500 - i if side == "BUY" else bbo.ask + 500 + i
            placed[cid] = await _place(ps, cid, side, price.quantize(Decimal("0.1")), retries)
            if i % 5 == 4 and not crossing and placed[cid]:
                with contextlib.suppress(ClientError):
                    await ps.commands_client().cancel_by_client_id(cid, M)
            if i == KILL_AFTER:
                nats_cluster.kill(leader)
                killed_at = time.monotonic()
            await asyncio.sleep(0.1)
        elapsed_after_kill = time.monotonic() - killed_at

        # The state converges to the venue's truth with one node still down...
        async def converged() -> bool:
            return not diff(await canonical_state(ps.state_client()), canonical_truth(await ps.truth()))

        await wait_until(converged, 60, "state == simulator truth after the leader kill", every_s=0.5)
        truth = await ps.truth()
        venue_cids = collections.Counter(o["client_id"] for o in truth["orders"] if o["market"] == M)
        assert set(venue_cids) == set(placed), set(placed) ^ set(venue_cids)
        assert max(venue_cids.values()) == 1, [c for c, k in venue_cids.items() if k > 1]

        # ...and brings the killed node back: it catches up as a replica.
        nats_cluster.start_node(leader)
        events = await _stream_account_events(nats_cluster.url, ps.account)
        submitted = collections.Counter(ev.client_id for _, kind, ev in events if kind == "cmd_submitted")
        assert set(submitted) == set(placed) and max(submitted.values()) == 1, submitted

        async with httpx.AsyncClient(timeout=5) as http:
            async def applied_all() -> bool:
                text = (await http.get(f"{ps.state_url}/metrics")).text
                return _gauge(text, "state_account_applied_seq") >= max(seq for seq, _, _ in events)

            await wait_until(applied_all, 30, "the state applying the whole stream")
            metrics = (await http.get(f"{ps.state_url}/metrics")).text
        in_stream = collections.Counter(kind for _, kind, _ in events)
        applied = _applied(metrics)
        twice = {k: (applied.get(k, 0), n) for k, n in in_stream.items() if applied.get(k, 0) > n}
        lost = {k: (applied.get(k, 0), n) for k, n in in_stream.items() if applied.get(k, 0) < n}
        assert not twice, f"applied more often than in the stream: {twice}"
        assert not lost, f"in the stream but not applied: {lost}"
        print(f"[cluster] leader {leader} killed after {KILL_AFTER + 1} of {ORDERS} orders; "
              f"{len(events)} account events, {sum(in_stream.values())} applied once each; "
              f"{len(retries)} re-sends during the election; flow after kill {elapsed_after_kill:.1f} s")
