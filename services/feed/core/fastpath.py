"""Book handling of the feed protocol: the fast paths for JSON and SBE book frames, and the
sequence/crossed checks every book frame goes through (pure; a base of
:class:`~services.feed.core.protocol.FeedProtocol`).

The fast paths publish a frame without building models or Decimals only when it is plainly
valid: a subscribed book channel and market, ``seq_no`` in range, a plausible time, a known
update type, every level ``BUY``/``SELL`` with a plain price > 0 and size >= 0 (at most 24 + 8
digits), best levels and spread valid. Anything else returns None and the full path decodes,
validates and refuses it with its reason; tests/feed/test_wire.py proves both paths give the
same messages, book states and refusals over random and hostile frames.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from services.feed.core.book import APPLIED, BookChecker, Check, PriceKey
from services.feed.core.convert import to_event
from services.feed.core.plan import Requests, book_channel
from services.feed.core.rejects import Rejects
from services.feed.core.wire import Prepared, book_event_bytes, book_event_template, book_subject, prepared
from shared.bus import BookGap, Event
from shared.paradex import sbe
from shared.paradex.models import BookUpdate
from shared.paradex.models.fastbook import LightBook, key8
from shared.paradex.sbe.fastbook import FastBook
from shared.paradex.validate import MAX_SEQ, MIN_TS_MS, Scope, level, num

_new = tuple.__new__


def _extras_ok(book: LightBook) -> bool:
    """The optional best levels and spread of a JSON book push are valid."""
    for name, best in (("best_bid_api", book.best_bid_api), ("best_ask_api", book.best_ask_api),
                       ("best_bid_interactive", book.best_bid_interactive),
                       ("best_ask_interactive", book.best_ask_interactive)):
        if best is not None and level(best, name) is not None:
            return False
    return book.relative_spread is None or num(book.relative_spread, "relative_spread") is None


class Counts(dict[str, int]):
    """Counts by key, 0 for a key never counted (as a Counter reads). Not a Counter: its
    ``__delitem__`` makes ``counts[key] += 1`` go through a Python-level ``__setitem__`` call
    (~1k instructions, once per book frame)."""

    def __missing__(self, key: str) -> int:
        return 0


class FastPaths:
    """Book frames: fast paths, sequence checks, gaps and resubscriptions."""

    scope: Scope
    followed: frozenset[str]  # the markets followed (scope.markets)
    future_ms: int  # scope.future_ms
    markets: tuple[str, ...]
    book_feed: str
    book_channels: frozenset[str]
    book_channel_of: dict[str, str]  # followed market -> its book channel
    books: BookChecker
    requests: Requests
    outbox: list[bytes]
    epoch: int
    frames: Counts
    counters: Counter[str]
    rejects: Rejects
    _sbe_channels: dict[tuple[type, str], str]
    _sbe: sbe.SbeDecoder
    _fast_markets: dict[str, tuple[str, str]]  # followed market -> (book channel, bus subject)
    _event_epoch: int = -1  # the epoch (> 0) _event_template is for, -1 before the first
    _event_template: bytes = b""  # book_event_template(_event_epoch)

    def _book_event(self, ts: int, recv_ns: int, book_json: bytes | memoryview) -> bytes:
        """``book_event_bytes(ts, recv_ns, self.epoch, book_json)``, the epoch written in once."""
        epoch = self.epoch
        if ts and recv_ns and epoch:
            if epoch != self._event_epoch:
                self._event_template = book_event_template(epoch)
                self._event_epoch = epoch
            return self._event_template % (ts, recv_ns, book_json)
        return book_event_bytes(ts, recv_ns, epoch, book_json)

    def _fast_json(self, channel: str, book: LightBook, data: Any,
                   recv_ns: int) -> list[Event | Prepared] | None:
        """A book push via :mod:`~shared.paradex.models.fastbook`; None (nothing changed) when
        anything is not plainly valid: the full path decides."""
        market, kind, ts, seq = book.market, book.update_type, book.last_updated_at, book.seq_no
        if self.book_channel_of.get(market) != channel:  # a followed market on its own channel
            return None
        now_ms = recv_ns // 1_000_000
        if (kind != "d" and kind != "s") or seq < 0 or seq > MAX_SEQ or (ts < MIN_TS_MS and ts != 0) or (
                now_ms and ts > now_ms + self.future_ms):
            return None
        if (book.best_bid_api is not None or book.best_ask_api is not None or book.relative_spread is not None
                or book.best_bid_interactive is not None or book.best_ask_interactive is not None) \
                and not _extras_ok(book):
            return None
        bids: list[PriceKey] = []
        asks: list[PriceKey] = []
        for group in (book.inserts, book.updates) if book.inserts else (book.updates,):
            for lv in group:
                price, size = key8(lv.price), key8(lv.size)
                if not price or size is None:  # not plain, or a zero price
                    return None
                side = lv.side
                if side == "BUY":
                    bids.append(price)
                    bids.append(size)
                elif side == "SELL":
                    asks.append(price)
                    asks.append(size)
                else:
                    return None
        for lv in book.deletes:
            price = key8(lv.price)
            if not price or key8(lv.size) is None:
                return None
            side = lv.side
            if side == "BUY":
                bids.append(price)
                bids.append(0)
            elif side == "SELL":
                asks.append(price)
                asks.append(0)
            else:
                return None
        subject = book_subject(market)  # a followed market: a valid token (Scope.of checked it)
        self.frames[channel] += 1
        check = self.books.check_flat(market, seq, kind == "s", bids, asks)
        if check is APPLIED:
            if ts and recv_ns and self.epoch == self._event_epoch:  # the usual frame: no call
                return [_new(Prepared, (subject, self._event_template % (ts, recv_ns, data), recv_ns))]
            return [prepared(subject, self._book_event(ts, recv_ns, data), recv_ns)]
        return self._outcome(check, market, recv_ns, lambda: prepared(
            subject, book_event_bytes(ts, recv_ns, self.epoch, data), recv_ns))

    def _fast_sbe(self, fast: FastBook, recv_ns: int) -> list[Event | Prepared] | None:
        """An SBE book frame via :func:`~shared.paradex.sbe.fastbook.fast_book` (which already
        refused levels and best levels with a price <= 0 or a negative size); None when the full
        path must decide."""
        market, seq, snapshot, ts, bids, asks, book_json, _ = fast
        known = self._fast_markets.get(market)
        if known is None:
            if market not in self.followed:
                return None
            # a followed market: a valid subject token (Scope.of checked it)
            known = self._fast_markets[market] = (self.book_channel_of[market], book_subject(market))
        now_ms = recv_ns // 1_000_000
        if seq < 0 or (ts < MIN_TS_MS and ts != 0) or (now_ms and ts > now_ms + self.future_ms):
            return None  # (an int64 seq is never above MAX_SEQ)
        channel, subject = known
        self._sbe.decoded += 1
        self.frames[channel] += 1
        # the levels come in application order (a delta's sets, then its deletes with size 0)
        check = self.books.check_flat(market, seq, snapshot, bids, asks)
        if check is APPLIED:
            if ts and recv_ns and self.epoch == self._event_epoch:  # the usual frame: no call
                return [_new(Prepared, (subject, self._event_template % (ts, recv_ns, book_json), recv_ns))]
            return [prepared(subject, self._book_event(ts, recv_ns, book_json), recv_ns)]
        epoch = self.epoch
        return self._outcome(check, market, recv_ns, lambda: prepared(
            subject, book_event_bytes(ts, recv_ns, epoch, book_json), recv_ns))

    def to_event(self, data: object, recv_ns: int) -> Event | None:
        """The bus event of a validated record."""
        return to_event(data, recv_ns, self.epoch)

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
        self.rejects.note(recv_ns, f"book_{reason}", "book %s on %s (expected %d, got %d): resubscribing",
                          reason, market, check.expected, check.got)
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
