"""A true venue history and what each source saw of it (for the state-core property tests).

:class:`Venue` plays a script of operations (place / fill / cancel / bust / snapshot / disconnect /
wait) on a tiny exchange with exact state and a history of its states by venue time. It produces:

- the WebSocket pushes (orders, fills, positions, balance changes, tradebusts) with drops,
  duplicates, reordering (random latency) and disconnect windows (FeedStatus, conn_epoch bumps);
- command events (submitted / accepted / rejected / unknown / not sent; cancel and modify
  requested, refused, ambiguous with or without effect);
- REST snapshots (marker, records as of an older time served from a cache at most G old, parts,
  finished), including closed orders (order history), fills and tradebusts.

Everything is merged into one ACCOUNT stream by receive time. Lookups requested by the core are
answered by :meth:`Venue.lookup` from the truth at the time of the answer.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import msgspec

from shared.bus import (
    BalanceChange,
    BalanceRecord,
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
    FeedStatus,
    LookupResult,
    SnapshotFinished,
    SnapshotPart,
    SnapshotStarted,
    TradebustEvent,
)
from shared.bus.events import SnapshotPartName
from shared.paradex.models.account import Balance, BalanceEvent, Fill, Order, Position, Tradebust
from tests.state.builders import ACCOUNT, MS, T0, fill, fill_ev, order, order_ev, position, position_ev

MARKETS = ("BTC-USD-PERP", "ETH-USD-PERP")
REST_SEQ_BASE = 10**12  # REST seq_no space: larger than WS's, never to be compared with it
_replace = msgspec.structs.replace


@dataclass
class Truth:
    """The venue's state at one moment (immutable records, copied dicts)."""

    orders: dict[str, Order] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    positions: dict[str, Position] = field(default_factory=dict)
    pos_versions: dict[str, int] = field(default_factory=dict)
    balance: Decimal = Decimal(10000)
    balance_ts: int = T0
    fills: dict[str, Fill] = field(default_factory=dict)
    busted: set[str] = field(default_factory=set)

    def copy(self) -> Truth:
        return Truth(dict(self.orders), dict(self.versions), dict(self.positions),
                     dict(self.pos_versions), self.balance, self.balance_ts, dict(self.fills),
                     set(self.busted))


@dataclass
class Noise:
    drop: float = 0.1
    dup: float = 0.1
    max_latency: int = 30


class Venue:
    """Plays a script; collects ``(recv_ms, order, event)`` items for the ACCOUNT stream."""

    def __init__(self, rng: random.Random, noise: Noise, grace_ms: int) -> None:
        self.rng, self.noise, self.grace = rng, noise, grace_ms
        self.t = T0
        self.now = Truth()
        self.history: list[tuple[int, Truth]] = [(self.t, self.now.copy())]
        self.items: list[tuple[int, int, Any]] = []
        self.n = 0
        self.epoch = 1
        self.down: tuple[int, int] | None = None  # current/last disconnect window (venue ms)
        self.windows: list[tuple[int, int]] = []
        self.client_ids: list[str] = []
        self.cmd_only: dict[str, str] = {}  # client_id -> "rejected" | "lost" | "not_sent"
        self.n_snap = 0
        self._emit(self.t, FeedStatus(source="ws", state="subscribed", epoch=1, recv_ns=self.t * MS))

    # ------------------------------------------------------------------------------- plumbing

    def _emit(self, recv_ms: int, ev: Any) -> None:
        self.n += 1
        self.items.append((recv_ms, self.n, ev))

    def _tick(self, ms: int = 1) -> int:
        self.t += ms
        return self.t

    def _commit(self) -> None:
        self.history.append((self.t, self.now.copy()))

    def _ws_lost(self, t: int, recv: int) -> bool:
        return any(a <= t <= b or a <= recv <= b for a, b in self.windows)

    def _ws(self, make: Any) -> None:
        """Emit a WS push made by ``make(recv_ms, epoch)`` with latency, drops and duplicates."""
        t = self.t
        recv = t + self.rng.randint(1, self.noise.max_latency)
        if self._ws_lost(t, recv) or self.rng.random() < self.noise.drop:
            return
        epoch = self.epoch
        self._emit(recv, make(recv, epoch))
        if self.rng.random() < self.noise.dup:
            later = recv + self.rng.randint(1, 3 * self.noise.max_latency)
            if not self._ws_lost(t, later):
                self._emit(later, make(later, epoch))

    def _set_order(self, o: Order) -> None:
        v = self.now.versions.get(o.id, 0) + 1
        self.now.versions[o.id] = v
        o = _replace(o, seq_no=v, last_updated_at=self.t)
        self.now.orders[o.id] = o
        self._ws(lambda r, e: order_ev(o, "ws", recv_ms=r, epoch=e))

    def _move_position(self, market: str, delta: Decimal) -> None:
        cur = self.now.positions.get(market)
        size = (cur.size if cur else Decimal(0)) + delta
        v = self.now.pos_versions.get(market, 0) + 1
        self.now.pos_versions[market] = v
        p = position(market, str(size), ts=self.t, seq=v)
        self.now.positions[market] = p
        self._ws(lambda r, e: position_ev(p, "ws", recv_ms=r, epoch=e))

    def _move_balance(self, delta: Decimal, fill_id: str) -> None:
        before = self.now.balance
        after = before + delta
        self.now.balance, self.now.balance_ts = after, self.t
        t = self.t
        change = BalanceEvent(type="TRANSACTION_FILL", status="ON_BLOCKCHAIN",
                              settlement_asset_name="USDC", settlement_asset_address="0x1",
                              settlement_asset_balance_before=before,
                              settlement_asset_balance_after=after,
                              settlement_asset_price=Decimal(1), created_at=t, fill_id=fill_id)
        self._ws(lambda r, e: BalanceChange(source="ws", venue_ts_ms=t, recv_ns=r * MS, conn_epoch=e,
                                            change=change))

    # ------------------------------------------------------------------------------ operations

    def place(self, outcome: str, side: str, size: int, market: str) -> None:
        """A strategy places an order; ``outcome``: accept | venue_reject | reject | unknown_created
        | unknown_lost | not_sent."""
        cid = f"c{len(self.client_ids)}"
        self.client_ids.append(cid)
        t0 = self._tick()
        self._emit(t0, CmdSubmitted(source="cmd", client_id=cid, market=market, side=side,
                                    type="LIMIT", size=str(size), price="100", recv_ns=t0 * MS))
        if outcome == "not_sent":
            self._emit(t0 + 1, CmdNotSent(source="cmd", client_id=cid, recv_ns=(t0 + 1) * MS))
            self.cmd_only[cid] = "not_sent"
            return
        if outcome == "reject":
            self._emit(t0 + 2, CmdRejected(source="cmd", client_id=cid, code="INVALID_ORDER_SIZE",
                                           recv_ns=(t0 + 2) * MS))
            self.cmd_only[cid] = "rejected"
            return
        if outcome == "unknown_lost":
            self._emit(t0 + 3000, CmdUnknown(source="cmd", client_id=cid, recv_ns=(t0 + 3000) * MS))
            self.cmd_only[cid] = "lost"
            self._commit()
            return
        oid = str(1000 + len(self.client_ids))
        self._tick()
        new = order(oid, client_id=cid, status="NEW", size=str(size), side=side, market=market)
        self._set_order(new)
        created = self.now.orders[oid]
        if outcome == "unknown_created":
            self._emit(self.t + 3000, CmdUnknown(source="cmd", client_id=cid,
                                                 recv_ns=(self.t + 3000) * MS))
        else:
            at = self.t + self.rng.randint(0, 40)
            self._emit(at, CmdAccepted(source="cmd", client_id=cid, order_id=oid, order=created,
                                       recv_ns=at * MS))
        self._tick()
        if outcome == "venue_reject":
            self._set_order(_replace(created, status="CLOSED", cancel_reason="NOT_ENOUGH_MARGIN"))
        else:
            self._set_order(_replace(created, status="OPEN"))
        self._commit()

    def _open_orders(self) -> list[Order]:
        return [o for _, o in sorted(self.now.orders.items()) if o.status == "OPEN"]

    def fill(self, pick: int, qty: int) -> None:
        """Fill ``qty`` (capped) of an open order: fill, order, position and balance pushes."""
        opens = self._open_orders()
        if not opens:
            return
        o = opens[pick % len(opens)]
        q = Decimal(min(qty, int(o.remaining_size)))
        t = self._tick()
        fid = f"f{len(self.now.fills) + 1}"
        remaining = o.remaining_size - q
        f = fill(fid, o.id, size=str(q), ts=t, remaining=str(remaining), market=o.market, side=o.side)
        self.now.fills[fid] = f
        self._ws(lambda r, e: fill_ev(f, "ws", recv_ms=r, epoch=e))
        self._set_order(_replace(o, remaining_size=remaining,
                                 status="CLOSED" if remaining == 0 else "OPEN"))
        self._move_position(o.market, q if o.side == "BUY" else -q)
        self._move_balance(-q / 10, fid)
        self._commit()

    def cancel(self, pick: int, closed_too: bool, outcome: str = "ok") -> None:
        """A cancel request; on an open order the venue closes it, on a closed one nothing happens.

        ``outcome``: ok | refused (a definite refusal, nothing happens) | unknown_done (executed,
        the answer lost) | unknown_lost (not executed, no answer)."""
        pool = sorted(self.now.orders.values(), key=lambda o: o.id) if closed_too else self._open_orders()
        if not pool:
            return
        o = pool[pick % len(pool)]
        t = self._tick()
        ids = {"client_id": o.client_id, "order_id": o.id}
        self._emit(t, CmdCancelRequested(source="cmd", recv_ns=t * MS, **ids))
        if o.status == "CLOSED" or outcome == "refused":
            at = t + self.rng.randint(1, 30)
            self._emit(at, CmdCancelFailed(source="cmd", code="ORDER_IS_CLOSED", recv_ns=at * MS, **ids))
            return
        if outcome.startswith("unknown"):
            at = t + self.rng.randint(500, 3000)
            self._emit(at, CmdCancelUnknown(source="cmd", recv_ns=at * MS, **ids))
            if outcome == "unknown_lost":
                return
        self._tick(self.rng.randint(1, 20))
        self._set_order(_replace(o, status="CLOSED", cancel_reason="USER_CANCELED"))
        self._commit()

    def modify(self, pick: int, outcome: str) -> None:
        """A modify of an open order's price (ok | refused | unknown_done | unknown_lost)."""
        opens = self._open_orders()
        if not opens:
            return
        o = opens[pick % len(opens)]
        price = o.price + 1
        t = self._tick()
        ids = {"client_id": o.client_id, "order_id": o.id}
        self._emit(t, CmdModifyRequested(source="cmd", price=str(price), size=str(o.size),
                                         recv_ns=t * MS, **ids))
        if outcome == "refused":
            at = t + self.rng.randint(1, 30)
            self._emit(at, CmdModifyFailed(source="cmd", code="INVALID_PRICE", recv_ns=at * MS, **ids))
            return
        if outcome.startswith("unknown"):
            at = t + self.rng.randint(500, 3000)
            self._emit(at, CmdModifyUnknown(source="cmd", recv_ns=at * MS, **ids))
            if outcome == "unknown_lost":
                return
        self._tick(self.rng.randint(1, 20))
        self._set_order(_replace(o, price=price))
        self._commit()

    def bust(self, pick: int) -> None:
        """A fill fails to settle: busted, its position and balance effects reverted."""
        live = [f for fid, f in sorted(self.now.fills.items()) if fid not in self.now.busted]
        if not live:
            return
        f = live[pick % len(live)]
        t = self._tick()
        self.now.busted.add(f.id)
        tb = Tradebust(account=ACCOUNT, busted_fill_id=f.id, created_at=t)
        self._ws(lambda r, e: TradebustEvent(source="ws", venue_ts_ms=t, recv_ns=r * MS, conn_epoch=e,
                                             tradebust=tb))
        self._move_position(f.market, -f.size if f.side == "BUY" else f.size)
        self._move_balance(f.size / 10, f.id)
        self._commit()

    def wait(self, ms: int) -> None:
        self._tick(ms)

    def disconnect(self, ms: int) -> None:
        """The private WS is down for ``ms``: pushes in the window are lost, then a new epoch."""
        if self.windows and self.t <= self.windows[-1][1]:
            return
        a = self._tick()
        b = a + ms
        self.windows.append((a, b))
        self._emit(a, FeedStatus(source="ws", state="disconnected", epoch=self.epoch, recv_ns=a * MS))
        self.epoch += 1
        self._emit(b, FeedStatus(source="ws", state="subscribed", epoch=self.epoch, recv_ns=b * MS))

    def truth_at(self, ms: int) -> Truth:
        i = bisect.bisect_right([t for t, _ in self.history], ms) - 1
        return self.history[max(i, 0)][1]

    def snapshot(self, age: int, complete: bool = True) -> None:
        """A REST snapshot: marker now, records of the state ``age`` ms ago (a cache), parts."""
        self.n_snap += 1
        sid = f"s{self.n_snap}"
        s = self._tick()
        old = self.truth_at(s - min(age, self.grace))
        parts: tuple[SnapshotPartName, ...] = (
            "open_orders", "order_history", "positions", "balances", "fills")
        self._emit(s, SnapshotStarted(source="rest", snapshot_id=sid, recv_ns=s * MS, parts=parts))
        at = s + self.rng.randint(1, 40)
        for oid in sorted(old.orders):
            o = _replace(old.orders[oid], seq_no=REST_SEQ_BASE + old.versions[oid])
            self._emit(at, order_ev(o, "rest", recv_ms=at, snapshot_id=sid))
        for m in sorted(old.positions):
            p = old.positions[m]
            if p.size:
                p = _replace(p, seq_no=REST_SEQ_BASE + old.pos_versions[m])
                self._emit(at, position_ev(p, "rest", recv_ms=at, snapshot_id=sid))
        self._emit(at, BalanceRecord(source="rest", venue_ts_ms=old.balance_ts, recv_ns=at * MS,
                                     snapshot_id=sid, balance=Balance(
                                         token="USDC", size=old.balance, last_updated_at=old.balance_ts)))
        for fid in sorted(old.fills):
            self._emit(at, fill_ev(old.fills[fid], "rest", recv_ms=at, snapshot_id=sid))
        for fid in sorted(old.busted):
            self._emit(at, TradebustEvent(source="rest", recv_ns=at * MS, tradebust=Tradebust(
                account=ACCOUNT, busted_fill_id=fid, created_at=at)))
        for part in parts:
            self._emit(at + 1, SnapshotPart(source="rest", snapshot_id=sid, part=part,
                                            complete=complete, recv_ns=(at + 1) * MS))
        self._emit(at + 2, SnapshotFinished(source="rest", snapshot_id=sid, complete=complete))

    def lookup(self, at_ms: int, order_id: str, client_id: str) -> LookupResult:
        """Answer a lookup from the truth at ``at_ms`` (order history by id, else by client id)."""
        truth = self.truth_at(at_ms)
        found = truth.orders.get(order_id) if order_id else None
        if found is None and client_id:
            found = next((o for o in truth.orders.values() if o.client_id == client_id), None)
        if found is None:
            return LookupResult(source="rest", order_id=order_id, client_id=client_id, found=False,
                                recv_ns=at_ms * MS)
        rec = _replace(found, seq_no=REST_SEQ_BASE + truth.versions[found.id])
        return LookupResult(source="rest", order_id=found.id, client_id=found.client_id, found=True,
                            order=rec, recv_ns=at_ms * MS)
