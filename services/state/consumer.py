"""The ACCOUNT stream consumer: a JetStream durable pull consumer driven without polling.

``js.fetch(batch)`` holds a lingering pull request open until the whole batch arrives or the
timeout passes, which adds up to the timeout to every event's latency at low rates. Instead we
keep ONE pull request of ``batch`` messages outstanding on our own inbox: messages are handed to
the processor as they arrive (it takes everything buffered as one batch), and a new request is
sent as soon as the previous one is used up or ends (408 expired / 409). The consumer uses
``AckPolicy.ALL``: acking the last message of a batch acks the batch. With ``trace`` (benchmarks,
``shared.trace``) the arrival time is appended to a message's ``Pdx-Trace`` header.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from shared.trace import TRACE_HEADER

log = logging.getLogger("state.consumer")

Handler = Callable[[list[Any]], Awaitable[None]]


def stream_seq(msg: Any) -> int:
    """The stream sequence of a JetStream message, read straight from its ack subject.

    ``msg.metadata`` parses every token of the reply into four objects (5 % of the service's CPU
    at 5000 events/s); only the stream sequence is needed. The ack subject is
    ``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ts>.<pending>`` or, with
    a domain and account hash, ``$JS.ACK.<domain>.<hash>.<stream>.<consumer>.<delivered>.<stream
    seq>...`` (11 tokens or more); anything else goes through ``msg.metadata``.
    """
    reply = msg.reply
    if reply and reply.startswith("$JS.ACK."):
        tokens = reply.split(".")
        n = len(tokens)
        if n == 9:
            return int(tokens[5])
        if n >= 11:  # as nats-py reads it (a v2 subject without its trailing token included)
            return int(tokens[7])
    return int(msg.metadata.sequence.stream)


async def bind_durable(js: Any, stream: str, durable: str, filter_subject: str, after_seq: int,
                       *, max_ack_pending: int = 20_000, ack_wait_s: float = 30.0) -> str:
    """Make ``durable`` deliver from stream sequence ``after_seq + 1`` (all when 0).

    An existing durable is reused when it acked exactly up to ``after_seq`` (nothing in flight);
    otherwise it is deleted and recreated with ``DeliverPolicy.BY_START_SEQUENCE``. Returns
    ``rebound`` or ``created``.
    """
    try:
        info = await js.consumer_info(stream, durable)
    except NotFoundError:
        info = None
    if info is not None:
        cfg = info.config
        if (cfg.filter_subject == filter_subject and cfg.ack_policy == AckPolicy.ALL
                and info.ack_floor.stream_seq == after_seq and info.delivered.stream_seq == after_seq
                and not info.num_ack_pending):
            return "rebound"
        await js.delete_consumer(stream, durable)
    config = ConsumerConfig(
        durable_name=durable, filter_subject=filter_subject, ack_policy=AckPolicy.ALL,
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE if after_seq else DeliverPolicy.ALL,
        opt_start_seq=after_seq + 1 if after_seq else None, max_ack_pending=max_ack_pending,
        ack_wait=ack_wait_s, max_waiting=64)
    await js.add_consumer(stream, config)
    return "created"


class PullConsumer:
    """Keeps one pull request of ``batch`` outstanding and hands buffered messages to ``handler``.

    ``handler(msgs)`` must ack (AckPolicy.ALL: the last message is enough). It is called with
    at most ``slice_max`` messages at a time (and at most ``batch``), never concurrently, and the
    event loop runs other tasks between two calls.
    """

    def __init__(self, nc: Any, stream: str, durable: str, handler: Handler, *, batch: int = 1000,
                 expires_s: float = 2.0, may_pull: Callable[[], bool] | None = None,
                 trace: bool = False, slice_max: int = 100) -> None:
        self.nc = nc
        self.api = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self.handler = handler
        self.batch = batch
        #: at most this many buffered messages per handler call, the loop yielded between calls
        self.slice = max(1, slice_max)
        self.expires_s = expires_s
        #: False while this process may not pull (its lease on the durable is overdue or lost)
        self.may_pull = may_pull or (lambda: True)
        self.held = 0
        self._buf: deque[Any] = deque()
        self._ready = asyncio.Event()
        self._outstanding = 0
        self._request_done = True
        self._requested_at = 0.0
        self._sub: Any = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.delivered = 0
        self.requests = 0
        self.last_msg_wall = 0.0
        self.errors = 0
        self.trace = trace

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def buffered(self) -> int:
        return len(self._buf)

    async def start(self) -> None:
        inbox = self.nc.new_inbox()
        cb = self._on_msg_traced if self.trace else self._on_msg
        self._sub = await self.nc.subscribe(inbox, cb=cb, pending_msgs_limit=4 * self.batch + 100)
        self._inbox = inbox
        self._task = asyncio.create_task(self._run(), name="state-account-consumer")

    async def stop(self) -> None:
        """Stop requesting, finish the batch being handled, unsubscribe."""
        self._stopping = True
        self._ready.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, 10.0)
            self._task = None
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    async def _on_msg(self, msg: Any) -> None:
        hdr = msg.headers
        status = hdr.get("Status") if hdr else None
        if status:
            if status != "100":  # 404/408 request over, 409 consumer changed/limits
                if status not in ("404", "408"):
                    log.warning("pull request ended: %s %s", status, hdr.get("Description", ""))
                self._request_done = True
                self._ready.set()
            return
        self._buf.append(msg)
        self.delivered += 1
        self._outstanding -= 1
        if self._outstanding <= 0:
            self._request_done = True
        self._ready.set()

    async def _on_msg_traced(self, msg: Any) -> None:
        hdr = msg.headers
        if hdr and TRACE_HEADER in hdr:
            hdr[TRACE_HEADER] = f"{hdr[TRACE_HEADER]},{time.time_ns()}"
        await self._on_msg(msg)

    async def _request(self) -> None:
        self._request_done = False
        self._outstanding = self.batch
        self._requested_at = time.monotonic()
        self.requests += 1
        req = {"batch": self.batch, "expires": int(self.expires_s * 1e9)}
        await self.nc.publish(self.api, msgspec.json.encode(req), reply=self._inbox)

    async def _run(self) -> None:
        stale_after = self.expires_s + 1.0
        while not self._stopping:
            if self._request_done or time.monotonic() - self._requested_at > stale_after:
                if not self.may_pull():
                    self.held += 1
                    await asyncio.sleep(0.1)
                    continue
                try:
                    await self._request()
                except Exception as exc:  # NATS reconnecting: try again shortly
                    log.warning("pull request failed: %r", exc)
                    await asyncio.sleep(0.2)
                    continue
            if not self._buf:
                self._ready.clear()
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for runs the wait in a task
                # of its own (two more loop turns between a message's arrival and its handling)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(stale_after):
                        await self._ready.wait()
                continue
            n = min(len(self._buf), self.batch, self.slice)
            msgs = [self._buf.popleft() for _ in range(n)]
            self.last_msg_wall = time.time()
            try:
                await self.handler(msgs)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.errors += 1
                log.exception("batch handler failed; messages will be redelivered after ack_wait")
                await asyncio.sleep(0.5)
            if self._buf:
                # Let the Redis writer, SSE responses and HTTP reads run between slices: a backlog
                # of 1 000 messages applied in one go held the loop ~40 ms (bench.state_service).
                await asyncio.sleep(0)
