"""One process per durable consumer: a lease in Redis that a second process finds and refuses.

Why a lease, and why not the consumer's own information: a JetStream pull consumer has no notion
of an owner. ``consumer_info().num_waiting`` counts the pull requests waiting on the server, and
a running replica nearly always has one outstanding, but the count is also 0 between two
requests (a false "free": two processes would split the stream, as issue 14 saw) and stays above
0 for up to ``fetch_expires_s`` after its process died (a false "in use" on every quick restart).
So the owner is written down instead:

- ``pdx:<account>:lease:<durable>`` is a hash {instance, host, pid, replica, started_ms,
  renewals} with a TTL of ``ttl_s``; the holder renews it (``renewals`` + 1, TTL reset) every
  ``ttl_s / 4`` and deletes it on a clean stop.
- A starting process takes the lease if it is free. If it is held, the holder is alive when the
  lease is renewed while we watch (``renewals`` changes): we refuse to start with
  :class:`DurableInUse`, naming the holder. A holder killed without clean-up stops renewing: its
  lease expires within ``ttl_s`` and we take it then (at once when the holder ran on this host
  under another pid that no longer exists).
- A holder whose renewal finds the lease gone (Redis restarted empty) takes it again; one that
  finds it held by another instance has lost it (it was stalled past the TTL and a successor
  started): it stops consuming at once (:attr:`Lease.lost`), and it pulls nothing while its own
  renewal is overdue (:meth:`Lease.valid`), so two processes never pull from one durable.

Redis writes stay correct even without the lease (they are sequence-guarded, see
``redis_writer``); the lease protects the fold itself: two pullers on one durable each see only
part of the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from typing import Any

from shared.errors import HubError

log = logging.getLogger("state.lease")

# KEYS[1] lease; ARGV: instance, ttl_ms, then field/value pairs of a new lease.
ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
# 1 renewed, 2 taken again (it had vanished), 0 held by another instance.
RENEW = """
local holder = redis.call('HGET', KEYS[1], 'instance')
if holder == ARGV[1] then
  redis.call('HINCRBY', KEYS[1], 'renewals', 1)
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if holder then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 2
"""
RELEASE = """
if redis.call('HGET', KEYS[1], 'instance') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class DurableInUse(HubError):
    """Another live process holds the lease on this replica's durable consumer."""

    def __init__(self, durable: str, key: str, holder: dict[str, str]) -> None:
        self.durable = durable
        self.key = key
        self.holder = holder
        who = (f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')} "
               f"(replica {holder.get('replica', '?')}, instance {holder.get('instance', '?')})")
        super().__init__(
            f"durable consumer {durable!r} is in use by {who}, lease {key} renewed while we watched. "
            "Two processes on one durable would split the stream: give each state replica its own "
            "STATE_REPLICA_ID (or stop the other process)")


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists (EPERM: another user's)
        return False
    return False


class Lease:
    """This process's lease on ``durable`` (see the module docstring)."""

    def __init__(self, redis: Any, key: str, durable: str, replica: str, *, ttl_s: float = 5.0) -> None:
        self.redis = redis
        self.key = key
        self.durable = durable
        self.ttl_s = ttl_s
        self.instance = uuid.uuid4().hex[:16]
        self.fields = {"instance": self.instance, "host": socket.gethostname(), "pid": str(os.getpid()),
                       "replica": replica, "started_ms": str(int(time.time() * 1000)), "renewals": "0"}
        self.lost = asyncio.Event()
        self.renewals = 0
        self.retaken = 0
        self._valid_until = 0.0
        self._acquire = redis.register_script(ACQUIRE)
        self._renew = redis.register_script(RENEW)
        self._release = redis.register_script(RELEASE)
        self._task: asyncio.Task[None] | None = None

    def _args(self) -> list[str]:
        flat = [x for kv in self.fields.items() for x in kv]
        return [self.instance, str(int(self.ttl_s * 1000)), *flat]

    def valid(self) -> bool:
        """True while the lease is ours by our own clock (renewed less than ``ttl_s`` ago)."""
        return not self.lost.is_set() and time.monotonic() < self._valid_until

    async def acquire(self, poll_s: float = 0.1) -> None:
        """Take the lease, waiting out a dead holder's; :class:`DurableInUse` if the holder is alive."""
        seen: dict[str, str] | None = None
        deadline = time.monotonic() + self.ttl_s + 1.0
        while True:
            t = time.monotonic()
            if await self._acquire(keys=[self.key], args=self._args()):
                self._valid_until = t + self.ttl_s
                if seen is not None:
                    log.warning("lease %s taken over from a holder that stopped renewing: %s", self.key, seen)
                return
            raw = await self.redis.hgetall(self.key)
            holder = {_text(k): _text(v) for k, v in raw.items()}
            if not holder:
                continue  # expired between the two calls
            if seen is not None and (holder.get("instance") != seen.get("instance")
                                     or holder.get("renewals") != seen.get("renewals")):
                raise DurableInUse(self.durable, self.key, holder)
            if seen is None:
                log.info("lease %s is held by %s: waiting up to %.1f s for it to expire or be renewed",
                         self.key, holder, self.ttl_s)
            seen = holder
            if (holder.get("host") == self.fields["host"] and holder.get("pid", "").isdigit()
                    and int(holder["pid"]) != os.getpid() and _pid_gone(int(holder["pid"]))):
                log.warning("lease %s: its holder pid %s on this host is gone; taking it", self.key,
                            holder["pid"])
                await self.redis.delete(self.key)  # a dead process cannot renew it meanwhile
                continue
            if time.monotonic() > deadline:  # neither renewed nor expired: no TTL, set by hand
                raise DurableInUse(self.durable, self.key, holder)
            await asyncio.sleep(poll_s)

    async def renew(self) -> bool:
        """Renew once; False (and :attr:`lost` set) when another instance holds the lease now."""
        t = time.monotonic()
        got = int(await self._renew(keys=[self.key], args=self._args()))
        if got == 0:
            raw = await self.redis.hgetall(self.key)
            log.error("lease %s lost: now held by %s; this process stops consuming",
                      self.key, {_text(k): _text(v) for k, v in raw.items()})
            self.lost.set()
            return False
        if got == 2:
            self.retaken += 1
            log.warning("lease %s had vanished (Redis restarted empty?): taken again", self.key)
        self.renewals += 1
        self._valid_until = t + self.ttl_s
        return True

    def start(self) -> None:
        """Renew every ``ttl_s / 4`` until :meth:`stop` or the lease is lost."""
        self._task = asyncio.create_task(self._run(), name="state-lease")

    async def _run(self) -> None:
        every = self.ttl_s / 4
        while not self.lost.is_set():
            await asyncio.sleep(every)
            try:
                if not await self.renew():
                    return
            except Exception as exc:  # Redis down: nobody else can take it either; keep trying
                log.warning("lease %s renewal failed: %r", self.key, exc)

    async def stop(self) -> None:
        """Stop renewing and give the lease back (a successor can start at once)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if not self.lost.is_set():
            try:
                await self._release(keys=[self.key], args=[self.instance])
            except Exception as exc:
                log.warning("lease %s not released (it expires in %.1f s): %r", self.key, self.ttl_s, exc)
