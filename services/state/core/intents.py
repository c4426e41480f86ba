"""Command events on orders (rule 7 of DESIGN.md and its version-2 outcomes; pure, no clock).

Command events make intent visible before the venue answers, and record the definite and the
ambiguous outcomes the commands service classified:

- ``CmdSubmitted``: PENDING_NEW under ``client:<client_id>``; ``CmdAccepted``: the exchange id
  linked; ``CmdRejected``: terminal REJECTED (unless the venue already showed the order);
  ``CmdUnknown``: UNKNOWN plus a lookup, never a resend; ``CmdNotSent``: nothing reached the
  venue, the PENDING_NEW entry is withdrawn (the same client id may be submitted again);
- ``CmdCancelRequested``: PENDING_CANCEL; ``CmdCancelFailed`` (a definite refusal): PENDING_CANCEL
  cleared at once, the order keeps its venue status and records the error; ``CmdCancelUnknown``:
  stays PENDING_CANCEL, looked up;
- ``CmdModifyRequested``: PENDING_MODIFY with the requested price/size; ``CmdModifyFailed`` /
  ``CmdModifyUnknown``: the same as for cancels.

Venue evidence always wins over an intent: a refusal or a not-sent for an order the venue has
shown is ignored (counted), and a cancel/modify outcome for a terminal order changes nothing.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

import msgspec

from services.state.core.model import (
    CLOSED,
    NEW,
    PENDING_CANCEL,
    PENDING_MODIFY,
    PENDING_NEW,
    REJECTED,
    TERMINAL,
    UNKNOWN,
    ZERO,
    Action,
    ClosedBy,
    OrderState,
    Result,
)

if TYPE_CHECKING:
    from services.state.core.counters import Counters
    from services.state.core.retention import Retention
    from shared.paradex.models.account import Order

_replace = msgspec.structs.replace
_CLIENT = "client:"


def dec(text: str) -> Decimal:
    """``text`` as a Decimal (0 when empty or malformed: command fields are free text)."""
    try:
        return Decimal(text) if text else ZERO
    except InvalidOperation:
        return ZERO


def display(venue_status: str, local: str) -> str:
    """The status a strategy reads: an overlay over a live venue status, else the venue's (an
    entry the venue never showed displays its local status)."""
    if not venue_status:
        return local
    if venue_status != CLOSED and local in (PENDING_CANCEL, PENDING_MODIFY):
        return local
    return venue_status


class CommandRules:
    """Mixed into :class:`~services.state.core.orders.OrderTable`: the command-event rules."""

    orders: dict[str, OrderState]
    by_client: dict[str, str]
    live: set[str]
    inflight: dict[str, int]
    c: Counters
    ret: Retention

    if TYPE_CHECKING:  # provided by OrderTable
        def find(self, order_id: str = "", client_id: str = "") -> OrderState | None: ...
        def _put(self, st: OrderState, res: Result) -> None: ...
        def _drop_key(self, key: str, res: Result) -> None: ...
        def apply_venue(self, o: Order, src: str, seq: int, recv_ns: int, res: Result,
                        closed_by: ClosedBy = "venue") -> bool: ...

    # -------------------------------------------------------------------------------- placing

    def submitted(self, client_id: str, strategy: str, market: str, side: str, type_: str, size: str,
                  price: str, seq: int, recv_ns: int, res: Result) -> None:
        """``CmdSubmitted``: a PENDING_NEW entry under the client id (unless it already exists)."""
        cur = self.find(client_id=client_id)
        if cur is not None and cur.status not in TERMINAL:
            self.c.bump("cmd_submitted_existing")
            res.dropped = "exists"
            return
        sz = dec(size)
        self._put(OrderState(
            key=_CLIENT + client_id, client_id=client_id, market=market, side=side, type=type_,
            size=sz, remaining_size=sz, price=dec(price), status=PENDING_NEW, local=PENDING_NEW,
            strategy=strategy, pending_ns=recv_ns, last_live_seq=seq, last_recv_ns=recv_ns,
            stream_seq=seq,
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
        base = cur or OrderState(key=_CLIENT + client_id, client_id=client_id, status=REJECTED)
        self._put(_replace(base, status=REJECTED, local=REJECTED, reject_code=code,
                           reject_message=message, closed_by="rejected", last_live_seq=seq,
                           last_recv_ns=recv_ns, stream_seq=seq), res)

    def unknown(self, client_id: str, seq: int, recv_ns: int, res: Result) -> None:
        """``CmdUnknown``: UNKNOWN plus a lookup action, unless the venue already answered."""
        cur = self.find(client_id=client_id)
        if cur is not None and (cur.venue_status or cur.status in TERMINAL):
            res.dropped = "venue_evidence"
            return
        base = cur or OrderState(key=_CLIENT + client_id, client_id=client_id, status=UNKNOWN)
        # a cancel already requested (by client id) stays visible: PENDING_CANCEL ranks above UNKNOWN
        status = PENDING_CANCEL if base.local == PENDING_CANCEL else UNKNOWN
        self._put(_replace(base, status=status, local=status, lookup_pending=True,
                           pending_ns=recv_ns, last_live_seq=seq, last_recv_ns=recv_ns,
                           stream_seq=seq), res)
        res.actions.append(Action(kind="lookup", reason="cmd_unknown", order_id=base.id,
                                  client_id=client_id))

    def not_sent(self, client_id: str, seq: int, res: Result) -> None:
        """``CmdNotSent``: no byte reached the venue; withdraw the entry the venue never showed."""
        cur = self.find(client_id=client_id)
        if cur is None or cur.id or cur.venue_status or cur.status in TERMINAL:
            self.c.bump("cmd_not_sent_ignored")
            res.dropped = "venue_evidence" if cur is not None else "unknown_order"
            return
        self.c.bump("cmd_not_sent")
        self._drop_key(cur.key, res)

    # ------------------------------------------------------------------------------- cancelling

    def cancel_requested(self, order_id: str, client_id: str, seq: int, recv_ns: int,
                         res: Result) -> None:
        """``CmdCancelRequested``: PENDING_CANCEL until the venue reports a terminal status."""
        cur = self.find(order_id, client_id)
        if cur is None or cur.status in TERMINAL:
            self.c.bump("cmd_cancel_unknown" if cur is None else "cmd_cancel_terminal")
            res.dropped = "not_cancellable"
            return
        self._put(_replace(cur, status=PENDING_CANCEL, local=PENDING_CANCEL, pending_ns=recv_ns,
                           last_live_seq=seq, last_recv_ns=recv_ns, stream_seq=seq), res)

    def cancel_failed(self, order_id: str, client_id: str, code: str, message: str, seq: int,
                      res: Result) -> None:
        """``CmdCancelFailed``: the venue refused the cancel; clear PENDING_CANCEL, keep the error."""
        cur = self._outcome_target(order_id, client_id, "cancel", res)
        if cur is None:
            return
        local = cur.local
        if local == PENDING_CANCEL:
            local = PENDING_MODIFY if cur.modify_pending else ""
            if not cur.venue_status:
                local = UNKNOWN if cur.lookup_pending else PENDING_NEW
            self.c.bump("cancel_refused")
        self._put(_replace(cur, local=local, status=display(cur.venue_status, local), error_op="cancel",
                           error_code=code, error_message=message, stream_seq=seq), res)

    def cancel_unknown(self, order_id: str, client_id: str, seq: int, res: Result) -> None:
        """``CmdCancelUnknown``: the cancel may or may not have executed: look the order up."""
        cur = self._outcome_target(order_id, client_id, "cancel", res)
        if cur is None:
            return
        self._put(_replace(cur, lookup_pending=True, stream_seq=seq), res)
        res.actions.append(Action(kind="lookup", reason="cancel_unknown", order_id=cur.id,
                                  client_id=cur.client_id))

    # -------------------------------------------------------------------------------- modifying

    def modify_requested(self, order_id: str, client_id: str, size: str, price: str, seq: int,
                         recv_ns: int, res: Result) -> None:
        """``CmdModifyRequested``: PENDING_MODIFY (under a PENDING_CANCEL) until a venue record
        shows the requested values, the order closes, or the venue refuses."""
        cur = self.find(order_id, client_id)
        if cur is None or cur.status in TERMINAL or not cur.venue_status:
            res.dropped = "not_modifiable"
            return
        local = PENDING_CANCEL if cur.local == PENDING_CANCEL else PENDING_MODIFY
        self._put(_replace(cur, modify_pending=True, modify_size=size, modify_price=price,
                           modify_ns=recv_ns, local=local, status=display(cur.venue_status, local),
                           last_live_seq=seq, last_recv_ns=recv_ns, stream_seq=seq), res)

    def modify_failed(self, order_id: str, client_id: str, code: str, message: str, seq: int,
                      res: Result) -> None:
        """``CmdModifyFailed``: the venue refused the modify; clear PENDING_MODIFY, keep the error."""
        cur = self._outcome_target(order_id, client_id, "modify", res)
        if cur is None:
            return
        local = "" if cur.local == PENDING_MODIFY else cur.local
        if cur.modify_pending:
            self.c.bump("modify_refused")
        self._put(_replace(cur, local=local, status=display(cur.venue_status, local), modify_pending=False,
                           modify_size="", modify_price="", modify_ns=0, error_op="modify",
                           error_code=code, error_message=message, stream_seq=seq), res)

    def modify_unknown(self, order_id: str, client_id: str, seq: int, res: Result) -> None:
        """``CmdModifyUnknown``: the modify may or may not have executed: look the order up."""
        cur = self._outcome_target(order_id, client_id, "modify", res)
        if cur is None:
            return
        self._put(_replace(cur, lookup_pending=True, stream_seq=seq), res)
        res.actions.append(Action(kind="lookup", reason="modify_unknown", order_id=cur.id,
                                  client_id=cur.client_id))

    def _outcome_target(self, order_id: str, client_id: str, op: str,
                        res: Result) -> OrderState | None:
        """The live entry an outcome event is about (None, counted, when unknown or terminal)."""
        cur = self.find(order_id, client_id)
        if cur is None or cur.status in TERMINAL:
            self.c.bump(f"cmd_{op}_outcome_{'unknown_order' if cur is None else 'terminal'}")
            res.dropped = "unknown_order" if cur is None else "terminal"
            return None
        return cur

