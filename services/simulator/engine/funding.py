"""Funding: the per-market funding index accrues continuously; positions pay what they accrued.

From the venue's funding mechanism (docs, simplified):

- **Index**: ``index += premium * elapsed / funding_period`` with ``premium = funding_rate *
  index price`` (the synthetic market's fair price; the mark without one), accrued by the
  schedule tick (:meth:`Funding._accrue`, every ``advance``) and rounded to 1e-8 per accrual.
  No 30 s gap rule: a time jump (the control API's advance) accrues the whole interval, which is
  what tests of an 8-hour period want.
- **Payment** of one position: ``-size * (index - cached_index)`` rounded to 1e-8, positive =
  received (longs pay when the index rises). It is paid at every fill of the position (the fill
  carries it as ``realized_funding``, the payment's ``fill_id`` is that fill) and, for every open
  position, every ``funding_payment_interval_ms`` (``fill_id`` ""). A payment moves the amount
  into the balance and the position's ``realized_positional_pnl`` and
  ``realized_positional_funding_pnl``, and resets ``cached_funding_index``; a payment that
  rounds to 0 is skipped (the cache stays, so nothing is lost). Internal (synthetic) accounts
  pay no funding.
- Each periodic payment emits ``funding_payments.{market}``, a ``balance_events`` item of type
  ``FUNDING_PAYMENT`` (our name: the docs list none) and the position, balance and account
  updates that follow.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from . import accounting
from .events import BalanceEvent, VenueEvent
from .triggers import Triggers
from .types import MONEY_QUANTUM, ZERO


class Funding(Triggers):
    """Index accrual and periodic funding payments."""

    def accrue_funding(self, market: str, elapsed_ms: int) -> None:
        """Advance the funding index of ``market`` by ``elapsed_ms`` at the current rate."""
        if elapsed_ms <= 0:
            return
        cfg = self.markets[market]
        _, rate = self._funding_rate(market)
        spot = self.index_price.get(market) or self.mark_price(market)
        step = rate * spot * elapsed_ms / (cfg.funding_period_hours * 3_600_000)
        self.funding_index[market] += step.quantize(MONEY_QUANTUM)

    def _accrue(self, now_ms: int) -> None:
        accrued = self._funding_accrued_at
        for market in self.markets:
            last = accrued.get(market)
            if last is not None:
                self.accrue_funding(market, now_ms - last)
            accrued[market] = now_ms

    def pay_funding(self, now_ms: int, market: str | None = None) -> list[VenueEvent]:
        """Pay every open position's accrued funding now (all markets, or one)."""
        self._tick(now_ms)
        if market is not None:
            self.market(market)
        self._accrue(self._schedule_now())
        self._pay(self.markets if market is None else (market,))
        return self._drain(self._end_command())

    def _pay(self, markets: Iterable[str]) -> None:
        for market in markets:
            index = self.funding_index[market]
            for acct in self.accounts.values():
                pos = acct.positions.get(market)
                if acct.internal or pos is None or not pos.size:
                    continue
                amount = accounting.accrued_funding(pos, index)
                if amount == ZERO:
                    continue
                pos.realized_funding += amount
                pos.realized_positional_pnl += amount
                pos.cached_funding_index = index
                before = acct.balance
                acct.balance = before + amount
                acct.balance_updated_at = self._now
                self._private.append(
                    BalanceEvent(
                        account=acct.account, type="FUNDING_PAYMENT", fill_id="", market=market,
                        settlement_asset_balance_before=before, settlement_asset_balance_after=acct.balance,
                        realized_pnl=ZERO, fees=ZERO, created_at=self._now, funding_index=index,
                        realized_funding=amount,
                    )
                )
                self._record_payment(acct, market, amount, index, "")
                self._touch(acct, market)

    def funding_premium(self, market: str) -> Decimal:
        """USDC paid per unit of long position per funding period at the current rate."""
        _, rate = self._funding_rate(market)
        return rate * (self.index_price.get(market) or self.mark_price(market))
