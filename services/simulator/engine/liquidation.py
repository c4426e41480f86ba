"""Liquidation when margin is exhausted (a documented simplification of the venue's).

The venue (docs, risk system): a health check every 5 s; an account whose margin ratio
(maintenance margin / account value) exceeds 100 % enters LIQUIDATION; positions are reduced by
a liquidation share (a multiple of 20 %, enough to bring the ratio below 90 %) and transferred to
the insurance fund, with a penalty ``share * liquidation_fee * MMR`` (fee 70 %).

Simulated, coherent with the engine's margin model (:mod:`.accounting`):

- **Unhealthy**: an account with an open position whose account value (balance + unrealized
  PnL at mark + accrued funding) is <= 0 or below its maintenance margin requirement. Checked by
  the schedule every ``health_check_interval_ms`` (``advance``), or on demand.
- **Full liquidation** (share 100 %, the simplification): the account's status becomes
  LIQUIDATION; every live order, untriggered stop and TWAP is closed (cancel reason
  LIQUIDATION); every position is transferred to the insurance fund (an internal account) at the
  mark price: one fill per position with ``fill_type`` LIQUIDATION, ``orderbook_seq_no`` 0 (a
  transfer, as the spec says), a ``balance_events`` item of type TRANSACTION_LIQUIDATE, and a
  public trade with ``trade_type`` LIQUIDATION (side: the liquidated account's). The fills'
  fees are the penalty, ``liquidation_fee * MMR`` split by each market's MMR and capped at what
  the account is worth after the transfer.
- **Bankruptcy**: if the account is worth less than 0 after the transfer, the insurance fund
  covers the deficit (the balance is set to 0, one TRANSACTION_LIQUIDATE balance event with
  ``realized_pnl`` = the amount covered): no socialized losses.
- A liquidation record (``GET /liquidations``: a made-up transaction hash and the time) is kept.
  The status stays LIQUIDATION until the next health check finds the account healthy (it is
  flat by then), then ACTIVE again; nothing else restricts the account meanwhile.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

from . import accounting
from .algo import Algos
from .events import BalanceEvent, LiquidationView, TradeEvent, VenueEvent
from .state import AccountState
from .types import MONEY_QUANTUM, ZERO, CancelReason, Liquidity, Side

INSURANCE_FUND = "0xinsurance-fund"
ACTIVE = "ACTIVE"
LIQUIDATION = "LIQUIDATION"


class Liquidations(Algos):
    """Health checks and liquidations."""

    def health_check(self, now_ms: int) -> list[VenueEvent]:
        """Liquidate every unhealthy account now (and restore ACTIVE on liquidated ones)."""
        self._tick(now_ms)
        self._accrue(self._schedule_now())
        return self._drain(self._health())

    def liquidate(self, account: str, now_ms: int) -> list[VenueEvent]:
        """Liquidate ``account`` now, healthy or not (control API)."""
        self._tick(now_ms)
        self._accrue(self._schedule_now())
        acct = self.account_state(account)
        self._liquidate(acct)
        return self._drain(self._end_command())

    def _health(self) -> list[VenueEvent]:
        out: list[VenueEvent] = []
        for acct in list(self.accounts.values()):
            if acct.internal:
                continue
            if acct.status == LIQUIDATION:
                if not self.is_unhealthy(acct.account):
                    acct.status = ACTIVE
                    self._touch(acct, None)
                    out.extend(self._end_command())
            elif self.is_unhealthy(acct.account):
                self._liquidate(acct)
                out.extend(self._end_command())
        return out

    def is_unhealthy(self, account: str) -> bool:
        """An open position, and account value <= 0 or below the maintenance margin."""
        acct = self.accounts.get(account)
        if acct is None or not any(p.size for p in acct.positions.values()):
            return False
        marks = self.marks(acct.positions)
        value = accounting.account_value(acct, marks, self.funding_index)
        _, mmr, _ = accounting.requirements(acct, self.markets, marks)
        return value <= ZERO or value < mmr

    def _liquidate(self, acct: AccountState) -> None:
        acct.status = LIQUIDATION
        self._touch(acct, None)
        for order in [o for o in acct.orders.values() if o.is_live]:
            self._close(order, CancelReason.LIQUIDATION)
        for algo_id in acct.algo_ids:
            self._close_algo(self.algos[algo_id], CancelReason.LIQUIDATION)
        open_positions = sorted((m, p) for m, p in acct.positions.items() if p.size)
        marks = self.marks(m for m, _ in open_positions)
        value = accounting.account_value(acct, marks, self.funding_index)
        mmr = {m: accounting.position_margin(p.size, marks[m], self.markets[m])[1] for m, p in open_positions}
        total = sum(mmr.values(), ZERO)
        penalty = min((total * self.schedule.liquidation_fee).quantize(MONEY_QUANTUM), max(value, ZERO))
        fund = self.account_state(INSURANCE_FUND, internal=True)
        charged = ZERO
        for i, (market, pos) in enumerate(open_positions):
            if i == len(open_positions) - 1:
                fee = penalty - charged
            else:
                fee = (penalty * mmr[market] / total).quantize(MONEY_QUANTUM) if total else ZERO
            charged += fee
            self._transfer(acct, fund, market, pos.size, marks[market], fee)
        if acct.balance < ZERO:  # bankrupt: the insurance fund absorbs the deficit
            before = acct.balance
            fund.balance += before
            acct.balance = ZERO
            acct.balance_updated_at = self._now
            self._private.append(
                BalanceEvent(
                    account=acct.account, type="TRANSACTION_LIQUIDATE", fill_id="", market="",
                    settlement_asset_balance_before=before, settlement_asset_balance_after=ZERO,
                    realized_pnl=-before, fees=ZERO, created_at=self._now,
                )
            )
        liquidation_id = self._next_id()
        tx_hash = "0x" + hashlib.sha256(f"{acct.account}:{liquidation_id}".encode()).hexdigest()[:63]
        acct.liquidations.append(LiquidationView(id=tx_hash, account=acct.account, created_at=self._now))

    def _transfer(
        self, acct: AccountState, fund: AccountState, market: str, size: Decimal, price: Decimal, fee: Decimal
    ) -> None:
        """Move one position to the insurance fund at ``price``: fills on both sides, the tape."""
        side = Side.SELL if size > ZERO else Side.BUY
        qty = abs(size)
        for who, way, charge in ((acct, side, fee), (fund, side.opposite, -fee)):  # the fund earns the fee
            self._record_fill(
                who, market, way, qty, price, charge, order_id="", client_id="", remaining=ZERO,
                liquidity=Liquidity.TAKER, book_seq=0, fill_type="LIQUIDATION",
                balance_type="TRANSACTION_LIQUIDATE",
            )
        trade = TradeEvent(
            id=self._next_id(), market=market, side=side, size=qty, price=price, created_at=self._now,
            trade_type="LIQUIDATION",
        )
        self.trades[market].append(trade)
        self.volume[market] += qty
        self._public.append(trade)
