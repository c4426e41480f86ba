"""The feed's sans-I/O protocol: frames in, bus events and frames to send out.

The shell feeds every received frame to :meth:`FeedProtocol.receive` with its receipt time and
gets back the bus events to publish; requests to send (subscriptions after auth, book
resubscriptions after a gap) accumulate in :attr:`FeedProtocol.outbox`, and connection-level
outcomes in :attr:`FeedProtocol.signals` (``"authenticated"``, ``"auth_failed"``, ``"reconnect"``
when a book subscription is refused, since that book would never get a snapshot). Malformed
input never raises: it is counted in :attr:`counters` and logged.

Sample push: ``{"jsonrpc":"2.0","method":"subscription","params":{"channel":"bbo.BTC-USD-PERP",
"data":{"market":"BTC-USD-PERP","seq_no":7,"bid":"1","bid_size":"2","ask":"3","ask_size":"4",
"last_updated_at":1718267837265}}}``
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from services.feed.core.book import APPLIED, BookChecker, Check, PriceKey
from services.feed.core.convert import to_event
from services.feed.core.plan import AUTH_ERROR_CODES, Requests, all_channels, book_channel
from services.feed.core.wire import Prepared, book_event_bytes, book_subject
from shared.bus import BookGap, Event, decode_event
from shared.errors import DecodeError
from shared.paradex import sbe
from shared.paradex.models import BookUpdate, JsonRpcErrorResponse, Push, decode_frame
from shared.paradex.models.fastbook import LightBook, decode_book_push, key8
from shared.paradex.sbe.fastbook import FastBook, fast_book

log = logging.getLogger("feed.protocol")

_SBE_CHANNEL = {
    "Bbo": "bbo.{}", "Trade": "trades.{}", "FundingData": "funding_data.{}",
    "MarketSummary": "markets_summary",
}


def _sbe_channel(data: object, book_feed: str) -> str:
    """The JSON channel an SBE payload would have come on ("" for heartbeats and skipped frames)."""
    if type(data) is BookUpdate:
        return book_channel(data.market, book_feed)
    pattern = _SBE_CHANNEL.get(type(data).__name__, "")
    return pattern.format(getattr(data, "market", ""))


def _sets_then_deletes(flat: Sequence[int]) -> list[int]:
    """Flat SBE delta levels reordered: non-zero sizes first, then the deletes (frame order kept)."""
    sets: list[int] = []
    deletes: list[int] = []
    for i in range(0, len(flat), 2):
        size = flat[i + 1]
        (sets if size else deletes).extend((flat[i], size))
    return sets + deletes


class FeedProtocol:
    """Protocol state of one feed across connections (book sequences survive, requests don't)."""

    def __init__(self, markets: Iterable[str], *, book_feed: str = "deltas", summary: bool = True) -> None:
        self.markets = tuple(markets)
        self.book_feed = book_feed
        self.channels = all_channels(self.markets, book_feed, summary)
        self.requests = Requests()
        self.books = BookChecker()
        self.outbox: list[bytes] = []
        self.signals: list[tuple[str, str]] = []
        self.epoch = 0
        self.jwt = ""
        self.frames: Counter[str] = Counter()  # by channel
        self.counters: Counter[str] = Counter()  # decode_errors, rpc_errors, gaps, ...
        self._sbe = sbe.SbeDecoder()
        self._sbe_channels: dict[tuple[type, str], str] = {}

    # --- connection lifecycle ---------------------------------------------------------------

    def connect(self, epoch: int, jwt: str) -> bytes:
        """Start connection ``epoch``: forget old requests and books; the ``auth`` request."""
        self.epoch = epoch
        self.jwt = jwt
        self.requests.clear()
        self.outbox.clear()
        self.signals.clear()
        self.books.reset_all()
        return self.requests.auth(jwt)

    # --- frames -------------------------------------------------------------------------------

    def receive(self, frame: str | bytes, recv_ns: int) -> list[Event]:
        """Events for one received frame (text = JSON, bytes = SBE or JSON): :meth:`receive_wire`
        with prepared book messages decoded back into the ``BookEvent`` consumers get."""
        return [decode_event(m.payload) if type(m) is Prepared else m  # type: ignore[misc]
                for m in self.receive_wire(frame, recv_ns)]

    def receive_wire(self, frame: str | bytes, recv_ns: int) -> list[Event | Prepared]:
        """What to publish for one received frame. Book frames in the usual layouts take the fast
        paths (no models, no Decimals) and come out as :class:`Prepared` bytes; everything else
        as events."""
        if isinstance(frame, bytes):
            if not frame.startswith(b"{"):
                fast = fast_book(frame)
                if fast is not None:
                    out = self._fast_sbe(fast, recv_ns)
                    if out is not None:
                        return out
                return self._binary(frame, recv_ns)
            raw = frame
        else:
            raw = frame.encode()
        light = decode_book_push(raw)
        if light is not None:
            out = self._fast_json(light[0], light[1], light[2], recv_ns)
            if out is not None:
                return out
        return self._json(raw, recv_ns)

    def _json(self, frame: bytes, recv_ns: int) -> list[Event | Prepared]:
        try:
            msg = decode_frame(frame)
        except DecodeError as exc:
            self.counters["decode_errors"] += 1
            log.warning("bad JSON frame: %s (%.120r)", exc, frame)
            return []
        if isinstance(msg, Push):
            return self._push(msg, recv_ns)
        if isinstance(msg, JsonRpcErrorResponse):
            self._rpc_error(msg)
        else:
            self._reply(msg.id)
        return []

    def _fast_json(self, channel: str, book: LightBook, data: Any,
                   recv_ns: int) -> list[Event | Prepared] | None:
        """A book push via :mod:`~shared.paradex.models.fastbook`; None (nothing changed) when a
        level is not in the plain form or the market is not a subject token: full path."""
        bids: list[PriceKey] = []
        asks: list[PriceKey] = []
        for group in (book.inserts, book.updates):
            for lv in group:
                price, size = key8(lv.price), key8(lv.size)
                if price is None or size is None:
                    return None
                side = bids if lv.side == "BUY" else asks
                side.append(price)
                side.append(size)
        for lv in book.deletes:
            price = key8(lv.price)
            if price is None or key8(lv.size) is None:
                return None
            side = bids if lv.side == "BUY" else asks
            side.append(price)
            side.append(0)
        market = book.market
        try:
            subject = book_subject(market)
        except Exception:  # not a valid subject token: the full path handles it as before
            return None
        self.frames[channel] += 1
        check = self.books.check_flat(market, book.seq_no, book.update_type == "s", bids, asks)
        ts = book.last_updated_at
        if check is APPLIED:
            return [Prepared(subject, book_event_bytes(ts, recv_ns, self.epoch, data), recv_ns)]
        return self._outcome(check, market, recv_ns, lambda: Prepared(
            subject, book_event_bytes(ts, recv_ns, self.epoch, data), recv_ns))

    def _fast_sbe(self, fast: FastBook, recv_ns: int) -> list[Event | Prepared] | None:
        """An SBE book frame via :func:`~shared.paradex.sbe.fastbook.fast_book`."""
        market = fast.market
        try:
            subject = book_subject(market)
        except Exception:
            return None
        self._sbe.decoded += 1
        key = (BookUpdate, market)
        channel = self._sbe_channels.get(key)
        if channel is None:
            channel = self._sbe_channels[key] = book_channel(market, self.book_feed)
        self.frames[channel] += 1
        bids: Sequence[int] = fast.bids
        asks: Sequence[int] = fast.asks
        if not fast.snapshot:  # size 0 = delete, applied after the sets (as the model's lists are)
            if 0 in bids[1::2]:
                bids = _sets_then_deletes(bids)
            if 0 in asks[1::2]:
                asks = _sets_then_deletes(asks)
        check = self.books.check_flat(market, fast.seq, fast.snapshot, bids, asks)
        if check is APPLIED:
            return [Prepared(subject, book_event_bytes(fast.ts_ms, recv_ns, self.epoch, fast.json), recv_ns)]
        return self._outcome(check, market, recv_ns, lambda: Prepared(
            subject, book_event_bytes(fast.ts_ms, recv_ns, self.epoch, fast.json), recv_ns))

    def _push(self, push: Push, recv_ns: int) -> list[Event | Prepared]:
        self.frames[push.channel] += 1
        data = push.data
        if type(data) is BookUpdate:
            return self._book(data, recv_ns)
        event = to_event(data, recv_ns, self.epoch)
        if event is None:
            self.counters["unknown_channel"] += 1
            log.warning("push on unexpected channel %r ignored", push.channel)
            return []
        return [event]

    def _binary(self, frame: bytes, recv_ns: int) -> list[Event | Prepared]:
        try:
            data = self._sbe.decode(frame)
        except DecodeError as exc:
            self.counters["decode_errors"] += 1
            log.warning("bad SBE frame: %s (%d bytes)", exc, len(frame))
            return []
        market = getattr(data, "market", "")
        key = (type(data), market)
        channel = self._sbe_channels.get(key)
        if channel is None:
            channel = self._sbe_channels[key] = _sbe_channel(data, self.book_feed)
        if channel:
            self.frames[channel] += 1
        if type(data) is BookUpdate:
            return self._book(data, recv_ns)
        event = to_event(data, recv_ns, self.epoch)
        if event is None:
            self.counters["sbe_skipped"] += 1
            return []
        return [event]

    def _book(self, update: BookUpdate, recv_ns: int) -> list[Event | Prepared]:
        check = self.books.check(update)
        event = to_event(update, recv_ns, self.epoch)
        assert event is not None
        return self._outcome(check, update.market, recv_ns, lambda: event)

    def _outcome(self, check: Check, market: str, recv_ns: int,
                 message: Callable[[], Event | Prepared]) -> list[Event | Prepared]:
        """The messages of a checked book frame: the frame (``message()``) when published, a
        BookGap (and a queued resubscription) when it invalidates the book."""
        if check.publish:
            if not check.invalidates:
                return [message()]
            return [message(), self._invalidate(market, check, recv_ns)]
        if check.invalidates:
            return [self._invalidate(market, check, recv_ns)]
        self.counters[f"book_{check.verdict.value}"] += 1
        return []

    def _invalidate(self, market: str, check: Check, recv_ns: int) -> BookGap:
        reason = check.verdict.value
        self.counters[f"book_{reason}"] += 1
        log.warning("book %s on %s (expected %d, got %d): resubscribing", reason, market,
                    check.expected, check.got)
        self.resubscribe_book(market)
        return BookGap(source="ws", recv_ns=recv_ns, conn_epoch=self.epoch, market=market,
                       expected_seq=check.expected, got_seq=check.got, reason=reason)

    def resubscribe_book(self, market: str) -> None:
        """Queue unsubscribe + subscribe of ``market``'s book: the new subscription starts with a
        fresh snapshot."""
        self.books.reset(market)
        channel = book_channel(market, self.book_feed)
        self.outbox.append(self.requests.unsubscribe(channel))
        self.outbox.append(self.requests.subscribe(channel))

    # --- replies ------------------------------------------------------------------------------

    def _reply(self, rid: object) -> None:
        pending = self.requests.resolve(rid)
        if pending is None:
            self.counters["unexpected_reply"] += 1
            log.warning("reply to unknown request id %r", rid)
            return
        if pending.method == "auth":
            self.signals.append(("authenticated", ""))
            self.outbox.extend(self.requests.subscribe(ch) for ch in self.channels)

    def _rpc_error(self, msg: JsonRpcErrorResponse) -> None:
        pending = self.requests.resolve(msg.id)
        err = msg.error
        self.counters["rpc_errors"] += 1
        what = f"{pending.method} {pending.channel}".strip() if pending else f"request {msg.id!r}"
        detail = f"{err.code} {err.message}" + (f" ({err.data})" if err.data else "")
        if err.code in AUTH_ERROR_CODES or (pending is not None and pending.method == "auth"):
            self.signals.append(("auth_failed", detail))
            log.error("auth refused: %s", detail)
            return
        if pending is not None and pending.method == "subscribe":
            self.counters["subscribe_errors"] += 1
            if pending.channel.startswith("order_book."):
                # without this subscription the book never gets its snapshot: start over
                self.signals.append(("reconnect", f"book subscription refused: {what}: {detail}"))
        # an unsubscribe of a book we resubscribe may legitimately fail (already gone): harmless
        log.warning("JSON-RPC error for %s: %s", what, detail)

