"""Sample venue payloads and push frames for the feed tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from shared.paradex.models import (
    Account,
    BalanceEvent,
    Bbo,
    BookLevel,
    BookUpdate,
    Fill,
    FundingData,
    MarketSummary,
    Order,
    Position,
    Trade,
    Tradebust,
)

M = "BTC-USD-PERP"
D = Decimal


def lv(side: str, price: str, size: str) -> BookLevel:
    return BookLevel(side=side, price=D(price), size=D(size))


def book(seq: int, kind: str = "d", *, inserts: tuple[BookLevel, ...] = (),
         updates: tuple[BookLevel, ...] = (), deletes: tuple[BookLevel, ...] = (), market: str = M,
         ts: int = 1_700_000_000_000) -> BookUpdate:
    return BookUpdate(seq_no=seq, market=market, last_updated_at=ts + seq, update_type=kind,
                      inserts=list(inserts), updates=list(updates), deletes=list(deletes))


def snapshot(seq: int, market: str = M) -> BookUpdate:
    return book(seq, "s", market=market, inserts=(lv("BUY", "100", "1"), lv("BUY", "99", "2"),
                                                  lv("SELL", "101", "1"), lv("SELL", "102", "3")))


def push(channel: str, data: Any) -> bytes:
    return msgspec.json.encode({"jsonrpc": "2.0", "method": "subscription",
                                "params": {"channel": channel, "data": data}})


def bbo(seq: int = 5, ts: int = 1_700_000_000_111) -> Bbo:
    return Bbo(market=M, seq_no=seq, bid="100", bid_size="1", ask="101", ask_size="2", last_updated_at=ts)


def trade(ts: int = 1_700_000_000_222) -> Trade:
    return Trade(id="1718179273230201709233240002", market=M, side="BUY", size=D("0.01"), price=D("100.5"),
                 created_at=ts, trade_type="FILL")


def summary(ts: int = 1_700_000_000_333) -> MarketSummary:
    z = D("0")
    return MarketSummary(symbol=M, mark_price="100", last_traded_price="100", bid="99",
                         bid_size="1", ask="101", ask_size="1", volume_24h=z, total_volume=z,
                         created_at=ts, underlying_price="100", open_interest=z, funding_rate=D("0.0001"),
                         price_change_rate_24h=z)


def funding(ts: int = 1_700_000_000_444) -> FundingData:
    return FundingData(market=M, funding_index=D("1.5"), funding_premium=D("0.1"), funding_rate=D("0.0001"),
                       funding_rate_8h=D("0.0001"), funding_period_hours=8, created_at=ts)


ACCOUNT = "0xabc"


def order(ts: int = 1_700_000_001_000) -> Order:
    return msgspec.convert({
        "id": "123456", "client_id": "x1", "market": M, "side": "BUY", "type": "LIMIT", "size": "0.05",
        "remaining_size": "0.05", "price": "26000", "avg_fill_price": "", "status": "OPEN",
        "cancel_reason": "", "instruction": "GTC", "flags": [], "stp": "EXPIRE_TAKER",
        "created_at": ts - 4, "last_updated_at": ts, "received_at": ts - 10, "published_at": ts + 1,
        "timestamp": ts - 20, "seq_no": ts * 1_000_000, "account": ACCOUNT, "trigger_price": "0"},
        Order, strict=False)


def to_json(model: Any) -> Any:
    return msgspec.json.decode(msgspec.json.encode(model))


def fill_(ts: int = 1_700_000_002_000) -> Fill:
    fields: dict[str, Any] = {f: "1" for f in Fill.__struct_fields__}
    fields.update(id="f1", created_at=ts, market=M, side="BUY", account=ACCOUNT, flags=[], liquidity="TAKER",
                  fill_type="FILL", fee_currency="USDC")
    return msgspec.convert(fields, Fill, strict=False)


def position(ts: int | None = 1_700_000_003_000, created: int | None = None) -> Position:
    fields: dict[str, Any] = {f: "1" for f in Position.__struct_fields__}
    fields.update(id=f"{ACCOUNT}-{M}", account=ACCOUNT, market=M, status="OPEN", side="LONG", seq_no=7,
                  liquidation_price="", leverage="", last_fill_id="f1", last_updated_at=ts,
                  created_at=created, closed_at=None)
    return msgspec.convert(fields, Position, strict=False)


def account(ts: int = 1_700_000_004_000) -> Account:
    fields: dict[str, Any] = {f: "1" for f in Account.__struct_fields__}
    fields.update(account=ACCOUNT, settlement_asset="USDC", updated_at=ts, status="ACTIVE", seq_no=9,
                  last_seen_notification=0)
    return msgspec.convert(fields, Account, strict=False)


def balance_event(ts: int = 1_700_000_005_000) -> BalanceEvent:
    return BalanceEvent(type="TRANSACTION_FILL", status="ON_BLOCKCHAIN", settlement_asset_name="USDC",
                        settlement_asset_address="0x1", settlement_asset_balance_before=D("10"),
                        settlement_asset_balance_after=D("9"), settlement_asset_price=D("1"), created_at=ts,
                        fill_id="f1", market=M)


def tradebust(ts: int = 1_700_000_006_000) -> Tradebust:
    return Tradebust(account=ACCOUNT, busted_fill_id="f1", created_at=ts)
