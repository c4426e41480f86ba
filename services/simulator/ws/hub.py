"""Fan-out of engine events to WebSocket subscribers, with injected WS faults.

Each event is encoded once per channel (JSON) and once per SBE schema version (public channels),
then the same bytes are queued on every subscriber. Private subscriptions are keyed by account.
Faults (see :mod:`..faults`): freeze (no pushes), per-connection latency, drop / duplicate /
reorder / delay of private pushes, and skipped book deltas (a sequence gap).

Isolation: a frame that cannot be encoded as SBE (:class:`SbeEncodeError`) is dropped for the
SBE subscribers of that channel only; JSON subscribers of the same channel, other channels and
the rest of the batch are unaffected. The failure is logged, counted (``sbe_encode_errors``,
per connection ``sbe_dropped``) and each affected client is told once per channel, until a frame
of that channel encodes again, with a JSON-RPC error notification (``id`` null, code -32603,
``data`` {channel, reason}). Any other failure while pushing one event is logged and counted
(``push_errors``) and the batch goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import msgspec

from shared.paradex import sbe
from shared.paradex.models.common import encode
from shared.paradex.models.market_data import BookUpdate
from shared.paradex.sbe import SbeEncodeError

from ..engine import convert
from ..engine import events as ev
from ..faults import DroppedPush, Faults
from ..venue import Venue
from ..wire import encode_event, encode_wire
from .channels import BOOK_DEPTH, SNAPSHOT_RATES_MS, private_channels, public_channels
from .conn import Conn

log = logging.getLogger(__name__)

PUSH_PREFIX = b'{"jsonrpc":"2.0","method":"subscription","params":{"channel":"'
Sbe = Callable[[int], bytes]
ENCODE_FAILED = -32603


def push_frame(channel: str, data: bytes) -> bytes:
    """A subscription push with the venue's exact key order (consumers may rely on the prefix)."""
    return b"".join((PUSH_PREFIX, channel.encode(), b'","data":', data, b"}}"))


class Hub:
    """Subscriptions and fan-out. ``subscribers`` keys: channel, or ``account|channel`` if private."""

    def __init__(self, venue: Venue, faults: Faults) -> None:
        self.venue = venue
        self.faults = faults
        self.conns: dict[int, Conn] = {}
        self.subscribers: dict[str, set[Conn]] = {}
        self._snapshot_dirty: dict[int, set[str]] = {ms: set() for ms in SNAPSHOT_RATES_MS.values()}
        self._held: list[tuple[Conn, bytes]] = []
        self.pushes = 0
        self.sbe_pushes = 0
        self._delta_channels: dict[str, str] = {}
        self.sbe_encode_errors = 0
        self.push_errors = 0
        venue.add_listener(self.on_events)

    # ------------------------------------------------------------ registry

    def add(self, conn: Conn) -> None:
        self.conns[conn.id] = conn

    def remove(self, conn: Conn) -> None:
        self.conns.pop(conn.id, None)
        for key in conn.subscriptions:
            subs = self.subscribers.get(key)
            if subs is not None:
                subs.discard(conn)
                if not subs:
                    del self.subscribers[key]
        conn.subscriptions.clear()

    @staticmethod
    def key(conn: Conn, channel: str, private: bool) -> str:
        return f"{conn.account}|{channel}" if private else channel

    def subscribe(self, conn: Conn, key: str) -> None:
        conn.subscriptions.add(key)
        self.subscribers.setdefault(key, set()).add(conn)

    def unsubscribe(self, conn: Conn, key: str) -> None:
        conn.subscriptions.discard(key)
        subs = self.subscribers.get(key)
        if subs is not None:
            subs.discard(conn)
            if not subs:
                del self.subscribers[key]

    # ------------------------------------------------------------ delivery

    def deliver(self, conn: Conn, frame: bytes, binary: bool = False) -> None:
        conn.send(frame, binary, self.faults.ws_delay_s() if self.faults.ws_latency else 0.0)

    def fan_out(self, subs: set[Conn], channel: str, data: bytes, sbe_frame: Sbe | None) -> None:
        json_frame = b""
        sbe_frames: dict[int, bytes] = {}
        failures: dict[int, str] = {}
        for conn in list(subs):
            version = conn.sbe_version
            if version is not None and sbe_frame is not None:
                frame = sbe_frames.get(version)
                if frame is None:
                    try:
                        frame = sbe_frame(version)
                    except SbeEncodeError as exc:
                        frame = b""
                        failures[version] = exc.reason
                        self.sbe_encode_errors += 1
                        log.error("SBE encode failed: frame dropped for SBE subscribers",
                                  extra={"channel": channel, "sbe_version": version, "reason": exc.reason})
                    sbe_frames[version] = frame
                if not frame:
                    self._encode_failed(conn, channel, failures[version])
                    continue
                conn.encode_failed.discard(channel)
                self.deliver(conn, frame, True)
                self.sbe_pushes += 1
            else:
                if not json_frame:
                    json_frame = push_frame(channel, data)
                self.deliver(conn, json_frame)
            self.pushes += 1

    def _encode_failed(self, conn: Conn, channel: str, reason: str) -> None:
        """Count the dropped frame; tell the client once until this channel encodes again."""
        conn.sbe_dropped += 1
        if channel in conn.encode_failed:
            return
        conn.encode_failed.add(channel)
        self.deliver(conn, encode({
            "jsonrpc": "2.0", "id": None,
            "error": {"code": ENCODE_FAILED, "message": "frame could not be encoded as SBE and was dropped",
                      "data": {"channel": channel, "reason": reason}},
        }))

    def on_events(self, events: list[ev.VenueEvent]) -> None:
        """Venue listener: push every event on its channels (in venue order); a failure while
        pushing one event is logged and counted, and the others still go out."""
        for event in events:
            try:
                self._push(event)
            except Exception:
                self.push_errors += 1
                log.exception("pushing an event failed", extra={"event": type(event).__name__})

    def _push(self, event: ev.VenueEvent) -> None:
        subscribers, faults = self.subscribers, self.faults
        if type(event) is ev.BookDelta:  # the hot path: one delta per book change
            for dirty in self._snapshot_dirty.values():
                dirty.add(event.market)
            if faults.book_gaps and faults.skip_book_delta(event.market):
                return
            if event.update_type != "d":
                return
            channel = self._delta_channels.get(event.market)
            if channel is None:
                channel = self._delta_channels[event.market] = f"order_book.{event.market}.deltas"
            subs = subscribers.get(channel)
            if subs and not faults.ws_frozen:
                book = convert.book_update(event)
                self.fan_out(subs, channel, encode_wire(book), _sbe_encoder(book, event))
            return
        if type(event) in _PUBLIC_TYPES:  # no private channel: skip that lookup
            private: tuple[str, ...] = ()
        else:
            account, private = private_channels(event)
        if private:
            targets = [(c, subscribers.get(f"{account}|{c}")) for c in private]
            if any(subs for _, subs in targets) and not faults.ws_frozen:
                data = encode_event(event)
                for channel, subs in targets:
                    if subs:
                        self._private(subs, channel, push_frame(channel, data))
            return
        channels = [(c, subscribers.get(c)) for c in public_channels(event)]
        if not any(subs for _, subs in channels) or faults.ws_frozen:
            return
        wire = convert.to_wire(event)
        data = encode_wire(wire)
        sbe_frame = _sbe_encoder(wire, event)
        for channel, subs in channels:
            if subs and isinstance(event, ev.MarketSummaryUpdate):
                subs = _in_scope(subs, channel, event.symbol)
            if subs:
                self.fan_out(subs, channel, data, sbe_frame)

    def _private(self, subs: set[Conn], channel: str, frame: bytes) -> None:
        """Deliver one private frame through the private-push faults (if they apply to ``channel``).

        A reordered (held) frame is released after the next private frame delivered, whatever
        its channel.
        """
        pf, rng = self.faults.private, self.faults.rng
        items = [(conn, frame) for conn in subs]
        if not pf.applies(channel):
            self._deliver_all(items)
            self._release_held()
            return
        if pf.drop.hit(rng):
            self.faults.dropped.append(DroppedPush(at_ms=int(time.time() * 1000), channel=channel,
                                                   frame=msgspec.Raw(frame)))
            return
        if pf.delay.hit(rng):
            loop = asyncio.get_running_loop()
            loop.call_later(pf.delay_ms / 1000, self._deliver_all, items)
            return
        if pf.reorder.hit(rng):
            self._held.extend(items)  # released after the next private frame
            return
        self._deliver_all(items)
        if pf.duplicate.hit(rng):
            self._deliver_all(items)
        self._release_held()

    def _release_held(self) -> None:
        if self._held:
            held, self._held = self._held, []
            self._deliver_all(held)

    def _deliver_all(self, items: list[tuple[Conn, bytes]]) -> None:
        for conn, frame in items:
            self.deliver(conn, frame)
            self.pushes += 1

    # ------------------------------------------------------------ book snapshots

    def book_snapshot_frame(self, market: str, depth: int | None) -> tuple[bytes, Sbe]:
        """JSON data and SBE encoder of an ``"s"`` frame of ``market`` at the current seq."""
        wire = convert.book_update(self.venue.exchange.orderbook(market, depth))
        return encode(wire), _book_sbe(wire)

    def tick_snapshots(self, refresh_ms: int) -> None:
        """Push a top-15 snapshot on every ``@{refresh_ms}ms`` channel whose book changed."""
        dirty = self._snapshot_dirty[refresh_ms]
        if self.faults.ws_frozen or not dirty:
            return
        for market in dirty:
            channel = f"order_book.{market}.snapshot@{BOOK_DEPTH}@{refresh_ms}ms"
            subs = self.subscribers.get(channel)
            if subs:
                data, sbe_frame = self.book_snapshot_frame(market, BOOK_DEPTH)
                self.fan_out(subs, channel, data, sbe_frame)
        dirty.clear()


def _in_scope(subs: set[Conn], channel: str, symbol: str) -> set[Conn]:
    """Subscribers of a summary push, less scoped subscriptions whose markets leave it out."""
    if not any(c.summary_filters for c in subs):
        return subs
    return {c for c in subs if (scope := c.summary_filters.get(channel)) is None or symbol in scope}


_SBE_EVENTS = (ev.BookDelta, ev.BboUpdate, ev.TradeEvent, ev.MarketSummaryUpdate, ev.FundingUpdate)
#: Event classes pushed on public channels only (private_channels gives them none).
_PUBLIC_TYPES = frozenset(_SBE_EVENTS)


def _book_sbe(book: BookUpdate) -> Sbe:
    """SBE encoder of a book frame of the (non-interactive) snapshot and deltas feeds: the schema
    leaves the interactive top of book null there and carries the API one (the JSON payload has
    both)."""
    def encode_book(version: int) -> bytes:
        plain = msgspec.structs.replace(book, best_bid_interactive=None, best_ask_interactive=None)
        return sbe.encode(plain, version=version)
    return encode_book


def _sbe_encoder(wire: object, event: ev.VenueEvent) -> Sbe | None:
    """SBE encoder of a public event; a trade's ``seq`` is the book sequence after it (schema)."""
    if isinstance(wire, BookUpdate):
        return _book_sbe(wire)
    if isinstance(event, ev.TradeEvent):
        seq = event.seq_no
        return lambda version: sbe.encode(wire, seq=seq, version=version)
    if isinstance(event, _SBE_EVENTS):
        return lambda version: sbe.encode(wire, version=version)
    return None
