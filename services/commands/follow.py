"""What every replica folds from the ACCOUNT stream itself (its authority, not Redis): the kill
switch (every KillSwitch event of the account, then live) and, when a strategy has a
``max_loss``, the day's fills with the owners of their orders (CmdSubmitted).

Both are ordered push consumers: the stored events first, then new ones as they are published,
so a replica that starts (or restarts) refuses a killed strategy before it serves anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from collections.abc import Callable
from typing import Any

from nats.js.api import ConsumerConfig, DeliverPolicy

from services.commands.core.exposure import ExposureBook
from services.commands.core.kill import KillState
from services.commands.core.pnl import DAY_MS, DailyPnl
from services.commands.store import CommandStore
from shared.bus import CmdSubmitted, FillEvent, KillSwitch, decode_event, subjects
from shared.errors import DecodeError
from shared.paradex.models.account import Fill

log = logging.getLogger("commands.follow")


def nothing_to_deliver(info: Any) -> bool:
    """Whether a fresh ordered consumer (its ``consumer_info``) has nothing to hand on: nothing
    pending and nothing pushed either. The server may have pushed every event before the question
    (num_pending 0) while none has been handled yet."""
    return info.num_pending == 0 and not info.delivered.consumer_seq


class _Ordered:
    """An ordered consumer on some of the account's subjects; ``caught_up`` once the events that
    were stored when it started have been handed to ``on_event``."""

    def __init__(
        self,
        js: Any,
        account: str,
        kinds: tuple[str, ...],
        on_event: Callable[[int, Any], None],
        start: datetime.datetime | None = None,
    ) -> None:
        self.js, self.account, self.kinds, self.on_event, self.start_at = js, account, kinds, on_event, start
        self.caught_up = asyncio.Event()
        self._end = 0
        self._sub: Any = None
        self.events = 0

    async def start(self, timeout_s: float = 60.0) -> None:
        info = await self.js.stream_info(subjects.ACCOUNT_STREAM)
        self._end = int(info.state.last_seq)
        filters = [subjects.account_subject(self.account, k) for k in self.kinds]
        policy = DeliverPolicy.BY_START_TIME if self.start_at else DeliverPolicy.ALL
        config = ConsumerConfig(filter_subjects=filters, deliver_policy=policy, opt_start_time=self.start_at)
        self._sub = await self.js.subscribe(
            filters[0],
            stream=subjects.ACCOUNT_STREAM,
            ordered_consumer=True,
            cb=self._on_msg,
            config=config,
            pending_msgs_limit=-1,
            pending_bytes_limit=-1,
        )
        if nothing_to_deliver(await self._sub.consumer_info()):
            self.caught_up.set()
        await asyncio.wait_for(self.caught_up.wait(), timeout_s)

    async def _on_msg(self, msg: Any) -> None:
        meta = msg.metadata
        try:
            self.on_event(meta.sequence.stream, decode_event(msg.data))
        except DecodeError as exc:
            log.warning("undecodable event at seq %d skipped: %s", meta.sequence.stream, exc)
        except Exception:
            log.exception("event at seq %d not folded", meta.sequence.stream)
        self.events += 1
        if meta.sequence.stream >= self._end or meta.num_pending == 0:
            self.caught_up.set()

    async def stop(self) -> None:
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except Exception as exc:  # the connection may be gone at shutdown: nothing to undo
                log.debug("unsubscribe of %s at shutdown: %r", self.kinds, exc)
            self._sub = None


class KillFollower:
    """The kill switch as the stream says (see :mod:`services.commands.core.kill`)."""

    def __init__(self, js: Any, account: str, state: KillState) -> None:
        self.state = state
        self._consumer = _Ordered(js, account, ("kill_switch",), self._apply)

    def _apply(self, seq: int, event: Any) -> None:
        if isinstance(event, KillSwitch):
            self.state.apply(seq, event)

    async def start(self) -> None:
        await self._consumer.start()

    async def stop(self) -> None:
        await self._consumer.stop()


class PnlFollower:
    """Today's fills attributed to strategies (``core.pnl``): owners from the day's CmdSubmitted,
    else the exposure book, else this service's records (one lookup, then remembered)."""

    def __init__(
        self,
        js: Any,
        account: str,
        pnl: DailyPnl,
        book: ExposureBook,
        store: CommandStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pnl, self.book, self.store = pnl, book, store
        now_ms = int(clock() * 1000)
        start = datetime.datetime.fromtimestamp((now_ms - now_ms % DAY_MS) / 1000, tz=datetime.UTC)
        self._consumer = _Ordered(js, account, ("cmd_submitted", "fill"), self._apply, start)
        self._owners: dict[str, str] = {}
        self._queue: asyncio.Queue[Fill] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def _apply(self, seq: int, event: Any) -> None:
        if isinstance(event, CmdSubmitted):
            self._owners[event.client_id] = event.strategy
        elif isinstance(event, FillEvent):
            owner = self._owner(event.fill.client_id)
            if owner is None:
                self._queue.put_nowait(event.fill)  # ask Redis, off the read loop
            else:
                self.pnl.apply(owner, event.fill)

    def _owner(self, cid: str) -> str | None:
        if not cid:
            return ""
        return self._owners.get(cid) or self.book.owners.get(cid) or None

    async def _resolve(self) -> None:
        while True:
            fill = await self._queue.get()
            cid = fill.client_id
            try:
                found = await self.store.owners([cid])
            except Exception as exc:
                log.warning("owner of %s not found (its fill is not counted in max_loss): %r", cid, exc)
                found = {}
            self._owners[cid] = found.get(cid, "")
            self.pnl.apply(self._owners[cid], fill)

    async def start(self) -> None:
        self._task = asyncio.ensure_future(self._resolve())
        self._task.set_name("pnl-owners")
        await self._consumer.start()

    async def stop(self) -> None:
        await self._consumer.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
