"""Orders: the merge rules 1-3 and 5 of DESIGN.md (pure, no I/O, no clock).

Entries are keyed by exchange id; an entry created by a command before the venue answered is keyed
``client:<client_id>`` and re-keyed to the exchange id when one is linked (a deletion of the old
key and a put of the new one are reported). ``by_client`` indexes client ids; ``live`` holds the
keys whose status is not terminal (the candidates for absence checks); ``inflight`` maps the keys
whose displayed status waits for the venue (:data:`IN_FLIGHT`) to the ``recv_ns`` since which it
does (the in-flight check of the shell reads it).

A venue record (WS push, REST snapshot record, lookup, the POST answer inside ``CmdAccepted``)
passes named verdicts, each one rule:

1. :func:`seq_verdict`: same source, ``seq_no`` not above the last applied one of that source:
   duplicate, dropped;
2. :func:`facts_verdict`: a record that would move a monotonic fact back (venue rank, filled size,
   ``last_updated_at``) is dropped, whatever its source (``stale_ws`` / ``stale_rest_suppressed``);
   a REST record must also be strictly ahead on at least one fact, else it is suppressed as stale.
   Requiring "not behind on any fact" in addition to the design's "ahead on one" is deliberate:
   a consistent venue never produces a record that is ahead on one fact and behind on another, and
   if one appears the monotonic facts still win (counted as ``order_conflict``);
3. :func:`overlays_after`: which local overlay (PENDING_CANCEL / PENDING_MODIFY) the record leaves.
   Evaluated for stale REST records too: a record fetched more than G after a cancel (modify)
   request that still shows the order live (unmodified) proves the request did not execute.

Command events (rule 7) live in :mod:`services.state.core.intents`.
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

from services.state.core.counters import Counters
from services.state.core.intents import CommandRules, dec, display
from services.state.core.model import (
    CLOSED,
    IN_FLIGHT,
    LOOKUP_LATER,
    PENDING_CANCEL,
    PENDING_MODIFY,
    REJECTED,
    TERMINAL,
    UNKNOWN,
    VENUE_RANK,
    Action,
    Change,
    ClosedBy,
    OrderState,
    Result,
    shared_flags,
    shared_value,
)
from services.state.core.retention import Retention
from shared.paradex.models.account import Order

_replace = msgspec.structs.replace
CLIENT_PREFIX: Final = "client:"

SeqVerdict = Literal["apply", "duplicate"]
FactsVerdict = Literal["apply", "stale", "conflict"]


# ------------------------------------------------------------------------------------ verdicts

def seq_verdict(cur: OrderState | None, src: str, seq_no: int) -> tuple[SeqVerdict, int, int]:
    """Rule 1: ``(verdict, ws_seq, rest_seq)`` after a record with ``seq_no`` from ``src``."""
    ws_seq, rest_seq = (cur.ws_seq, cur.rest_seq) if cur is not None else (0, 0)
    if src == "ws":
        if cur is not None and seq_no <= ws_seq:
            return "duplicate", ws_seq, rest_seq
        return "apply", seq_no, rest_seq
    if src == "rest":
        if cur is not None and seq_no <= rest_seq:
            return "duplicate", ws_seq, rest_seq
        return "apply", ws_seq, seq_no
    return "apply", ws_seq, rest_seq


def facts_verdict(cur: OrderState, o: Order, src: str) -> FactsVerdict:
    """Rules 2-3 against an entry that holds venue facts."""
    new_rank = VENUE_RANK.get(o.status, 0)
    cur_rank = VENUE_RANK.get(cur.venue_status, 0)
    filled = o.size - o.remaining_size
    lua = o.last_updated_at
    behind = new_rank < cur_rank or filled < cur.filled or lua < cur.last_updated_at
    ahead = new_rank > cur_rank or filled > cur.filled or lua > cur.last_updated_at
    if behind and ahead:
        return "conflict"
    if behind or (src == "rest" and not ahead):
        return "stale"
    return "apply"


def modify_done(cur: OrderState, o: Order) -> bool:
    """The record carries the price and size the pending modify asked for."""
    return ((not cur.modify_price or o.price == dec(cur.modify_price))
            and (not cur.modify_size or o.size == dec(cur.modify_size)))


def overlays_after(cur: OrderState | None, o: Order, src: str, recv_ns: int,
                   settle_ns: int) -> tuple[str, bool]:
    """Rule 3: ``(local overlay, modify still pending)`` once the venue has shown record ``o``.

    CLOSED clears everything. A modify is done when the record shows its values. A REST record
    received at least ``settle_ns`` (the grace G: REST may be that stale) after the request that
    still shows the order live proves a cancel did not execute, and one that still shows the old
    values a modify. PENDING_NEW / UNKNOWN / REJECTED never survive a venue record.
    """
    if cur is None or o.status == CLOSED:
        return "", False
    late_rest = src == "rest"
    modify = (cur.modify_pending and not modify_done(cur, o)
              and not (late_rest and recv_ns - cur.modify_ns >= settle_ns))
    cancel = (cur.local == PENDING_CANCEL
              and not (late_rest and recv_ns - cur.pending_ns >= settle_ns))
    return (PENDING_CANCEL if cancel else PENDING_MODIFY if modify else ""), modify


def inflight_since(st: OrderState) -> int:
    """``recv_ns`` since which the entry waits for the venue (its displayed status in IN_FLIGHT)."""
    if st.status == PENDING_MODIFY:
        return st.modify_ns
    return st.pending_ns


class OrderTable(CommandRules):
    """All orders of the account, with the client-id index and the sets of live/in-flight keys."""

    __slots__ = ("by_client", "c", "inflight", "live", "orders", "ret", "settle_ns")

    def __init__(self, counters: Counters, retention: Retention | None = None,
                 grace_ms: int = 5000) -> None:
        self.orders: dict[str, OrderState] = {}
        self.by_client: dict[str, str] = {}
        self.live: set[str] = set()
        self.inflight: dict[str, int] = {}
        self.c = counters
        self.ret = retention or Retention()
        self.settle_ns = grace_ms * 1_000_000

    def rebuild_indexes(self) -> None:
        """Recompute ``live`` and ``inflight`` from the entries (after a checkpoint load)."""
        self.live = {k for k, st in self.orders.items() if st.status not in TERMINAL}
        self.inflight = {k: inflight_since(st) for k, st in self.orders.items()
                         if st.status in IN_FLIGHT}

    # ------------------------------------------------------------------------------------ lookup

    def find(self, order_id: str = "", client_id: str = "") -> OrderState | None:
        """The entry for an exchange id, else for a client id (``None`` when neither is known)."""
        if order_id:
            st = self.orders.get(order_id)
            if st is not None:
                return st
        if client_id:
            key = self.by_client.get(client_id)
            if key is not None:
                return self.orders.get(key)
        return None

    def _entry_for(self, o: Order) -> OrderState | None:
        """The entry a venue record merges into: by id, else a pending (unlinked) client entry."""
        cur = self.orders.get(o.id)
        if cur is None and o.client_id:
            key = self.by_client.get(o.client_id)
            if key is not None:
                pending = self.orders[key]
                if not pending.id:
                    return pending
        return cur

    def _put(self, st: OrderState, res: Result) -> None:
        key = st.key
        orders, live = self.orders, self.live
        if st.status not in TERMINAL:
            live.add(key)
        elif key in live or key not in orders:  # just became terminal: queue its eviction
            live.discard(key)
            self.ret.order_terminal(key, st.last_updated_at)
        if st.status in IN_FLIGHT:
            self.inflight[key] = inflight_since(st)
        elif self.inflight:
            self.inflight.pop(key, None)
        orders[key] = st
        if st.client_id:
            self.by_client[st.client_id] = key
        res.changes.append(Change("order", key, st))

    def evict(self, key: str, res: Result) -> None:
        """Retention: forget a terminal entry (and its client-id index entry)."""
        st = self.orders.pop(key)
        cid = st.client_id
        if cid and self.by_client.get(cid) == key:
            del self.by_client[cid]
        self.c.bump("evicted_orders")
        res.changes.append(Change("order", key, None))

    def _drop_key(self, key: str, res: Result) -> None:
        st = self.orders.pop(key)
        self.live.discard(key)
        self.inflight.pop(key, None)
        if st.client_id and self.by_client.get(st.client_id) == key:
            del self.by_client[st.client_id]
        res.changes.append(Change("order", key, None))

    # ------------------------------------------------------------------------------ venue records

    def _gone(self, o: Order) -> bool:
        ret = self.ret  # inlined Retention.order_gone: this is the hot path of every new order
        return o.id in ret.order_tombs or (o.status == CLOSED and (
            (ret.order_ms > 0 and o.last_updated_at + ret.order_ms <= ret.now)
            or o.last_updated_at <= ret.order_floor))

    def apply_venue(self, o: Order, src: str, seq: int, recv_ns: int, res: Result,
                    closed_by: ClosedBy = "venue") -> bool:
        """Merge one venue record from ``src`` (ws | rest | cmd); True when it was applied."""
        cur = self._entry_for(o)
        c = self.c
        if cur is None and self._gone(o):
            c.bump("evicted_order_suppressed")
            res.dropped = "evicted"
            return False
        verdict, ws_seq, rest_seq = seq_verdict(cur, src, o.seq_no)
        if verdict == "duplicate":
            c.bump(f"duplicate_{src}_order")
            res.dropped = "duplicate"
            if src == "rest" and cur is not None:  # a re-poll of an unchanged order still tells
                self._settle_overlays(cur, o, recv_ns, seq, res)  # that a request did not execute
            return False
        if cur is not None and cur.venue_status:
            facts = facts_verdict(cur, o, src)
            if facts != "apply":
                if facts == "conflict":
                    c.bump("order_conflict")
                c.bump("stale_rest_suppressed" if src == "rest" else f"stale_{src}_order")
                res.dropped = "stale"
                # remember the per-source seq_no so an even older record is a duplicate
                kept = _replace(cur, ws_seq=ws_seq, rest_seq=rest_seq)
                self.orders[cur.key] = kept
                if src == "rest":
                    self._settle_overlays(kept, o, recv_ns, seq, res)
                return False
        self._put(self._venue_record(cur, o, src, seq, recv_ns, ws_seq, rest_seq, closed_by, res),
                  res)
        if src == "rest":
            c.bump("corrections")
            res.corrections += 1
        return True

    def _venue_record(self, cur: OrderState | None, o: Order, src: str, seq: int, recv_ns: int,
                      ws_seq: int, rest_seq: int, closed_by: ClosedBy, res: Result) -> OrderState:
        """The entry after applying ``o`` (re-keying a pending client entry to the exchange id)."""
        local, modify = overlays_after(cur, o, src, recv_ns, self.settle_ns)
        o = shared_flags(o)
        filled = shared_value(o.size - o.remaining_size)
        if cur is None:
            return OrderState(
                key=o.id, id=o.id, client_id=o.client_id, market=o.market, side=o.side, type=o.type,
                size=o.size, remaining_size=o.remaining_size, filled=filled, price=o.price,
                status=o.status, venue_status=o.status, last_updated_at=o.last_updated_at, order=o,
                source=src, ws_seq=ws_seq, rest_seq=rest_seq,
                closed_by=closed_by if o.status == CLOSED else "",
                last_live_seq=seq if src != "rest" else 0, last_recv_ns=recv_ns, stream_seq=seq)
        if cur.local == REJECTED:
            self.c.bump("rejected_overridden")
        if cur.local == PENDING_CANCEL or cur.modify_pending:
            self._count_cleared(cur, local, modify, o)
        if cur.key != o.id:
            self._drop_key(cur.key, res)
        keep_closed: ClosedBy = cur.closed_by if cur.venue_status == CLOSED else ""
        return _replace(
            cur, key=o.id, id=o.id, client_id=o.client_id, market=o.market, side=o.side, type=o.type,
            size=o.size, remaining_size=o.remaining_size, filled=filled, price=o.price,
            status=display(o.status, local), venue_status=o.status, local=local,
            last_updated_at=o.last_updated_at, order=o, source=src, ws_seq=ws_seq, rest_seq=rest_seq,
            closed_by=(keep_closed or closed_by) if o.status == CLOSED else "",
            modify_pending=modify, modify_size=cur.modify_size if modify else "",
            modify_price=cur.modify_price if modify else "",
            modify_ns=cur.modify_ns if modify else 0,
            reject_code="", reject_message="", absent_in="", absent_seq=0,
            last_live_seq=cur.last_live_seq if src == "rest" else seq, last_recv_ns=recv_ns,
            stream_seq=seq)

    def _count_cleared(self, cur: OrderState, local: str, modify: bool, o: Order) -> None:
        if o.status == CLOSED:
            return
        if cur.local == PENDING_CANCEL and local != PENDING_CANCEL:
            self.c.bump("cancel_not_executed")
        if cur.modify_pending and not modify:
            self.c.bump("modify_applied" if modify_done(cur, o) else "modify_not_executed")

    def _settle_overlays(self, cur: OrderState, o: Order, recv_ns: int, seq: int,
                         res: Result) -> None:
        """A stale REST record can still prove a pending cancel/modify did not execute."""
        if (cur.local != PENDING_CANCEL and not cur.modify_pending) or o.status == CLOSED:
            return
        local, modify = overlays_after(cur, o, "rest", recv_ns, self.settle_ns)
        if local == cur.local and modify == cur.modify_pending:
            return
        self._count_cleared(cur, local, modify, o)
        self._put(_replace(cur, local=local, status=display(cur.venue_status, local),
                           modify_pending=modify, modify_size=cur.modify_size if modify else "",
                           modify_price=cur.modify_price if modify else "",
                           modify_ns=cur.modify_ns if modify else 0, stream_seq=seq), res)
        res.dropped = ""

    # ------------------------------------------------------------------------- lookups / absence

    def lookup_result(self, order_id: str, client_id: str, found: bool, order: Order | None,
                      error: str, seq: int, recv_ns: int, res: Result) -> None:
        """A lookup answer. A found record merges as REST (closing if terminal). Not found closes
        only an entry the venue never showed: an UNKNOWN at once, a PENDING_NEW only once G has
        passed since it was submitted (before that its command may still be on its way). A failed
        lookup (``error``) proves nothing."""
        if found and order is not None:
            self.apply_venue(order, "rest", seq, recv_ns, res, closed_by="lookup")
            order_id, client_id = order.id, order.client_id
        cur = self.find(order_id, client_id)
        if cur is None:
            return
        never_shown = not found and not error and not cur.venue_status and cur.status not in TERMINAL
        if never_shown and (cur.local == UNKNOWN or recv_ns - cur.pending_ns >= self.settle_ns):
            self._put(_replace(cur, status=REJECTED, local=REJECTED, reject_code="NOT_FOUND",
                               closed_by="lookup_not_found", lookup_pending=False,
                               stream_seq=seq), res)
            res.dropped = ""
            return
        if never_shown:
            self.c.bump("lookup_not_found_in_flight")
        cur = self.orders[cur.key]
        if cur.lookup_pending or (found and cur.absent_in):
            absent = "" if found else cur.absent_in
            self.orders[cur.key] = _replace(cur, lookup_pending=False, absent_in=absent)

    def seen_in_snapshot(self, order_id: str, client_id: str) -> None:
        """A snapshot listed the order (even as a stale record): clear its absence flag."""
        cur = self.find(order_id, client_id)
        if cur is not None and cur.absent_in:
            self.orders[cur.key] = _replace(cur, absent_in="", absent_seq=0)

    def judge_absent(self, snap_id: str, start_seq: int, seen: set[str], quiet_ms: int,
                     quiet_ns: int, seq: int, res: Result, recent_ms: int = 0,
                     recent_ns: int = 0) -> None:
        """Rule 4-5 for orders: called when a snapshot's open-orders part is complete.

        An entry is judged only if it is live, not in the snapshot (by id or client id), and has no
        WS/command event after the marker. Its last update at or before ``quiet_ms`` (venue clock)
        and ``quiet_ns`` (recv clock), i.e. G before the marker: first absence is a lookup, absence
        in a second, later snapshot closes it (``closed_by="absent_twice"``). Updated inside G but
        not after ``recent_ms`` / ``recent_ns``: looked up only (a lookup never closes on absence,
        so a cache that missed a young order costs one request; a venue-side close whose push was
        lost, e.g. a self-trade expiry, is found by the next fast check instead of one later).
        Updated after ``recent_ms`` (younger than the lookup grace): a lookup with the reason
        :data:`LOOKUP_LATER`, which the shell sends only once the grace has passed (the REST
        snapshot may predate the order; the lookup then sees the venue's truth), so a close lost
        right after an update is found within the grace, not one fast interval later.
        """
        for key in sorted(self.live):
            st = self.orders[key]
            if (st.id and st.id in seen) or (st.client_id and CLIENT_PREFIX + st.client_id in seen):
                continue
            if st.last_live_seq > start_seq:
                continue
            if st.last_updated_at > quiet_ms or st.last_recv_ns > quiet_ns:
                if recent_ms and st.id and not st.lookup_pending:
                    if st.last_updated_at <= recent_ms and st.last_recv_ns <= recent_ns:
                        self.c.bump("absent_lookups_young")
                        self.orders[key] = _replace(st, lookup_pending=True)
                        res.actions.append(Action(kind="lookup", reason="absent_from_snapshot",
                                                  order_id=st.id, client_id=st.client_id))
                    else:  # younger than the lookup grace: ask once the venue's REST has caught up
                        self.c.bump("absent_lookups_later")
                        res.actions.append(Action(kind="lookup", reason=LOOKUP_LATER,
                                                  order_id=st.id, client_id=st.client_id))
                continue
            if st.absent_in and st.absent_in != snap_id and st.absent_seq < start_seq:
                self.c.bump("closed_absent_twice")
                self._put(_replace(st, status=CLOSED, venue_status=CLOSED, local="",
                                   closed_by="absent_twice", lookup_pending=False,
                                   modify_pending=False, stream_seq=seq), res)
                continue
            self.c.bump("absent_lookups")
            self._put(_replace(st, absent_in=snap_id, absent_seq=seq, lookup_pending=True,
                               stream_seq=seq), res)
            res.actions.append(Action(kind="lookup", reason="absent_from_snapshot", order_id=st.id,
                                      client_id=st.client_id))
