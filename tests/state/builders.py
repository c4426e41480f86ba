"""Small constructors of venue records and bus events for the state-core tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from shared.bus import (
    BalanceChange,
    BalanceRecord,
    BookEvent,
    FillEvent,
    OrderEvent,
    PositionEvent,
)
from shared.paradex.models.account import Balance, BalanceEvent, Fill, Order, Position
from shared.paradex.models.market_data import BookLevel, BookUpdate

ACCOUNT = "0xabc"
MS = 1_000_000  # ns per ms
T0 = 1_700_000_000_000  # a venue time (ms)


def order(id: str = "1", *, client_id: str = "c1", status: str = "OPEN", size: str = "1",
          remaining: str | None = None, lua: int = T0, seq: int = 1, market: str = "BTC-USD-PERP",
          side: str = "BUY", price: str = "100", cancel_reason: str = "") -> Order:
    """An OrderResp with the fields the merge rules read."""
    return Order(
        id=id, account=ACCOUNT, market=market, side=side, type="LIMIT", size=Decimal(size),
        remaining_size=Decimal(size if remaining is None else remaining), price=Decimal(price),
        status=status, created_at=T0, last_updated_at=lua, timestamp=T0,
        cancel_reason=cancel_reason, client_id=client_id, seq_no=seq, instruction="GTC",
        avg_fill_price="", received_at=T0, published_at=lua, flags=[], trigger_price="")


def order_ev(o: Order, source: str = "ws", *, recv_ms: int | None = None, epoch: int = 1,
             snapshot_id: str = "") -> OrderEvent:
    """The bus event carrying ``o`` (recv time defaults to its venue time)."""
    recv = (o.last_updated_at if recv_ms is None else recv_ms) * MS
    return OrderEvent(source=source, venue_ts_ms=o.last_updated_at, recv_ns=recv,  # type: ignore[arg-type]
                      conn_epoch=epoch if source == "ws" else 0, order=o, snapshot_id=snapshot_id)


def fill(id: str, order_id: str = "1", *, size: str = "0.5", price: str = "100", ts: int = T0,
         remaining: str = "0.5", market: str = "BTC-USD-PERP", side: str = "BUY") -> Fill:
    """A FillResult."""
    z = Decimal(0)
    return Fill(id=id, side=side, liquidity="TAKER", market=market, order_id=order_id,
                price=Decimal(price), size=Decimal(size), fee=z, fee_currency="USDC", created_at=ts,
                remaining_size=Decimal(remaining), client_id="", fill_type="FILL", realized_pnl=z,
                realized_funding=z, account=ACCOUNT, underlying_price="0", flags=[])


def fill_ev(f: Fill, source: str = "ws", *, recv_ms: int | None = None, snapshot_id: str = "",
            epoch: int = 1) -> FillEvent:
    recv = (f.created_at if recv_ms is None else recv_ms) * MS
    return FillEvent(source=source, venue_ts_ms=f.created_at, recv_ns=recv,  # type: ignore[arg-type]
                     conn_epoch=epoch if source == "ws" else 0, fill=f, snapshot_id=snapshot_id)


def position(market: str = "BTC-USD-PERP", size: str = "1", *, ts: int = T0, seq: int = 1) -> Position:
    """A PositionResp (LONG when size > 0, SHORT when < 0, CLOSED when 0)."""
    z = Decimal(0)
    d = Decimal(size)
    return Position(
        id=f"{ACCOUNT}-{market}", account=ACCOUNT, market=market,
        status="OPEN" if d else "CLOSED", side="SHORT" if d < 0 else "LONG", size=d,
        average_entry_price=z, average_entry_price_usd=z, average_exit_price=z, unrealized_pnl=z,
        unrealized_funding_pnl=z, cost=z, cost_usd=z, cached_funding_index=z, last_fill_id="",
        seq_no=seq, liquidation_price="", leverage="", realized_positional_pnl=z,
        realized_positional_funding_pnl=z, created_at=T0, last_updated_at=ts)


def position_ev(p: Position, source: str = "ws", *, recv_ms: int | None = None,
                snapshot_id: str = "", epoch: int = 1) -> PositionEvent:
    ts = p.last_updated_at or 0
    recv = (ts if recv_ms is None else recv_ms) * MS
    return PositionEvent(source=source, venue_ts_ms=ts, recv_ns=recv,  # type: ignore[arg-type]
                         conn_epoch=epoch if source == "ws" else 0, position=p,
                         snapshot_id=snapshot_id)


def balance_rec(size: str, *, ts: int, token: str = "USDC", recv_ms: int | None = None,
                snapshot_id: str = "") -> BalanceRecord:
    """A REST ``GET /balance`` entry as a bus record."""
    recv = (ts if recv_ms is None else recv_ms) * MS
    return BalanceRecord(source="rest", venue_ts_ms=ts, recv_ns=recv, snapshot_id=snapshot_id,
                         balance=Balance(token=token, size=Decimal(size), last_updated_at=ts))


def balance_change(before: str, after: str, *, ts: int, fill_id: str = "", recv_ms: int | None = None,
                   epoch: int = 1) -> BalanceChange:
    """A WS ``balance_events`` push."""
    recv = (ts if recv_ms is None else recv_ms) * MS
    z = Decimal(0)
    return BalanceChange(source="ws", venue_ts_ms=ts, recv_ns=recv, conn_epoch=epoch, change=BalanceEvent(
        type="TRANSACTION_FILL", status="ON_BLOCKCHAIN", settlement_asset_name="USDC",
        settlement_asset_address="0x1", settlement_asset_balance_before=Decimal(before),
        settlement_asset_balance_after=Decimal(after), settlement_asset_price=z, created_at=ts,
        fill_id=fill_id))


def lvl(side: str, price: str, size: str) -> BookLevel:
    return BookLevel(side=side, price=Decimal(price), size=Decimal(size))


def book_ev(seq: int, kind: str = "d", *, market: str = "BTC-USD-PERP", inserts: Any = (),
            updates: Any = (), deletes: Any = ()) -> BookEvent:
    """A book frame (``kind`` s or d) as a bus event."""
    return BookEvent(source="ws", venue_ts_ms=T0 + seq, recv_ns=(T0 + seq) * MS, book=BookUpdate(
        seq_no=seq, market=market, last_updated_at=T0 + seq, update_type=kind,
        inserts=list(inserts), updates=list(updates), deletes=list(deletes)))
