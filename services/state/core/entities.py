"""Positions, account summary and fills (pure merge rules, DESIGN.md "Positions ...").

Full-entity records. Within one source, ``seq_no`` orders them (duplicates and reordering are
dropped). Across sources the strictly newer venue timestamp wins; ties keep what we hold, except
(issue 12 item 6) a position record of a snapshot whose marker came after our last live update of
the market, with another size: nothing on the WebSocket since, the snapshot is the later truth. A
REST record must be strictly newer than what we hold even when we hold a REST record (an identical
re-poll is not a correction). Balances live in :mod:`services.state.core.balances`.
"""

from __future__ import annotations

import msgspec

from services.state.core.balances import BalanceBook
from services.state.core.counters import Counters
from services.state.core.gaps import Gaps
from services.state.core.model import (
    CLOSED,
    ZERO,
    AccountState,
    Action,
    BalanceState,
    Change,
    FillState,
    PositionState,
    Result,
    shared_flags,
)
from services.state.core.retention import Retention
from shared.paradex.models.account import Account, Fill, Position

_replace = msgspec.structs.replace
RECONCILE_AFTER_BUST = ("positions", "balances", "account")


class EntityTables:
    """Positions (by market), the account, balances (by token, in ``book``), fills (by id)."""

    __slots__ = ("account", "book", "busted_pending", "c", "fills", "positions", "ret")

    def __init__(self, counters: Counters, retention: Retention | None = None,
                 gaps: Gaps | None = None) -> None:
        self.positions: dict[str, PositionState] = {}
        self.account: AccountState | None = None
        self.book = BalanceBook(counters, gaps or Gaps(counters))
        self.fills: dict[str, FillState] = {}
        self.busted_pending: set[str] = set()
        self.c = counters
        self.ret = retention or Retention()

    @property
    def balances(self) -> dict[str, BalanceState]:
        """Balances by token (held by :attr:`book`)."""
        return self.book.balances

    def _stale(self, src: str, what: str, res: Result) -> None:
        self.c.bump("stale_rest_suppressed" if src == "rest" else f"stale_{src}_{what}")
        res.dropped = "stale"

    def _dup(self, src: str, what: str, res: Result) -> None:
        self.c.bump(f"duplicate_{src}_{what}")
        res.dropped = "duplicate"

    def _correction(self, src: str, res: Result) -> None:
        if src == "rest":
            self.c.bump("corrections")
            res.corrections += 1

    # --------------------------------------------------------------------------------- positions

    def position(self, p: Position, src: str, ts: int, seq: int, recv_ns: int, res: Result,
                 marker_seq: int = 0) -> bool:
        """Merge a full position record; ``ts`` is its venue timestamp, ``marker_seq`` the start of
        its snapshot (0: none)."""
        cur = self.positions.get(p.market)
        ws_seq = rest_seq = 0
        live_seq = seq if src != "rest" else 0
        if cur is not None:
            ws_seq, rest_seq, live_seq = cur.ws_seq, cur.rest_seq, max(cur.last_live_seq, live_seq)
            if src == "ws":
                if p.seq_no <= ws_seq:
                    self._dup(src, "position", res)
                    return False
                ws_seq = p.seq_no
            elif src == "rest":
                if p.seq_no <= rest_seq:
                    self._dup(src, "position", res)
                    return False
                rest_seq = p.seq_no
            if (src == "rest" or cur.source != src) and ts <= cur.venue_ts and not (
                    ts == cur.venue_ts and src == "rest" and marker_seq > cur.last_live_seq
                    and p.size != cur.position.size):
                self.positions[p.market] = _replace(cur, ws_seq=ws_seq, rest_seq=rest_seq)
                self._stale(src, "position", res)
                return False
            if ts == cur.venue_ts and src == "rest":
                self.c.bump("equal_ts_repaired")
        elif src == "ws":
            ws_seq = p.seq_no
        elif src == "rest":
            rest_seq = p.seq_no
        st = PositionState(market=p.market, position=p, venue_ts=ts, source=src, ws_seq=ws_seq,
                           rest_seq=rest_seq, last_live_seq=live_seq, last_recv_ns=recv_ns,
                           stream_seq=seq)
        self.positions[p.market] = st
        res.changes.append(Change("position", p.market, st))
        self._correction(src, res)
        return True

    # ----------------------------------------------------------------------------------- account

    def account_summary(self, a: Account, src: str, ts: int, seq: int, res: Result) -> bool:
        """Merge the account summary (same rules as positions)."""
        cur = self.account
        ws_seq = rest_seq = 0
        if cur is not None:
            ws_seq, rest_seq = cur.ws_seq, cur.rest_seq
            if src == "ws":
                if a.seq_no <= ws_seq:
                    self._dup(src, "account", res)
                    return False
                ws_seq = a.seq_no
            elif src == "rest":
                if a.seq_no <= rest_seq:
                    self._dup(src, "account", res)
                    return False
                rest_seq = a.seq_no
            if (src == "rest" or cur.source != src) and ts <= cur.venue_ts:
                self.account = _replace(cur, ws_seq=ws_seq, rest_seq=rest_seq)
                self._stale(src, "account", res)
                return False
        elif src == "ws":
            ws_seq = a.seq_no
        elif src == "rest":
            rest_seq = a.seq_no
        st = AccountState(summary=a, venue_ts=ts, source=src, ws_seq=ws_seq, rest_seq=rest_seq,
                          stream_seq=seq)
        self.account = st
        res.changes.append(Change("account", "account", st))
        self._correction(src, res)
        return True

    # ------------------------------------------------------------------------------------- fills

    def fill(self, f: Fill, src: str, seq: int, res: Result) -> bool:
        """Append a fill unless its id is known (from either source)."""
        if f.id in self.fills:
            self.c.bump("duplicate_fill")
            res.dropped = "duplicate"
            return False
        ret = self.ret
        if ret.fill_gone(f.id, f.created_at):
            self.busted_pending.discard(f.id)
            self.c.bump("evicted_fill_suppressed")
            res.dropped = "evicted"
            return False
        busted = f.id in self.busted_pending
        if busted:
            self.busted_pending.discard(f.id)
        st = FillState(fill=shared_flags(f), busted=busted, source=src, stream_seq=seq)
        self.fills[f.id] = st
        ret.fill_added(f.id, f.created_at)
        res.changes.append(Change("fill", f.id, st))
        return True

    def evict_fill(self, fill_id: str, res: Result) -> FillState | None:
        """Retention: forget a fill (``None`` when it is not held)."""
        st = self.fills.pop(fill_id, None)
        if st is not None:
            self.c.bump("evicted_fills")
            res.changes.append(Change("fill", fill_id, None))
        return st

    def tradebust(self, fill_id: str, seq: int, res: Result) -> None:
        """Mark the fill busted (or remember the id until it arrives) and ask for a reconciliation."""
        cur = self.fills.get(fill_id)
        if (cur is not None and cur.busted) or fill_id in self.busted_pending:
            self.c.bump("duplicate_tradebust")
            res.dropped = "duplicate"
            return
        if cur is None:
            if fill_id not in self.ret.fill_tombs:  # an evicted fill never comes back
                self.busted_pending.add(fill_id)
        else:
            st = _replace(cur, busted=True, stream_seq=seq)
            self.fills[fill_id] = st
            res.changes.append(Change("fill", fill_id, st))
        self.c.bump("tradebusts")
        res.actions.append(Action(kind="reconcile", reason="tradebust", parts=RECONCILE_AFTER_BUST))

    # ----------------------------------------------------------------------------------- absence

    def judge_absent_positions(self, snap_id: str, start_seq: int, seen: set[str], quiet_ms: int,
                               quiet_ns: int, seq: int, res: Result) -> None:
        """Rule 4-5 for positions: first absence flags (and asks for another snapshot), a second
        later snapshot still lacking a non-flat position makes it flat (``absent_twice``)."""
        flagged = False
        for market in sorted(self.positions):
            st = self.positions[market]
            if st.position.size == ZERO or market in seen:
                continue
            if st.last_live_seq > start_seq or st.venue_ts > quiet_ms or st.last_recv_ns > quiet_ns:
                continue
            if st.absent_in and st.absent_in != snap_id and st.absent_seq < start_seq:
                flat = _replace(st.position, size=ZERO, status=CLOSED)
                new = _replace(st, position=flat, closed_by="absent_twice", absent_in="",
                               stream_seq=seq)
                self.c.bump("closed_absent_twice")
            else:
                new = _replace(st, absent_in=snap_id, absent_seq=seq, stream_seq=seq)
                flagged = True
            self.positions[market] = new
            res.changes.append(Change("position", market, new))
        if flagged:
            res.actions.append(Action(kind="reconcile", reason="position_absent", parts=("positions",)))

    def seen_in_snapshot(self, kind: str, key: str) -> None:
        """An entity was present in a snapshot: clear its absence flag."""
        if kind != "positions":
            self.book.seen_in_snapshot(key)
            return
        st = self.positions.get(key)
        if st is not None and st.absent_in:
            self.positions[key] = _replace(st, absent_in="", absent_seq=0)
