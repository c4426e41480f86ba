"""The lease on a replica's durable consumer, against real Redis: one live holder, clear refusals,
dead holders waited out (or taken over at once when their pid is gone on this host)."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import pytest

from services.state.lease import DurableInUse, Lease


def _lease(redis: Any, unique: str, ttl_s: float = 1.0) -> Lease:
    return Lease(redis, f"pdx:{unique}:lease:d", "d", "r1", ttl_s=ttl_s)


async def test_a_second_process_is_refused_while_the_holder_renews(redis_client: Any, unique: str) -> None:
    first = _lease(redis_client, unique)
    await first.acquire()
    first.start()
    second = _lease(redis_client, unique)
    t0 = time.monotonic()
    with pytest.raises(DurableInUse) as info:
        await second.acquire(poll_s=0.05)
    assert time.monotonic() - t0 < 1.5  # refused once a renewal was seen, not after a timeout
    err = info.value
    assert err.holder["instance"] == first.instance and err.holder["pid"] == str(os.getpid())
    assert "STATE_REPLICA_ID" in str(err) and "'d'" in str(err)
    assert first.valid()
    await first.stop()
    assert await redis_client.exists(f"pdx:{unique}:lease:d") == 0  # released on a clean stop
    await second.acquire()  # free at once after a clean stop
    await second.stop()


async def test_a_holder_that_stopped_renewing_is_waited_out(redis_client: Any, unique: str) -> None:
    key = f"pdx:{unique}:lease:d"
    # a holder on another host that died without clean-up: its lease only expires
    await redis_client.hset(key, mapping={"instance": "dead", "host": "elsewhere", "pid": "1",
                                          "renewals": "3"})
    await redis_client.pexpire(key, 600)
    lease = _lease(redis_client, unique)
    t0 = time.monotonic()
    await lease.acquire(poll_s=0.05)
    assert 0.4 < time.monotonic() - t0 < 2.0
    assert (await redis_client.hget(key, "instance")).decode() == lease.instance
    await lease.stop()


async def test_a_dead_holder_on_this_host_is_taken_over_at_once(redis_client: Any, unique: str) -> None:
    key = f"pdx:{unique}:lease:d"
    proc = await asyncio.create_subprocess_exec("true")
    await proc.wait()  # a pid that no longer exists
    lease = _lease(redis_client, unique, ttl_s=30.0)
    await redis_client.hset(key, mapping={"instance": "dead", "host": lease.fields["host"],
                                          "pid": str(proc.pid), "renewals": "0"})
    await redis_client.pexpire(key, 30_000)
    t0 = time.monotonic()
    await lease.acquire(poll_s=0.05)
    assert time.monotonic() - t0 < 1.0
    await lease.stop()


async def test_a_lease_without_ttl_that_never_changes_is_refused_not_waited_forever(
        redis_client: Any, unique: str) -> None:
    key = f"pdx:{unique}:lease:d"
    await redis_client.hset(key, mapping={"instance": "manual", "host": "elsewhere", "pid": "1"})
    lease = _lease(redis_client, unique, ttl_s=0.3)
    with pytest.raises(DurableInUse):
        await lease.acquire(poll_s=0.05)


async def test_renewal_takes_a_vanished_lease_again_and_reports_one_taken_by_another(
        redis_client: Any, unique: str) -> None:
    key = f"pdx:{unique}:lease:d"
    lease = _lease(redis_client, unique)
    await lease.acquire()
    await redis_client.delete(key)  # Redis restarted empty
    assert await lease.renew() and lease.retaken == 1 and lease.valid()
    await redis_client.hset(key, "instance", "someone-else")
    assert not await lease.renew()
    assert lease.lost.is_set() and not lease.valid()
    await lease.stop()  # never deletes a lease that is not ours
    assert (await redis_client.hget(key, "instance")) == b"someone-else"


async def test_valid_turns_false_when_renewals_are_overdue(redis_client: Any, unique: str) -> None:
    lease = _lease(redis_client, unique, ttl_s=0.3)
    await lease.acquire()
    assert lease.valid()
    await asyncio.sleep(0.35)  # no renewal task running: overdue by our own clock
    assert not lease.valid()
    assert await lease.renew() and lease.valid()
    await lease.stop()
