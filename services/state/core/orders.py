"""Orders: the merge rules 1-3, 5 and 7 of DESIGN.md (pure, no I/O, no clock).

Entries are keyed by exchange id; an entry created by a command before the venue answered is keyed
``client:<client_id>`` and re-keyed to the exchange id when one is linked (a deletion of the old
key and a put of the new one are reported). ``by_client`` indexes client ids; ``live`` holds the
keys whose status is not terminal (the candidates for absence checks).

Venue records (WS pushes, REST snapshot records, lookups, the POST answer inside ``CmdAccepted``):

1. same source, ``seq_no`` not above the last applied one of that source: duplicate, dropped;
2. a record that would move a monotonic fact back (venue rank, filled size, ``last_updated_at``)
   is dropped, whatever its source (``stale_ws`` / ``stale_rest_suppressed``);
3. a REST record must also be strictly ahead on at least one fact, else it is suppressed as stale.
   Requiring "not behind on any fact" in addition to the design's "ahead on one" is deliberate:
   a consistent venue never produces a record that is ahead on one fact and behind on another, and
   if one appears the monotonic facts still win (counted as ``order_conflict``).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import msgspec

from services.state.core.counters import Counters
from services.state.core.model import (
    CLOSED,
    NEW,
    PENDING_CANCEL,
    PENDING_NEW,
    REJECTED,
    TERMINAL,
    UNKNOWN,
    VENUE_RANK,
    ZERO,
    Action,
    Change,
    ClosedBy,
    OrderState,
    Result,
)
from services.state.core.retention import Retention
from shared.paradex.models.account import Order

_replace = msgspec.structs.replace
CLIENT_PREFIX = "client:"


def _dec(text: str) -> Decimal:
    try:
        return Decimal(text) if text else ZERO
    except InvalidOperation:
        return ZERO


class OrderTable:
    """All orders of the account, with the client-id index and the set of live keys."""

    __slots__ = ("by_client", "c", "live", "orders", "ret")

    def __init__(self, counters: Counters, retention: Retention | None = None) -> None:
        self.orders: dict[str, OrderState] = {}
        self.by_client: dict[str, str] = {}
        self.live: set[str] = set()
        self.c = counters
        self.ret = retention or Retention()

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

    def _put(self, st: OrderState, res: Result) -> None:
        key = st.key
        orders, live = self.orders, self.live
        if st.status not in TERMINAL:
            live.add(key)
        elif key in live or key not in orders:  # just became terminal: queue its eviction
            live.discard(key)
            self.ret.order_terminal(key, st.last_updated_at)
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
        del self.orders[key]
        self.live.discard(key)
        res.changes.append(Change("order", key, None))

    # ------------------------------------------------------------------------------ venue records

    def apply_venue(self, o: Order, src: str, seq: int, recv_ns: int, res: Result,
                    closed_by: ClosedBy = "venue") -> bool:
        """Merge one venue record from ``src`` (ws | rest | cmd); True when it was applied."""
        cur = self.orders.get(o.id)
        if cur is None and o.client_id:
            key = self.by_client.get(o.client_id)
            if key is not None:
                pending = self.orders[key]
                if not pending.id:
                    cur = pending
        c = self.c
        if cur is None:
            ret = self.ret  # inlined Retention.order_gone: this is the hot path of every new order
            if o.id in ret.order_tombs or (o.status == CLOSED and (
                    (ret.order_ms and o.last_updated_at + ret.order_ms <= ret.now)
                    or o.last_updated_at <= ret.order_floor)):
                c.bump("evicted_order_suppressed")
                res.dropped = "evicted"
                return False
        ws_seq = rest_seq = 0
        filled = o.size - o.remaining_size
        if cur is not None:
            ws_seq, rest_seq = cur.ws_seq, cur.rest_seq
            if src == "ws":
                if o.seq_no <= ws_seq:
                    c.bump("duplicate_ws_order")
                    res.dropped = "duplicate"
                    return False
                ws_seq = o.seq_no
            elif src == "rest":
                if o.seq_no <= rest_seq:
                    c.bump("duplicate_rest_order")
                    res.dropped = "duplicate"
                    return False
                rest_seq = o.seq_no
            if cur.venue_status:
                new_rank = VENUE_RANK.get(o.status, 0)
                cur_rank = VENUE_RANK.get(cur.venue_status, 0)
                lua = o.last_updated_at
                behind = new_rank < cur_rank or filled < cur.filled or lua < cur.last_updated_at
                ahead = new_rank > cur_rank or filled > cur.filled or lua > cur.last_updated_at
                if behind or (src == "rest" and not ahead):
                    if behind and ahead:
                        c.bump("order_conflict")
                    c.bump("stale_rest_suppressed" if src == "rest" else f"stale_{src}_order")
                    res.dropped = "stale"
                    # remember the per-source seq_no so an even older record is a duplicate
                    self.orders[cur.key] = _replace(cur, ws_seq=ws_seq, rest_seq=rest_seq)
                    return False
        elif src == "ws":
            ws_seq = o.seq_no
        elif src == "rest":
            rest_seq = o.seq_no

        local = ""
        strategy = ""
        keep_closed: ClosedBy = ""
        live_seq = seq if src != "rest" else 0
        recv = recv_ns
        if cur is not None:
            local = cur.local
            strategy = cur.strategy
            keep_closed = cur.closed_by if cur.venue_status == CLOSED else ""
            if local == REJECTED:
                c.bump("rejected_overridden")
            if local != PENDING_CANCEL:
                local = ""
            if src == "rest":
                live_seq = cur.last_live_seq
            if cur.key != o.id:
                self._drop_key(cur.key, res)
        status = o.status
        if status == CLOSED:
            local = ""
        elif local == PENDING_CANCEL:
            status = PENDING_CANCEL
        st = OrderState(
            key=o.id, id=o.id, client_id=o.client_id, market=o.market, side=o.side, type=o.type,
            size=o.size, remaining_size=o.remaining_size, filled=filled, price=o.price,
            status=status, venue_status=o.status, local=local, last_updated_at=o.last_updated_at,
            order=o, source=src, ws_seq=ws_seq, rest_seq=rest_seq,
            closed_by=(keep_closed or closed_by) if o.status == CLOSED else "",
            strategy=strategy, lookup_pending=cur.lookup_pending if cur is not None else False,
            last_live_seq=live_seq, last_recv_ns=recv, stream_seq=seq,
        )
        self._put(st, res)
        if src == "rest":
            c.bump("corrections")
            res.corrections += 1
        return True

    # ---------------------------------------------------------------------------------- commands

    def submitted(self, client_id: str, strategy: str, market: str, side: str, type_: str, size: str,
                  price: str, seq: int, recv_ns: int, res: Result) -> None:
        """``CmdSubmitted``: a PENDING_NEW entry under the client id (unless it already exists)."""
        cur = self.find(client_id=client_id)
        if cur is not None and cur.status not in TERMINAL:
            self.c.bump("cmd_submitted_existing")
            res.dropped = "exists"
            return
        sz = _dec(size)
        self._put(OrderState(
            key=CLIENT_PREFIX + client_id, client_id=client_id, market=market, side=side, type=type_,
            size=sz, remaining_size=sz, price=_dec(price), status=PENDING_NEW, local=PENDING_NEW,
            strategy=strategy, last_live_seq=seq, last_recv_ns=recv_ns, stream_seq=seq,
        ), res)

    def accepted(self, client_id: str, order_id: str, order: Order | None, seq: int, recv_ns: int,
                 res: Result) -> None:
        """``CmdAccepted``: link the exchange id; the POST answer is merged as a ``cmd`` record."""
        if order is not None:
            self.apply_venue(order, "cmd", seq, recv_ns, res)
            res.dropped = ""
        cur = self.find(order_id, client_id)
        if cur is None and order_id in self.ret.order_tombs:  # evicted already: a late answer
            self.c.bump("evicted_order_suppressed")
            res.dropped = "evicted"
            return
        if cur is None:
            self._put(OrderState(key=order_id, id=order_id, client_id=client_id, status=NEW,
                                 venue_status=NEW, source="cmd", last_live_seq=seq,
                                 last_recv_ns=recv_ns, stream_seq=seq), res)
        elif not cur.id:
            self._drop_key(cur.key, res)
            local = PENDING_CANCEL if cur.local == PENDING_CANCEL else ""
            self._put(_replace(cur, key=order_id, id=order_id, venue_status=NEW, local=local,
                               status=local or NEW, last_live_seq=seq, last_recv_ns=recv_ns,
                               stream_seq=seq), res)

    def rejected(self, client_id: str, code: str, message: str, seq: int, recv_ns: int,
                 res: Result) -> None:
        """``CmdRejected``: terminal REJECTED, unless the venue already showed the order exists."""
        cur = self.find(client_id=client_id)
        if cur is not None and (cur.venue_status or cur.status in TERMINAL):
            self.c.bump("cmd_rejected_ignored")
            res.dropped = "venue_evidence"
            return
        base = cur or OrderState(key=CLIENT_PREFIX + client_id, client_id=client_id, status=REJECTED)
        self._put(_replace(base, status=REJECTED, local=REJECTED, reject_code=code,
                           reject_message=message, closed_by="rejected", last_live_seq=seq,
                           last_recv_ns=recv_ns, stream_seq=seq), res)

    def cancel_requested(self, order_id: str, client_id: str, seq: int, recv_ns: int,
                         res: Result) -> None:
        """``CmdCancelRequested``: PENDING_CANCEL until the venue reports a terminal status."""
        cur = self.find(order_id, client_id)
        if cur is None or cur.status in TERMINAL:
            self.c.bump("cmd_cancel_unknown" if cur is None else "cmd_cancel_terminal")
            res.dropped = "not_cancellable"
            return
        self._put(_replace(cur, status=PENDING_CANCEL, local=PENDING_CANCEL, last_live_seq=seq,
                           last_recv_ns=recv_ns, stream_seq=seq), res)

    def modify_requested(self, order_id: str, client_id: str, seq: int, res: Result) -> None:
        """``CmdModifyRequested``: flag the entry until the next venue record."""
        cur = self.find(order_id, client_id)
        if cur is None or cur.status in TERMINAL:
            res.dropped = "not_modifiable"
            return
        self._put(_replace(cur, modify_pending=True, last_live_seq=seq, stream_seq=seq), res)

    def unknown(self, client_id: str, seq: int, recv_ns: int, res: Result) -> None:
        """``CmdUnknown``: UNKNOWN plus a lookup action, unless the venue already answered."""
        cur = self.find(client_id=client_id)
        if cur is not None and (cur.venue_status or cur.status in TERMINAL):
            res.dropped = "venue_evidence"
            return
        base = cur or OrderState(key=CLIENT_PREFIX + client_id, client_id=client_id, status=UNKNOWN)
        # a cancel already requested (by client id) stays visible: PENDING_CANCEL ranks above UNKNOWN
        status = PENDING_CANCEL if base.local == PENDING_CANCEL else UNKNOWN
        self._put(_replace(base, status=status, local=status, lookup_pending=True,
                           last_live_seq=seq, last_recv_ns=recv_ns, stream_seq=seq), res)
        res.actions.append(Action(kind="lookup", reason="cmd_unknown", order_id=base.id,
                                  client_id=client_id))

    # ------------------------------------------------------------------------- lookups / absence

    def lookup_result(self, order_id: str, client_id: str, found: bool, order: Order | None,
                      seq: int, recv_ns: int, res: Result) -> None:
        """A lookup answer: a found record merges as REST (closing if terminal); not-found closes
        only an entry the venue never showed (it never reached the venue)."""
        if found and order is not None:
            self.apply_venue(order, "rest", seq, recv_ns, res, closed_by="lookup")
            order_id, client_id = order.id, order.client_id
        cur = self.find(order_id, client_id)
        if cur is None:
            return
        if not found and not cur.venue_status and cur.status not in TERMINAL:
            self._put(_replace(cur, status=REJECTED, local=REJECTED, reject_code="NOT_FOUND",
                               closed_by="lookup_not_found", lookup_pending=False,
                               stream_seq=seq), res)
            res.dropped = ""
        elif cur.lookup_pending or (found and cur.absent_in):
            absent = "" if found else cur.absent_in
            self.orders[cur.key] = _replace(cur, lookup_pending=False, absent_in=absent)

    def seen_in_snapshot(self, order_id: str, client_id: str) -> None:
        """A snapshot listed the order (even as a stale record): clear its absence flag."""
        cur = self.find(order_id, client_id)
        if cur is not None and cur.absent_in:
            self.orders[cur.key] = _replace(cur, absent_in="", absent_seq=0)

    def judge_absent(self, snap_id: str, start_seq: int, seen: set[str], quiet_ms: int,
                     quiet_ns: int, seq: int, res: Result) -> None:
        """Rule 4-5 for orders: called when a snapshot's open-orders part is complete.

        An entry is judged only if it is live, not in the snapshot (by id or client id), has no
        WS/command event after the marker, and its last update is at or before ``quiet_ms`` (venue
        clock) and ``quiet_ns`` (recv clock). First absence: lookup action. Absence in a second,
        later snapshot: closed (``closed_by="absent_twice"``).
        """
        for key in sorted(self.live):
            st = self.orders[key]
            if (st.id and st.id in seen) or (st.client_id and CLIENT_PREFIX + st.client_id in seen):
                continue
            if st.last_live_seq > start_seq or st.last_updated_at > quiet_ms or st.last_recv_ns > quiet_ns:
                continue
            if st.absent_in and st.absent_in != snap_id and st.absent_seq < start_seq:
                self.c.bump("closed_absent_twice")
                self._put(_replace(st, status=CLOSED, venue_status=CLOSED, local="",
                                   closed_by="absent_twice", lookup_pending=False, stream_seq=seq),
                          res)
                continue
            self.c.bump("absent_lookups")
            self._put(_replace(st, absent_in=snap_id, absent_seq=seq, lookup_pending=True,
                               stream_seq=seq), res)
            res.actions.append(Action(kind="lookup", reason="absent_from_snapshot", order_id=st.id,
                                      client_id=st.client_id))
