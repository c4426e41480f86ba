"""TWAP algo orders and the child orders they placed (pure: no clock, no I/O).

Algo state arrives only as :class:`~shared.bus.events.AlgoEvent` (the AsyncAPI has no algo
channel): from commands (the venue's answer to ``POST /algo/orders``, the read after a cancel)
and from the reconciler's REST snapshots (``GET /algo/orders``, ``/algo/orders-history``).

Merge: the venue's ``last_updated_at`` orders updates (an older one is dropped as stale; an equal
one is applied only when it changes nothing backwards: same or higher status rank). ``CLOSED`` is
terminal ("no changes once CLOSED"). ``strategy`` and ``signature_timestamp`` are kept from the
first event that carried them (only commands knows them).

Child orders. The venue's OrderResp has no algo id, so a child is recognised by what the venue
documents of them (ours, documented in the README): a ``MARKET`` order without client id, of the
algo's market and side, created while the algo ran (``created_at`` from the algo's to its
``end_at``, or to its last update once CLOSED, with ``LINK_SLACK_MS`` either side). Among several
running algos that fit, the one whose ``signature_timestamp`` equals the order's ``timestamp``
wins (the simulator's children carry the parent's); still ambiguous: not linked (counted as
``algo_child_ambiguous``). A linked order stays linked; ``filled`` is the sum of the children's
filled sizes as the state holds them (live between REST snapshots, since child orders and fills
do come on the WebSocket).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

import msgspec

from services.state.core.counters import Counters
from services.state.core.model import ZERO, Change, OrderState, Record, Result
from shared.bus.events import AlgoEvent
from shared.paradex.models.algo import AlgoOrder

LINK_SLACK_MS = 1000
MAX_CLOSED = 1000
"""CLOSED algos kept at most (the oldest go first; also evicted after the order retention)."""
ALGO_RANK = {"NEW": 1, "OPEN": 2, "CLOSED": 3}


class AlgoState(Record, frozen=True, kw_only=True):
    """One algo order as the state knows it: the venue's record, who placed it, its children
    (``child_order_ids``, oldest first) and their filled sizes summed (``filled``)."""

    id: str
    algo: AlgoOrder
    status: str
    strategy: str = ""
    signature_timestamp: int = 0
    child_order_ids: tuple[str, ...] = ()
    child_filled: tuple[Decimal, ...] = ()
    filled: Decimal = ZERO
    source: str = ""
    seq: int = 0


def _window(a: AlgoState) -> tuple[int, int]:
    algo = a.algo
    end = algo.end_at or (1 << 62)
    if a.status == "CLOSED" and algo.last_updated_at:
        end = min(end, algo.last_updated_at)
    return algo.created_at - LINK_SLACK_MS, end + LINK_SLACK_MS


def _fits(a: AlgoState, o: OrderState) -> bool:
    order = o.order
    if order is None or order.type != "MARKET" or order.client_id or o.strategy:
        return False
    if order.market != a.algo.market or order.side != a.algo.side:
        return False
    lo, hi = _window(a)
    return lo <= order.created_at <= hi


def _stale(cur: AlgoState, new: AlgoOrder) -> bool:
    old = cur.algo
    if new == old:
        return True
    if cur.status == "CLOSED":
        return True  # "no changes once CLOSED"
    if new.last_updated_at != old.last_updated_at:
        return new.last_updated_at < old.last_updated_at
    return ALGO_RANK.get(new.status, 0) < ALGO_RANK.get(cur.status, 0)


class AlgoTable:
    """Algo orders by id and the child -> parent links."""

    __slots__ = ("algos", "c", "parent")

    def __init__(self, counters: Counters) -> None:
        self.c = counters
        self.algos: dict[str, AlgoState] = {}
        self.parent: dict[str, str] = {}

    def restore(self, algos: dict[str, AlgoState]) -> None:
        """Take checkpointed algos (the links are rebuilt from them)."""
        self.algos = dict(algos)
        self.parent = {oid: a.id for a in algos.values() for oid in a.child_order_ids}

    def apply(self, ev: AlgoEvent, seq: int, orders: Iterable[OrderState], res: Result) -> None:
        """Fold one algo update; a new or changed algo adopts the held orders that fit it."""
        new = ev.algo
        cur = self.algos.get(new.id)
        if cur is not None and _stale(cur, new):
            if (ev.strategy and not cur.strategy) or (ev.signature_timestamp and not cur.signature_timestamp):
                # the venue part is stale (a snapshot read the algo before commands' event came), but
                # who placed it is known only to commands: keep that, nothing of the venue's record
                state = msgspec.structs.replace(
                    cur, strategy=cur.strategy or ev.strategy,
                    signature_timestamp=cur.signature_timestamp or ev.signature_timestamp, seq=seq)
                self.algos[new.id] = state
                self.c.bump("algo_placer_adopted")
                res.changes.append(Change("algo", new.id, state))
                return
            self.c.bump("stale_algo")
            res.dropped = "stale"
            return
        state = AlgoState(
            id=new.id, algo=new, status=new.status,
            strategy=cur.strategy if cur is not None and cur.strategy else ev.strategy,
            signature_timestamp=(cur.signature_timestamp if cur is not None and cur.signature_timestamp
                                 else ev.signature_timestamp),
            child_order_ids=cur.child_order_ids if cur is not None else (),
            child_filled=cur.child_filled if cur is not None else (),
            filled=cur.filled if cur is not None else ZERO, source=ev.source, seq=seq)
        self.c.bump("algo_updates")
        adopted = sorted((o for o in orders if o.id and o.id not in self.parent and _fits(state, o)),
                         key=lambda o: (o.order.created_at if o.order is not None else 0, o.id))
        for o in adopted:
            state = self._with_child(state, o)
        self.algos[new.id] = state
        res.changes.append(Change("algo", new.id, state))

    def order_changed(self, o: OrderState, res: Result) -> None:
        """An order was created or updated: link it to its algo, or refresh its algo's filled."""
        if not o.id:
            return
        parent = self.parent.get(o.id)
        if parent is None:
            order = o.order
            if order is None or order.type != "MARKET" or order.client_id or o.strategy:
                return  # the hot path: not a possible child
            fits = [a for a in self.algos.values() if _fits(a, o)]
            if len(fits) > 1 and o.order is not None:
                ts = o.order.timestamp
                fits = [a for a in fits if a.signature_timestamp and a.signature_timestamp == ts]
            if len(fits) != 1:
                if fits or any(_fits(a, o) for a in self.algos.values()):
                    self.c.bump("algo_child_ambiguous")
                return
            state = self._with_child(fits[0], o)
        else:
            a = self.algos[parent]
            i = a.child_order_ids.index(o.id)
            if a.child_filled[i] == o.filled:
                return
            filled = (*a.child_filled[:i], o.filled, *a.child_filled[i + 1:])
            state = msgspec.structs.replace(a, child_filled=filled, filled=sum(filled, ZERO))
        self.algos[state.id] = state
        res.changes.append(Change("algo", state.id, state))

    def evict(self, now_ms: int, retention_ms: int, res: Result) -> None:
        """Forget CLOSED algos last updated more than ``retention_ms`` before venue time
        ``now_ms``, and the oldest CLOSED ones beyond ``MAX_CLOSED`` (their links go too)."""
        closed = sorted((a.algo.last_updated_at, a.id) for a in self.algos.values() if a.status == "CLOSED")
        cut = [i for ts, i in closed if retention_ms and ts < now_ms - retention_ms]
        gone = set(cut)
        keep = [i for _, i in closed if i not in gone]
        cut += keep[: max(0, len(keep) - MAX_CLOSED)]
        for algo_id in cut:
            a = self.algos.pop(algo_id)
            for oid in a.child_order_ids:
                self.parent.pop(oid, None)
            self.c.bump("evicted_algos")
            res.changes.append(Change("algo", algo_id, None))

    def _with_child(self, a: AlgoState, o: OrderState) -> AlgoState:
        self.parent[o.id] = a.id
        self.c.bump("algo_children_linked")
        filled = (*a.child_filled, o.filled)
        return msgspec.structs.replace(a, child_order_ids=(*a.child_order_ids, o.id), child_filled=filled,
                                       filled=sum(filled, ZERO))
