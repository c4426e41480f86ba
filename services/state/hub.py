"""Fan-out of state changes to Server-Sent-Events clients, with replay for resuming clients.

Every published change becomes one SSE frame, encoded once, with an id naming the position of
both streams after it (:mod:`services.state.core.sse`). The hub keeps the last frames of each
stream in bounded buffers, so a client that reconnects with ``Last-Event-ID`` gets exactly what it
missed, in the order it was published, and nothing twice:

- ACCOUNT: replayed from the buffer when the client's position is inside it. At start the buffer
  is seeded from the tail of the Redis change stream (``pdx:<account>:changes``), so a client
  resumes across a restart of the service; what the restarted service replays from its
  checkpoint is recognised by sequence and not published twice. A position older than the buffer
  gets ``event: reset`` (re-read the state).
- MARKET: replayed from its buffer within one process; after a restart (another epoch) or beyond
  the buffer the client gets the current value of every market key (latest wins).

Each client has a bounded queue; one that falls that far behind is cut off (``event: overflow``)
and may resume from its last id like any other.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import logging
import secrets
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import msgspec

from services.state.core.sse import END, Cursor, TailEntry, dedupe_tail
from services.state.encode import Encoded, event_of

log = logging.getLogger("state.hub")


class Frame(msgspec.Struct, gc=False):
    """One SSE event: its global publish order ``g``, stream position, and the positions of both
    streams after it (its id). The bytes are built the first time they are needed (a client gets
    it, or a resuming client is replayed it), so publishing with nobody listening stays cheap.

    A frame keeps the parts of its change's event (kind, key, seq, value JSON, trace), not the
    :class:`Encoded` itself: that holds the core's record, and 10 000 buffered frames would keep
    10 000 superseded records alive. ``gc=False``: it holds ints, strings, bytes and tuples of
    ints, never a reference back; the replay buffers' frames cost the garbage collector nothing
    (as a slotted class, 10 000 of them made every full collection scan them)."""

    g: int
    stream: str
    kind: str
    pos: tuple[int, int]  # account: (seq, index); market: (n, 0)
    at: tuple[int, int, int]  # (account seq, account index, market n) after this event: its id
    key: str
    seq: int
    value: bytes
    trace: bytes
    epoch: bytes
    built: bytes | None = None

    @classmethod
    def of(cls, g: int, stream: str, pos: tuple[int, int], at: tuple[int, int, int], ch: Encoded,
           epoch: bytes) -> Frame:
        """The frame of change ``ch``."""
        return cls(g, stream, ch.kind, pos, at, ch.key, ch.seq, ch.value, ch.trace, epoch)

    def __lt__(self, other: Frame) -> bool:
        return self.g < other.g

    @property
    def data(self) -> bytes:
        """``id: ...\nevent: ...\ndata: ...\n\n``."""
        d = self.built
        if d is None:
            seq, idx, n = self.at
            event = event_of(self.stream, self.kind, self.key, self.seq, self.value, self.trace)
            d = self.built = b"id: a:%d.%s,m:%s.%d\nevent: %s\ndata: %s\n\n" % (
                seq, b"*" if idx == END else b"%d" % idx, self.epoch, n, self.kind.encode(), event)
            self.value = self.trace = b""  # the bytes hold it all now
        return d


class Subscriber:
    """One SSE client: a bounded queue, an optional kinds filter, and the account position it has."""

    def __init__(self, kinds: frozenset[str] | None, maxsize: int, after: tuple[int, int]) -> None:
        self.kinds = kinds
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize)
        self.overflowed = False
        self.after = after  # account frames at or before it are not sent (already seen)


class Start(NamedTuple):
    """What a new SSE connection sends first: a preamble (reset or nothing) and the replay."""

    subscriber: Subscriber
    preamble: bytes
    replay: list[bytes]
    cursor: Cursor


class ChangeHub:
    """Publishes encoded changes to every subscriber and keeps the recent ones for resuming."""

    def __init__(self, maxsize: int = 10_000, replay_max: int = 10_000, market_replay_max: int = 2_000,
                 epoch: str | None = None) -> None:
        self.maxsize = maxsize
        self.subscribers: set[Subscriber] = set()
        self.dropped_clients = 0
        self.resumes: collections.Counter[tuple[str, str]] = collections.Counter()
        self.epoch = epoch or secrets.token_hex(4)
        self._epoch = self.epoch.encode()
        self.account: collections.deque[Frame] = collections.deque(maxlen=max(1, replay_max))
        self.market: collections.deque[Frame] = collections.deque(maxlen=max(1, market_replay_max))
        self.seq, self.idx = 0, END  # last account position published
        self.n = 0  # last market number published
        #: Account positions after ``(floor, END)`` are all in the buffer (or still to come).
        self.floor = 0
        self._market_floor = 0
        self._g = 0
        #: The current market values as changes (set by the service), sent to a resuming client
        #: from another epoch.
        self.market_snapshot: Callable[[], Iterable[Encoded]] = lambda: ()

    # ----------------------------------------------------------------------------- positions

    @property
    def cursor(self) -> Cursor:
        """The position after the last published frame."""
        return Cursor(self.seq, self.idx, self.epoch, self.n)

    def start_at(self, seq: int) -> None:
        """Before any publish: changes from ``seq + 1`` on will all be published (a checkpoint or 0)."""
        if not self.account:
            self.seq, self.idx = seq, END
            self.floor = seq

    def seed(self, newest_first: Sequence[TailEntry], restored_seq: int, redis_seq: int | None) -> int:
        """Fill the account buffer from the Redis change stream's tail (``XREVRANGE`` order).

        ``restored_seq``: where the service's own replay starts; ``redis_seq``: what
        ``pdx:<account>:seq`` says Redis reflects (every change up to it is in the stream: events
        after the last entry made no change). The tail helps only when Redis reaches the replay's
        start (else the changes between are in neither place); nor does anything before a full
        rewrite of the account (a ``resync`` entry). Returns the frames kept.
        """
        if redis_seq is None or redis_seq < restored_seq:
            self.start_at(restored_seq)
            return 0
        # A "resync" entry marks a full rewrite after Redis lost data: what precedes it is
        # incomplete. Keep it as the oldest group (dropped, its seq the floor).
        cut = next((i for i, e in enumerate(newest_first) if e.kind == "resync"), None)
        if cut is not None:
            newest_first = newest_first[:cut + 1]
        entries, oldest = dedupe_tail(newest_first)
        if not entries:
            self.start_at(restored_seq)
            return 0
        for e, i in entries:
            ch = Encoded("account", e.kind, e.key, e.seq, e.value, e.value == b"null", None)
            self._append_account(ch, e.seq, i)
        if redis_seq > self.seq:  # events after the last change changed nothing: all seen
            self.seq, self.idx = redis_seq, END
        self.floor = oldest
        return len(entries)

    # ------------------------------------------------------------------------------ clients

    def subscribe(self, kinds: frozenset[str] | None = None, resume: Cursor | None = None,
                  after_seq: int | None = None) -> Start:
        """A new client, with what it missed: from its ``resume`` cursor (``Last-Event-ID``), or the
        account changes after ``after_seq`` (the ``seq`` of a state read), or from now on."""
        preamble = b""
        replay: list[Frame] = []
        after = (self.seq, self.idx)
        if resume is not None or after_seq is not None:
            want = resume.account if resume is not None else (after_seq or 0, END)
            lost = self.floor > 0 and want < (self.floor, END)
            if lost and want < (self.seq, self.idx):
                self.resumes["account", "reset"] += 1
                preamble = (b'event: reset\ndata: {"stream":"account","seq":%d,"reason":"events after '
                            b'%d are no longer buffered: re-read the state"}\n\n' % (self.seq, want[0]))
            else:
                self.resumes["account", "replayed"] += 1
                at = bisect.bisect_right(self.account, want, key=lambda f: f.pos)
                replay += list(self.account)[at:]
                after = max(want, after)
        if resume is not None:
            replay += self._market_replay(resume, kinds)
        replay.sort(key=lambda f: f.g)
        sub = Subscriber(kinds, self.maxsize, after)
        self.subscribers.add(sub)
        data = [f.data for f in replay if kinds is None or f.kind in kinds]
        return Start(sub, preamble, data, self.cursor)

    def _market_replay(self, resume: Cursor, kinds: frozenset[str] | None) -> list[Frame]:
        if resume.epoch == self.epoch and resume.n >= self._market_floor:
            self.resumes["market", "replayed"] += 1
            at = bisect.bisect_right(self.market, (resume.n, 0), key=lambda f: f.pos)
            return list(self.market)[at:]
        self.resumes["market", "snapshot"] += 1
        now = (self.seq, self.idx, self.n)  # ids naming the newest position: sent after every replay
        return [Frame.of(self._g + 1, "market", (self.n, 0), now, ch, self._epoch)
                for ch in self.market_snapshot() if kinds is None or ch.kind in kinds]

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    # ----------------------------------------------------------------------------- publish

    def publish(self, changes: Iterable[Encoded]) -> None:
        """Encode, buffer and queue ``changes`` (whole events' groups, in stream order).

        An account group at or below the last published sequence was published before (the
        service replaying from its checkpoint, or a seeded buffer): dropped.
        """
        frames: list[Frame] = []
        group_seq, i, skip = -1, -1, False
        for ch in changes:
            if ch.stream == "account":
                if ch.seq != group_seq:
                    group_seq, i = ch.seq, -1
                    skip = ch.seq <= self.seq
                if skip:
                    continue
                i += 1
                frames.append(self._append_account(ch, ch.seq, i))
            else:
                self.n += 1
                self._g += 1
                f = Frame.of(self._g, "market", (self.n, 0), (self.seq, self.idx, self.n), ch,
                             self._epoch)
                if len(self.market) == self.market.maxlen:
                    self._market_floor = self.market[0].pos[0]
                self.market.append(f)
                frames.append(f)
        if frames and self.subscribers:
            self._deliver(frames)

    def _append_account(self, ch: Encoded, seq: int, i: int) -> Frame:
        self.seq, self.idx = seq, i
        self._g += 1
        f = Frame.of(self._g, "account", (seq, i), (seq, i, self.n), ch, self._epoch)
        if len(self.account) == self.account.maxlen:
            self.floor = max(self.floor, self.account[0].pos[0])
        self.account.append(f)
        return f

    def _deliver(self, frames: list[Frame]) -> None:
        for sub in list(self.subscribers):
            kinds = sub.kinds
            for f in frames:
                if kinds is not None and f.kind not in kinds:
                    continue
                if f.stream == "account" and f.pos <= sub.after:
                    continue
                try:
                    sub.queue.put_nowait(f.data)
                except asyncio.QueueFull:
                    self._cut(sub)
                    break

    def close(self) -> None:
        """End every stream (shutdown)."""
        for sub in list(self.subscribers):
            self._cut(sub, overflow=False)

    def _cut(self, sub: Subscriber, overflow: bool = True) -> None:
        self.subscribers.discard(sub)
        sub.overflowed = overflow
        if overflow:
            self.dropped_clients += 1
        while True:
            try:
                sub.queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                sub.queue.get_nowait()


async def read_tail(redis: Any, key: str, count: int) -> list[TailEntry]:
    """The newest ``count`` entries of a Redis change stream, newest first (``XREVRANGE``)."""
    out: list[TailEntry] = []
    for _id, fields in await redis.xrevrange(key, count=count):
        f = {(k.decode() if isinstance(k, bytes) else k): v for k, v in fields.items()}
        if f.get("kind") in (b"resync", "resync"):  # a full-rewrite marker, not a change of the fold
            continue
        try:
            value = f.get("value", b"null")
            out.append(TailEntry(int(f["seq"]), _text(f["kind"]), _text(f["key"]),
                                 value if isinstance(value, bytes) else str(value).encode()))
        except (KeyError, ValueError) as exc:
            log.warning("change stream entry %r unreadable, skipped: %r", _id, exc)
    return out


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)
