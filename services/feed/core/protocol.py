"""The feed's sans-I/O protocol: frames in, bus events and frames to send out.

The shell feeds every received frame to :meth:`FeedProtocol.receive_wire` with its receipt time
and gets back the messages to publish; requests to send (subscriptions after auth, book
resubscriptions after a gap) accumulate in :attr:`FeedProtocol.outbox`, connection-level outcomes
in :attr:`FeedProtocol.signals` (``"authenticated"``, ``"auth_failed"``, ``"reconnect"`` when a
book subscription is refused, since that book would never get a snapshot), and refused input in
:attr:`FeedProtocol.rejects` (counts by reason, dead letters to publish, a rate-bounded log).

Nothing is published before :mod:`shared.paradex.validate` accepted it (our account, subscribed
markets, finite bounded numbers, known enums...). A refused record, a frame that is not JSON or
SBE, a push on a channel we did not subscribe, even an unexpected exception while handling a
frame: each refuses that one frame and never raises, so the connection and the frames around it
carry on. Summaries of markets we do not follow (the venue sends ``markets_summary`` for every
market) are filtered out quietly and counted.

Sample push: ``{"jsonrpc":"2.0","method":"subscription","params":{"channel":"bbo.BTC-USD-PERP",
"data":{"market":"BTC-USD-PERP","seq_no":7,"bid":"1","bid_size":"2","ask":"3","ask_size":"4",
"last_updated_at":1718267837265}}}``
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from services.feed.core.book import BookChecker
from services.feed.core.fastpath import Counts, FastPaths
from services.feed.core.plan import AUTH_ERROR_CODES, Requests, all_channels, book_channel
from services.feed.core.rejects import Rejects
from services.feed.core.wire import Prepared
from shared.bus import Event, decode_event
from shared.errors import DecodeError
from shared.paradex import sbe
from shared.paradex.models import BookUpdate, JsonRpcErrorResponse, MarketSummary, Push, decode_frame
from shared.paradex.models.fastbook import decode_book_push
from shared.paradex.sbe.fastbook import fast_book
from shared.paradex.validate import FUTURE_MS, RECORD_TYPES, Rejection, Scope, check, decode_reason

_SBE_CHANNEL = {
    "Bbo": "bbo.{}", "Trade": "trades.{}", "FundingData": "funding_data.{}",
    "MarketSummary": "markets_summary",
}
_VALIDATED = frozenset(RECORD_TYPES)
OTHER = "other"
"""The metric label of every channel we did not subscribe (labels come from a fixed set)."""


class FeedProtocol(FastPaths):
    """Protocol state of one feed across connections (book sequences survive, requests don't).

    ``account``: ours (private records of any other account are refused); ``markets``: the
    markets followed (market data of any other market is refused)."""

    def __init__(self, markets: Iterable[str], *, account: str, book_feed: str = "deltas",
                 summary: bool = True, future_ms: int = FUTURE_MS, dlq_per_s: float = 1000.0) -> None:
        self.markets = tuple(markets)
        self.scope = Scope.of(account, self.markets, future_ms)
        self.followed = frozenset(self.markets)
        self.future_ms = future_ms
        self.book_feed = book_feed
        self.channels = all_channels(self.markets, book_feed, summary)
        self.channel_set = frozenset(self.channels)
        self.book_channel_of = {m: book_channel(m, book_feed) for m in self.markets}
        self.book_channels = frozenset(self.book_channel_of.values())
        self.requests = Requests()
        self.books = BookChecker()
        self.outbox: list[bytes] = []
        self.signals: list[tuple[str, str]] = []
        self.epoch = 0
        self.jwt = ""
        self.frames = Counts()  # by channel we subscribed, else OTHER
        self.counters: Counter[str] = Counter()  # decode_errors, rpc_errors, gaps, ...
        self.rejects = Rejects(dlq_per_s=dlq_per_s)
        self._sbe = sbe.SbeDecoder()
        self._sbe_channels: dict[tuple[type, str], str] = {}
        self._fast_markets: dict[str, tuple[str, str]] = {}

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
        paths (no models, no Decimals) and come out as :class:`Prepared` bytes; everything else,
        and every frame the fast paths are unsure of, takes :meth:`receive_full`."""
        try:
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
        except Exception as exc:  # a bug or input nothing foresaw: refuse this frame, keep the session
            return self._internal(frame, recv_ns, exc)

    def receive_full(self, frame: str | bytes, recv_ns: int) -> list[Event | Prepared]:
        """:meth:`receive_wire` without the fast paths (models, validation, book checks): the
        reference the fast paths are proven equal to."""
        try:
            raw = frame.encode() if isinstance(frame, str) else frame
            if isinstance(frame, bytes) and not frame.startswith(b"{"):
                return self._binary(raw, recv_ns)
            return self._json(raw, recv_ns)
        except Exception as exc:
            return self._internal(frame, recv_ns, exc)

    def _internal(self, frame: str | bytes, recv_ns: int, exc: Exception) -> list[Event | Prepared]:
        self.counters["internal_errors"] += 1
        raw = frame.encode("utf-8", "replace") if isinstance(frame, str) else frame
        self.rejects.refuse(Rejection("internal_error", "", f"{type(exc).__name__}: {exc}"[:200]), raw, "",
                            recv_ns, binary=not raw.startswith(b"{"), exc_info=exc)
        return []

    def _json(self, frame: bytes, recv_ns: int) -> list[Event | Prepared]:
        try:
            msg = decode_frame(frame)
        except DecodeError as exc:
            self.counters["decode_errors"] += 1
            self.rejects.refuse(Rejection(decode_reason(exc), exc.field or "", exc.reason[:200]), frame, "",
                                recv_ns)
            return []
        if isinstance(msg, Push):
            return self._push(msg, frame, recv_ns)
        if isinstance(msg, JsonRpcErrorResponse):
            self._rpc_error(msg, recv_ns)
        else:
            self._reply(msg.id, recv_ns)
        return []

    def _push(self, push: Push, frame: bytes, recv_ns: int) -> list[Event | Prepared]:
        channel = push.channel
        data = push.data
        if channel not in self.channel_set or type(data) not in _VALIDATED:
            self.frames[OTHER] += 1
            self.counters["unknown_channel"] += 1
            self.rejects.refuse(Rejection("unknown_channel", "channel", channel[:40]), frame, channel[:200],
                                recv_ns)
            return []
        self.frames[channel] += 1
        return self._record(data, frame, channel, recv_ns, binary=False)

    def _binary(self, frame: bytes, recv_ns: int) -> list[Event | Prepared]:
        try:
            data = self._sbe.decode(frame)
        except DecodeError as exc:
            self.counters["decode_errors"] += 1
            self.rejects.refuse(Rejection("bad_sbe", exc.field or "", str(exc)[:200]), frame, "", recv_ns,
                                binary=True)
            return []
        if type(data) not in _VALIDATED:  # heartbeat, a template we do not decode
            self.counters["sbe_skipped"] += 1
            return []
        channel = self._sbe_label(data)
        self.frames[channel] += 1
        return self._record(data, frame, channel, recv_ns, binary=True)

    def _sbe_label(self, data: Any) -> str:
        """The JSON channel an SBE payload stands for, OTHER for a market we do not follow."""
        market = getattr(data, "market", "")
        key = (type(data), market)
        channel = self._sbe_channels.get(key)
        if channel is None:
            if type(data) is BookUpdate:
                channel = book_channel(market, self.book_feed)
            else:
                channel = _SBE_CHANNEL.get(type(data).__name__, "").format(market)
            if channel not in self.channel_set:
                return OTHER
            self._sbe_channels[key] = channel
        return channel

    def _record(self, data: Any, frame: bytes, where: str, recv_ns: int, *, binary: bool
                ) -> list[Event | Prepared]:
        """Validate one decoded record, then its event (books through the sequence check)."""
        bad = check(data, self.scope, recv_ns // 1_000_000)
        if bad is not None:
            if bad.reason == "unsubscribed_market" and type(data) is MarketSummary:
                self.rejects.filtered["summary_not_followed"] += 1  # the venue sends every market's
                return []
            self.rejects.refuse(bad, frame, where, recv_ns, binary=binary)
            return []
        if type(data) is BookUpdate:
            return self._book(data, recv_ns)
        event = self.to_event(data, recv_ns)
        return [] if event is None else [event]

    # --- replies ------------------------------------------------------------------------------

    def _reply(self, rid: object, recv_ns: int) -> None:
        pending = self.requests.resolve(rid)
        if pending is None:
            self.counters["unexpected_reply"] += 1
            self.rejects.note(recv_ns, "unexpected_reply", "reply to unknown request id %.40r", rid)
            return
        if pending.method == "auth":
            self.signals.append(("authenticated", ""))
            self.outbox.extend(self.requests.subscribe(ch) for ch in self.channels)

    def _rpc_error(self, msg: JsonRpcErrorResponse, recv_ns: int) -> None:
        pending = self.requests.resolve(msg.id)
        err = msg.error
        self.counters["rpc_errors"] += 1
        what = f"{pending.method} {pending.channel}".strip() if pending else f"request {msg.id!r:.40}"
        detail = (f"{err.code} {err.message}" + (f" ({err.data})" if err.data else ""))[:300]
        if err.code in AUTH_ERROR_CODES or (pending is not None and pending.method == "auth"):
            self.signals.append(("auth_failed", detail))
            self.rejects.note(recv_ns, "auth_refused", "auth refused: %s", detail)
            return
        if pending is not None and pending.method == "subscribe":
            self.counters["subscribe_errors"] += 1
            if pending.channel.startswith("order_book."):
                # without this subscription the book never gets its snapshot: start over
                self.signals.append(("reconnect", f"book subscription refused: {what}: {detail}"))
        # an unsubscribe of a book we resubscribe may legitimately fail (already gone): harmless
        self.rejects.note(recv_ns, "rpc_error", "JSON-RPC error for %s: %s", what, detail)
