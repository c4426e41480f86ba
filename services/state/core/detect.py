"""Mixed into :class:`~services.state.core.core.StateCore`: feeds :mod:`services.state.core.gaps`
with what each event showed, promotes suspects once the stream passed their settle window, and
judges the answers of targeted reconciliations (a complete part, a lookup) that did not explain
a suspect (rebase). Pure, like everything in the core."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from services.state.core.gaps import (
    BALANCE_CHAIN,
    FILL_MISSING,
    FILL_UNSEEN,
    ORDER_BEHIND,
    ORDER_UNKNOWN,
    POSITION_FILLS,
    Gaps,
)
from services.state.core.model import Result

if TYPE_CHECKING:
    from services.state.core.entities import EntityTables
    from services.state.core.orders import OrderTable
    from services.state.core.retention import Retention
    from services.state.core.tracking import SnapshotRun
    from shared.paradex.models.account import Fill


def signed(f: Fill) -> Decimal:
    """The fill's effect on the position size (BUY +, SELL -)."""
    return f.size if f.side == "BUY" else -f.size


class Detection:
    """The glue between the tables and the gap checks."""

    gaps: Gaps
    orders: OrderTable
    entities: EntityTables
    retention: Retention

    def _check_order(self, order_id: str, src: str, seq: int, recv_ns: int) -> None:
        st = self.orders.orders.get(order_id)
        if st is None or not st.venue_status:
            return
        created = st.order.created_at if st.order is not None else 0
        self.gaps.order_seen(order_id, st.filled, st.last_updated_at, created, src, seq, recv_ns)

    def _check_balance_fill(self, fill_id: str, created_at: int, seq: int, recv_ns: int) -> None:
        """A live balance change names ``fill_id``: we should hold that fill (or soon)."""
        if (fill_id and fill_id not in self.entities.fills
                and fill_id not in self.retention.fill_tombs):
            self.gaps.raise_(FILL_UNSEEN, fill_id, recv_ns, seq, created_at)

    def _check_fill(self, f: Fill, src: str, seq: int, recv_ns: int) -> None:
        """A fill was added (not a duplicate): count it for its order and its market."""
        if self.gaps.suspects:
            self.gaps.resolve(FILL_UNSEEN, f.id)
        st = self.orders.orders.get(f.order_id)
        gone = st is None and f.order_id in self.retention.order_tombs
        if not gone:
            known = (st.filled, st.last_updated_at) if st is not None and st.venue_status else None
            self.gaps.fill_seen(f.order_id, f.size, f.created_at, known, src, seq, recv_ns)
        held = self.entities.fills.get(f.id)
        if held is not None and held.busted:
            return  # busted before it arrived: the position never reflects it
        self._net(f.market, signed(f), f.created_at, src, seq, recv_ns)

    def _net(self, market: str, delta: Decimal, ts: int, src: str, seq: int, recv_ns: int) -> None:
        pos = self.entities.positions.get(market)
        known = (pos.position.size, pos.venue_ts) if pos is not None else None
        self.gaps.position_fill(market, delta, ts, known, src, seq, recv_ns)

    def _check_position(self, market: str, src: str, seq: int, recv_ns: int) -> None:
        pos = self.entities.positions.get(market)
        if pos is not None:
            self.gaps.position_seen(market, pos.position.size, pos.venue_ts, src, seq, recv_ns)

    def _check_bust(self, fill_id: str, ts: int, seq: int, recv_ns: int, src: str) -> None:
        f = self.entities.fills.get(fill_id)
        if f is not None:
            self._net(f.fill.market, -signed(f.fill), ts, src, seq, recv_ns)

    def _promote(self, recv_ns: int, seq: int, res: Result) -> None:
        """The stream passed the settle window of some suspects: they are detections now."""
        for s in self.gaps.promote(recv_ns):
            if s.kind == BALANCE_CHAIN:
                self.entities.book.release(s.key, seq, res)

    def _answer_snapshot(self, run: SnapshotRun) -> None:
        """A targeted (or full) snapshot finished: rebase what its complete parts did not explain.

        Only suspects raised before the snapshot's marker, and (for fills) only when the parts
        fetched fills from at or before where the suspect needs them."""
        done = set(run.complete_parts)
        fills_ok = "fills" in done
        gaps = self.gaps
        if "balances" in done:
            for s in gaps.of_kind(BALANCE_CHAIN):
                if s.seq < run.start_seq and s.detected:
                    self.entities.book.confirmed(s.key)  # the REST record was the best answer
        for s in gaps.of_kind(FILL_MISSING, FILL_UNSEEN, POSITION_FILLS):
            if s.seq >= run.start_seq or not fills_ok or (run.since_ms and run.since_ms > s.since_ms):
                continue
            if s.kind == FILL_UNSEEN:  # the venue's fills do not hold it either
                gaps.suspects.pop(f"{FILL_UNSEEN}:{s.key}", None)
                gaps.c.bump(f"gap_rebased.{FILL_UNSEEN}")
            elif s.kind == FILL_MISSING:
                st = self.orders.orders.get(s.key)
                if st is not None:
                    gaps.rebase_order(s.key, st.filled, st.last_updated_at)
            elif "positions" in done:
                pos = self.entities.positions.get(s.key)
                if pos is not None:
                    gaps.rebase_position(s.key, pos.position.size, pos.venue_ts)

    def _answer_lookup(self, order_id: str, found: bool, seq: int) -> None:
        """A lookup of ``order_id`` was answered: rebase what the venue's record did not explain."""
        gaps = self.gaps
        for kind in (ORDER_BEHIND, ORDER_UNKNOWN):
            s = gaps.suspects.get(f"{kind}:{order_id}")
            if s is None or s.seq >= seq:
                continue
            st = self.orders.orders.get(order_id)
            if found and st is not None and st.venue_status:
                gaps.rebase_order(order_id, st.filled, st.last_updated_at)
            elif not found:
                gaps.resolve(kind, order_id)
                self.gaps.c.bump(f"gap_not_found.{kind}")

    def _forget_evicted(self, res: Result) -> None:
        """Retention deleted some orders: drop their tallies and suspects."""
        for ch in res.changes:
            if ch.kind == "order" and ch.value is None and not ch.key.startswith("client:"):
                if ch.key not in self.orders.orders:
                    self.gaps.forget_order(ch.key)
