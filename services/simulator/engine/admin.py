"""Immediate operator actions: balances, tradebusts, index and mark prices."""

from __future__ import annotations

from decimal import Decimal

from . import accounting
from .events import BalanceEvent, BalanceUpdate, Tradebust, VenueEvent
from .liquidation import Liquidations
from .market import check_price, parse_decimal
from .queries import Queries
from .types import EngineError, ErrorCode


class Admin(Liquidations, Queries):
    """Operations the simulator's control API triggers; they act at once and return events."""

    def set_balance(
        self, account: str, amount: Decimal | str, now_ms: int, token: str = "USDC"
    ) -> list[VenueEvent]:
        """Set the USDC balance (a deposit/withdrawal stand-in); emits balance and account updates."""
        self._tick(now_ms)
        if token != "USDC":
            raise EngineError(ErrorCode.VALIDATION_ERROR, "only the USDC settlement token is modelled")
        acct = self.account_state(account)
        acct.balance = parse_decimal(amount, "amount")
        acct.balance_updated_at = self._now
        self._touch(acct, None)
        events = self._end_command()
        events.insert(0, BalanceUpdate(account, self.balance_view(acct)))
        return self._drain(events)

    def bust_fill(self, fill_id: str, now_ms: int) -> list[VenueEvent]:
        """Tradebust one (user) fill: its position effect is reverted by replaying the account's
        other fills in that market; the balance gives back exactly ``realized_pnl - fee`` of the
        busted fill. Later fills' realized PnL is not restated. Only the named fill's account
        changes (bust the counterparty's fill separately). Emits Tradebust, BalanceEvent,
        position, balance and account updates."""
        self._tick(now_ms)
        fill = self.fills.get(fill_id)
        if fill is None or fill_id in self.busted:
            raise EngineError(ErrorCode.FILL_NOT_FOUND, f"fill {fill_id} not found or already busted")
        self.busted.add(fill_id)
        acct = self.accounts[fill.account]
        pos = acct.position(fill.market)
        replay = type(pos)(pos.account, pos.market)
        for fid in acct.fill_ids:
            f = self.fills[fid]
            if f.market == fill.market and fid not in self.busted:
                accounting.apply_fill(replay, f.side, f.size, f.price, fid, f.created_at)
        replay.seq_no = pos.seq_no
        replay.last_updated_at = max(pos.last_updated_at, self._now)
        acct.positions[fill.market] = replay
        before = acct.balance
        acct.balance = before - fill.realized_pnl + fill.fee
        acct.balance_updated_at = self._now
        self._private.append(Tradebust(account=acct.account, busted_fill_id=fill_id, created_at=self._now))
        self._private.append(
            BalanceEvent(
                account=acct.account,
                type="TRADE_BUST",
                fill_id=fill_id,
                market=fill.market,
                settlement_asset_balance_before=before,
                settlement_asset_balance_after=acct.balance,
                realized_pnl=-fill.realized_pnl,
                fees=-fill.fee,
                created_at=self._now,
            )
        )
        self._touch(acct, fill.market)
        return self._drain(self._end_command())

    def set_mark_price(self, market: str, price: Decimal | str | None, now_ms: int) -> list[VenueEvent]:
        """Pin the mark price of ``market`` (None: back to the book's mid). Everything that
        reads the mark follows: stop triggers (checked at once), margin, MARKET order bands,
        funding, health checks. Returns the events of the stop orders it triggers."""
        self._tick(now_ms)
        cfg = self.market(market)
        pinned = None if price is None else check_price(cfg, parse_decimal(price, "price"))
        self._pin_mark(market, pinned)
        return self._drain(self._end_command())

    def set_index_price(self, market: str, price: Decimal) -> None:
        """The synthetic 'oracle' price used as underlying/index for funding and summaries."""
        self.market(market)
        self.index_price[market] = price
