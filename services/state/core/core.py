"""The state core: a deterministic fold of bus events into account and market state.

``StateCore.apply(stream_seq, event)`` is the only mutator. It reads nothing but the event (its
stream sequence, ``source``, ``seq_no``, venue timestamps, ``recv_ns``, ``conn_epoch``): no clock,
no randomness, no I/O. The returned :class:`Result` lists entity changes (to write to Redis
atomically and push as SSE) and actions for the shell (reconcile / lookup).

ACCOUNT events must come with strictly increasing stream sequences; a sequence at or below the
last applied one is a redelivery and is ignored (so replaying from a checkpoint is idempotent).
MARKET events keep their own sequence and are never dropped for it (the market stream may be
plain core NATS, numbered by the shell).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from services.state.core.algos import AlgoTable
from services.state.core.book import Book
from services.state.core.counters import Counters
from services.state.core.detect import Detection
from services.state.core.entities import EntityTables
from services.state.core.gaps import Gaps
from services.state.core.market import MarketHandlers
from services.state.core.model import Action, Change, Result
from services.state.core.orders import CLIENT_PREFIX, OrderTable
from services.state.core.queries import Queries
from services.state.core.retention import Retention
from services.state.core.tracking import (
    FeedInfo,
    KillSwitchState,
    Reconciliation,
    SnapshotRun,
    SourceInfo,
)
from services.state.core.venue_markets import MarketSpecs
from shared.bus.deadletter import check_event
from shared.bus.events import (
    AccountEvent,
    AlgoEvent,
    BalanceChange,
    BalanceRecord,
    BboEvent,
    BookEvent,
    BookGap,
    CmdAccepted,
    CmdCancelFailed,
    CmdCancelRequested,
    CmdCancelUnknown,
    CmdModifyFailed,
    CmdModifyRequested,
    CmdModifyUnknown,
    CmdNotSent,
    CmdRejected,
    CmdSubmitted,
    CmdUnknown,
    Event,
    FeedStatus,
    FillEvent,
    FundingEvent,
    KillSwitch,
    LookupResult,
    MarketsEvent,
    OrderEvent,
    PositionEvent,
    SnapshotFinished,
    SnapshotPart,
    SnapshotStarted,
    SummaryEvent,
    TradebustEvent,
    TradeEvent,
    kind_of,
)
from shared.paradex.models.market_data import Bbo, FundingData, MarketSummary, Trade

INVALID = "invalid:"
"""``Result.dropped`` prefix of an event refused by the guard (``invalid:<reason>``): the shell
dead-letters it."""
DOWN_STATES = frozenset({"disconnected", "auth_failed"})
ALL_PARTS = ("open_orders", "order_history", "positions", "account", "balances", "fills")


class StateConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Tunables of the fold. ``grace_ms``: rule 4's window G; ``lookup_grace_ms``: an open order
    absent from a snapshot and quiet this long (but less than G) is looked up (never closed on
    absence); ``max_trades``: trades kept per market.

    ``retention_ms`` / ``fill_retention_ms``: terminal orders / fills older than this (by the
    stream's venue clock) are evicted from memory, 0 keeps them forever; ``max_closed_orders`` /
    ``max_fills``: at most this many terminal orders / fills are held, the oldest go first, 0 =
    no limit (see :mod:`services.state.core.retention`). ``settle_ms``: how far the stream (by
    ``recv_ns``) must move past a suspected missed push before it counts as one and held balance
    pushes are released (see :mod:`services.state.core.gaps`).
    """

    grace_ms: int = 5000
    lookup_grace_ms: int = 500
    settle_ms: int = 200
    max_trades: int = 100
    retention_ms: int = 6 * 3600 * 1000
    fill_retention_ms: int = 6 * 3600 * 1000
    max_closed_orders: int = 20_000
    max_fills: int = 20_000


class StateCore(Queries, MarketHandlers, Detection):
    """The whole state of one account and its markets, folded from bus events."""

    def __init__(self, config: StateConfig | None = None) -> None:
        self.config = config or StateConfig()
        self.max_trades = self.config.max_trades
        self.counters = Counters()
        cfg = self.config
        self.retention = Retention(cfg.retention_ms, cfg.fill_retention_ms, cfg.max_closed_orders,
                                   cfg.max_fills)
        self.orders = OrderTable(self.counters, self.retention, cfg.grace_ms)
        self.gaps = Gaps(self.counters, cfg.settle_ms)
        self.entities = EntityTables(self.counters, self.retention, self.gaps)
        self.books: dict[str, Book] = {}
        self.bbo: dict[str, Bbo] = {}
        self.trades: dict[str, list[Trade]] = {}
        self.summary: dict[str, MarketSummary] = {}
        self.funding: dict[str, FundingData] = {}
        self.account_seq = 0
        self.market_seq = 0
        self.feed = FeedInfo()
        self.sources: dict[str, SourceInfo] = {}
        self.snapshots: dict[str, SnapshotRun] = {}
        self.last_reconciliation: Reconciliation | None = None
        self.market_specs = MarketSpecs()
        self.kill_switch: dict[str, KillSwitchState] = {}
        self.algos = AlgoTable(self.counters)
        self._kind_names: dict[tuple[type, str], str] = {}
        self._handlers: dict[type, Callable[[int, Any, Result], None]] = {
            OrderEvent: self._order, FillEvent: self._fill, PositionEvent: self._position,
            AccountEvent: self._account, BalanceRecord: self._balance,
            BalanceChange: self._balance_change, TradebustEvent: self._tradebust,
            FeedStatus: self._feed_status, SnapshotStarted: self._snapshot_started,
            SnapshotPart: self._snapshot_part, SnapshotFinished: self._snapshot_finished,
            LookupResult: self._lookup, CmdSubmitted: self._cmd_submitted,
            CmdAccepted: self._cmd_accepted, CmdRejected: self._cmd_rejected,
            CmdCancelRequested: self._cmd_cancel, CmdModifyRequested: self._cmd_modify,
            CmdUnknown: self._cmd_unknown, CmdNotSent: self._cmd_not_sent,
            CmdCancelFailed: self._cmd_cancel_failed, CmdCancelUnknown: self._cmd_cancel_unknown,
            CmdModifyFailed: self._cmd_modify_failed, CmdModifyUnknown: self._cmd_modify_unknown,
            KillSwitch: self._kill_switch, MarketsEvent: self._market_specs, AlgoEvent: self._algo,
        }
        self._market_handlers: dict[type, Callable[[int, Any, Result], None]] = {
            BookEvent: self._book, BookGap: self._book_gap, BboEvent: self._bbo,
            TradeEvent: self._trade, SummaryEvent: self._summary, FundingEvent: self._funding,
        }

    def reconfigure(self, config: StateConfig) -> None:
        """Take the service's current tunables (a restored checkpoint carries the old ones)."""
        self.config = config
        self.max_trades = config.max_trades
        self.retention.order_ms, self.retention.fill_ms = config.retention_ms, config.fill_retention_ms
        self.retention.max_orders, self.retention.max_fills = config.max_closed_orders, config.max_fills
        self.orders.settle_ns = config.grace_ms * 1_000_000
        self.gaps.settle_ns = config.settle_ms * 1_000_000
        self.gaps.rebuild_queue()

    def dump(self) -> bytes:
        """Deterministic checkpoint bytes (see :mod:`services.state.core.codec`)."""
        from services.state.core.codec import dump

        return dump(self)

    @staticmethod
    def load(data: bytes) -> StateCore:
        """A core restored from :meth:`dump` bytes."""
        from services.state.core.codec import load

        return load(data)

    # ------------------------------------------------------------------------------------ apply

    def apply(self, stream_seq: int, event: Event) -> Result:
        """Fold one event (ACCOUNT or MARKET stream) and report what changed."""
        cls = type(event)
        handler = self._handlers.get(cls)
        src = event.source
        name = self._kind_names.get((cls, src))
        if name is None:
            name = self._kind_names[(cls, src)] = f"events.{kind_of(cls)}.{src}"
        counters = self.counters
        bad = check_event(event)  # the guard: an invalid venue record that reached the stream
        if handler is None:
            market = self._market_handlers.get(cls)
            if market is None:
                raise TypeError(f"not a bus event: {cls.__name__}")
            self.market_seq = stream_seq
            if bad is not None:
                return self._invalid("market", stream_seq, bad.reason)
            counters.bump(name)
            res = Result(stream="market", seq=stream_seq, changes=[], actions=[])
            market(stream_seq, event, res)
            return res
        if stream_seq <= self.account_seq:
            counters.bump("redelivered")
            return Result(stream="account", seq=self.account_seq, changes=[], actions=[],
                          dropped="redelivered")
        self.account_seq = stream_seq
        if bad is not None:
            return self._invalid("account", stream_seq, bad.reason)
        counters.bump(name)
        info = self.sources.get(src)
        if info is None:
            info = self.sources[src] = SourceInfo()
        info.last_seq = stream_seq
        info.last_recv_ns = event.recv_ns
        info.events += 1
        ret = self.retention
        now = ret.now
        ts = event.venue_ts_ms
        if ts:
            info.last_venue_ts = ts
            if ts > now:
                ret.now = now = ts
        res = Result(stream="account", seq=stream_seq, changes=[], actions=[])
        if src == "ws" and event.conn_epoch > self.feed.epoch:
            self._new_epoch(event.conn_epoch, stream_seq, res)
        handler(stream_seq, event, res)
        if self.algos.algos and res.changes:
            self._link_children(res)
        due = self.gaps.next_due_ns
        if due and event.recv_ns >= due:
            self._promote(event.recv_ns, stream_seq, res)
        queue = ret.queue
        if queue and queue[0][0] <= now:
            ret.evict_due(self.orders, self.entities, res)
            self._forget_evicted(res)
        if ret.max_orders or ret.max_fills:
            n = len(res.changes)
            ret.evict_over_count(self.orders, self.entities, res)
            if len(res.changes) != n:
                self._forget_evicted(res)
        return res

    def _invalid(self, stream: str, seq: int, reason: str) -> Result:
        """An event whose venue record fails :mod:`shared.paradex.validate`: consumed, counted,
        never served; ``dropped`` tells the shell to dead-letter it."""
        self.counters.bump(f"invalid.{reason}")
        return Result(stream=stream, seq=seq, changes=[], actions=[], dropped=INVALID + reason)

    # ----------------------------------------------------------------------------- account events

    def _order(self, seq: int, ev: OrderEvent, res: Result) -> None:
        o = ev.order
        if self.orders.apply_venue(o, ev.source, seq, ev.recv_ns, res):
            self._check_order(o.id, ev.source, seq, ev.recv_ns)
        if ev.snapshot_id:
            run = self._record_of(ev.snapshot_id, res)
            if run is not None:
                run.seen_orders.add(o.id)
                if o.client_id:
                    run.seen_orders.add(CLIENT_PREFIX + o.client_id)
                self.orders.seen_in_snapshot(o.id, o.client_id)

    def _fill(self, seq: int, ev: FillEvent, res: Result) -> None:
        if self.entities.fill(ev.fill, ev.source, seq, res):
            self._check_fill(ev.fill, ev.source, seq, ev.recv_ns)
        if ev.snapshot_id:
            self._record_of(ev.snapshot_id, res)

    def _position(self, seq: int, ev: PositionEvent, res: Result) -> None:
        p = ev.position
        ts = p.last_updated_at or ev.venue_ts_ms
        marker = self.snapshots[ev.snapshot_id].start_seq if ev.snapshot_id in self.snapshots else 0
        if self.entities.position(p, ev.source, ts, seq, ev.recv_ns, res, marker):
            self._check_position(p.market, ev.source, seq, ev.recv_ns)
        if ev.snapshot_id:
            run = self._record_of(ev.snapshot_id, res)
            if run is not None:
                run.seen_positions.add(p.market)
                self.entities.seen_in_snapshot("positions", p.market)

    def _account(self, seq: int, ev: AccountEvent, res: Result) -> None:
        a = ev.summary
        self.entities.account_summary(a, ev.source, a.updated_at or ev.venue_ts_ms, seq, res)
        if ev.snapshot_id:
            self._record_of(ev.snapshot_id, res)

    def _balance(self, seq: int, ev: BalanceRecord, res: Result) -> None:
        b = ev.balance
        marker = self.snapshots[ev.snapshot_id].start_seq if ev.snapshot_id in self.snapshots else 0
        self.entities.book.record(b, ev.source, b.last_updated_at or ev.venue_ts_ms, seq, ev.recv_ns,
                                  res, marker)
        if ev.snapshot_id:
            run = self._record_of(ev.snapshot_id, res)
            if run is not None:
                run.seen_balances.add(b.token)
                self.entities.seen_in_snapshot("balances", b.token)

    def _balance_change(self, seq: int, ev: BalanceChange, res: Result) -> None:
        ch = ev.change
        self.entities.book.change(ch, seq, ev.recv_ns, res)
        if ch.fill_id and ev.source == "ws":
            self._check_balance_fill(ch.fill_id, ch.created_at, seq, ev.recv_ns)

    def _tradebust(self, seq: int, ev: TradebustEvent, res: Result) -> None:
        tb = ev.tradebust
        held = self.entities.fills.get(tb.busted_fill_id)
        was_live = held is not None and not held.busted
        self.entities.tradebust(tb.busted_fill_id, seq, res)
        if was_live:
            self._check_bust(tb.busted_fill_id, tb.created_at, seq, ev.recv_ns, ev.source)

    def _lookup(self, seq: int, ev: LookupResult, res: Result) -> None:
        self.orders.lookup_result(ev.order_id, ev.client_id, ev.found, ev.order, ev.error, seq,
                                  ev.recv_ns, res)
        if ev.error:
            return
        oid = ev.order.id if ev.found and ev.order is not None else ev.order_id
        if ev.found and ev.order is not None:
            self._check_order(oid, "rest", seq, ev.recv_ns)
        if oid:
            self._answer_lookup(oid, ev.found and ev.order is not None, seq)

    # ---------------------------------------------------------------------------------- commands

    def _cmd_submitted(self, seq: int, ev: CmdSubmitted, res: Result) -> None:
        self.orders.submitted(ev.client_id, ev.strategy, ev.market, ev.side, ev.type, ev.size,
                              ev.price, seq, ev.recv_ns, res)

    def _cmd_accepted(self, seq: int, ev: CmdAccepted, res: Result) -> None:
        self.orders.accepted(ev.client_id, ev.order_id, ev.order, seq, ev.recv_ns, res)
        self._check_order(ev.order_id, "cmd", seq, ev.recv_ns)

    def _cmd_rejected(self, seq: int, ev: CmdRejected, res: Result) -> None:
        self.orders.rejected(ev.client_id, ev.code, ev.message, seq, ev.recv_ns, res)

    def _cmd_cancel(self, seq: int, ev: CmdCancelRequested, res: Result) -> None:
        self.orders.cancel_requested(ev.order_id, ev.client_id, seq, ev.recv_ns, res)

    def _cmd_modify(self, seq: int, ev: CmdModifyRequested, res: Result) -> None:
        self.orders.modify_requested(ev.order_id, ev.client_id, ev.size, ev.price, seq, ev.recv_ns,
                                     res)

    def _cmd_unknown(self, seq: int, ev: CmdUnknown, res: Result) -> None:
        self.orders.unknown(ev.client_id, seq, ev.recv_ns, res)

    def _market_specs(self, seq: int, ev: MarketsEvent, res: Result) -> None:
        self.market_specs.apply(ev, res)

    def _algo(self, seq: int, ev: AlgoEvent, res: Result) -> None:
        self.algos.apply(ev, seq, self.orders.orders.values(), res)
        self.algos.evict(self.retention.now, self.config.retention_ms, res)

    def _link_children(self, res: Result) -> None:
        """Every order change of this event: a TWAP child is linked to its algo (see
        :mod:`services.state.core.algos`)."""
        for ch in [c for c in res.changes if c.kind == "order" and c.value is not None]:
            self.algos.order_changed(ch.value, res)

    def _cmd_not_sent(self, seq: int, ev: CmdNotSent, res: Result) -> None:
        self.orders.not_sent(ev.client_id, seq, res)

    def _cmd_cancel_failed(self, seq: int, ev: CmdCancelFailed, res: Result) -> None:
        self.orders.cancel_failed(ev.order_id, ev.client_id, ev.code, ev.message, seq, res)

    def _cmd_cancel_unknown(self, seq: int, ev: CmdCancelUnknown, res: Result) -> None:
        self.orders.cancel_unknown(ev.order_id, ev.client_id, seq, res)

    def _cmd_modify_failed(self, seq: int, ev: CmdModifyFailed, res: Result) -> None:
        self.orders.modify_failed(ev.order_id, ev.client_id, ev.code, ev.message, seq, res)

    def _cmd_modify_unknown(self, seq: int, ev: CmdModifyUnknown, res: Result) -> None:
        self.orders.modify_unknown(ev.order_id, ev.client_id, seq, res)

    def _kill_switch(self, seq: int, ev: KillSwitch, res: Result) -> None:
        """Recorded for health (global under key "", else per strategy); commands enforces it."""
        self.kill_switch[ev.strategy] = KillSwitchState(
            active=ev.active, strategy=ev.strategy, by=ev.by, reason=ev.reason, seq=seq,
            recv_ns=ev.recv_ns)
        self.counters.bump("kill_switch_on" if ev.active else "kill_switch_off")

    # ------------------------------------------------------------------------------ feed status

    def _new_epoch(self, epoch: int, seq: int, res: Result) -> None:
        feed = self.feed
        if feed.epoch:
            feed.reconnects += 1
            self.counters.bump("reconnects")
            res.actions.append(Action(kind="reconcile", reason="reconnect", parts=ALL_PARTS))
        feed.epoch = epoch
        feed.last_change_seq = seq
        res.changes.append(Change("feed", "private", msgspec.structs.replace(feed)))

    def _feed_status(self, seq: int, ev: FeedStatus, res: Result) -> None:
        feed = self.feed
        if ev.epoch > feed.epoch:
            self._new_epoch(ev.epoch, seq, res)
        down = ev.state in DOWN_STATES
        if down and (feed.connected or not feed.down_since_ns):
            if feed.connected:
                res.actions.append(Action(kind="reconcile", reason="feed_down", parts=ALL_PARTS))
            feed.down_since_ns = ev.recv_ns
        elif not down:
            feed.down_since_ns = 0
        feed.connected = not down
        if feed.state != ev.state:
            feed.state = ev.state
            feed.last_change_seq = seq
            res.changes.append(Change("feed", "private", msgspec.structs.replace(feed)))

    # -------------------------------------------------------------------------------- snapshots

    def _record_of(self, snapshot_id: str, res: Result) -> SnapshotRun | None:
        run = self.snapshots.get(snapshot_id)
        if run is not None:
            run.records += 1
            run.corrections += res.corrections
        return run

    def _snapshot_started(self, seq: int, ev: SnapshotStarted, res: Result) -> None:
        ref_ns = ev.recv_ns
        ref_ms = ev.venue_ts_ms or ref_ns // 1_000_000
        feed = self.feed
        if not feed.connected and feed.down_since_ns:
            ref_ns = min(ref_ns, feed.down_since_ns)
            ref_ms = min(ref_ms, feed.down_since_ns // 1_000_000)
        grace, young = self.config.grace_ms, min(self.config.lookup_grace_ms, self.config.grace_ms)
        self.snapshots[ev.snapshot_id] = SnapshotRun(
            id=ev.snapshot_id, start_seq=seq, reason=ev.reason, parts=list(ev.parts),
            quiet_ms=ref_ms - grace, quiet_ns=ref_ns - grace * 1_000_000, since_ms=ev.since_ms,
            recent_ms=ref_ms - young, recent_ns=ref_ns - young * 1_000_000)
        self.counters.bump("snapshots_started")

    def _snapshot_part(self, seq: int, ev: SnapshotPart, res: Result) -> None:
        run = self.snapshots.get(ev.snapshot_id)
        if run is None:
            res.dropped = "unknown_snapshot"
            return
        if not ev.complete or ev.part in run.complete_parts:
            return
        run.complete_parts.append(ev.part)
        args = (run.id, run.start_seq)
        if ev.part == "open_orders":
            self.orders.judge_absent(*args, run.seen_orders, run.quiet_ms, run.quiet_ns, seq, res,
                                     run.recent_ms, run.recent_ns)
        elif ev.part == "positions":
            self.entities.judge_absent_positions(*args, run.seen_positions, run.quiet_ms,
                                                 run.quiet_ns, seq, res)
        elif ev.part == "balances":
            self.entities.book.judge_absent(*args, run.seen_balances, run.quiet_ms, run.quiet_ns,
                                            seq, res)

    def _snapshot_finished(self, seq: int, ev: SnapshotFinished, res: Result) -> None:
        run = self.snapshots.pop(ev.snapshot_id, None)
        if run is not None:
            self._answer_snapshot(run)
        rec = Reconciliation(
            snapshot_id=ev.snapshot_id, reason=run.reason if run else "",
            start_seq=run.start_seq if run else 0, finish_seq=seq, complete=ev.complete,
            corrections=run.corrections if run else 0, records=run.records if run else ev.records,
            duration_ms=ev.duration_ms, errors=list(ev.errors))
        self.last_reconciliation = rec
        res.changes.append(Change("reconciliation", "last", rec))
