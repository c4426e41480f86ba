"""The ledger: how one fill or funding payment changes an account, and the events it emits.

Shared by matching (book fills), liquidations (position transfers) and the funding schedule.
Funding follows the venue's funding mechanism: a position accrues ``-size * (index - cached)``;
the accrued amount is paid (balance, ``realized_funding``, a ``funding_payments`` push) at every
fill of the position and at each periodic payment, which resets the cached index.
"""

from __future__ import annotations

from decimal import Decimal

from . import accounting
from .core import Core
from .events import BalanceEvent, FillEvent, FillView, FundingPaymentEvent, FundingPaymentView
from .state import AccountState
from .types import ZERO, Liquidity, Side


class Ledger(Core):
    def _record_fill(
        self,
        acct: AccountState,
        market: str,
        side: Side,
        qty: Decimal,
        price: Decimal,
        fee: Decimal,
        *,
        order_id: str,
        client_id: str,
        remaining: Decimal,
        liquidity: Liquidity,
        book_seq: int,
        fill_type: str = "FILL",
        balance_type: str = "TRANSACTION_FILL",
    ) -> None:
        """Apply one fill to the account: position, realized PnL, fee and the funding the
        position accrued so far (realized at every fill, as on the venue); then the fill,
        balance-event and funding-payment events (not for internal accounts)."""
        fill_id = self._next_id()
        pos = acct.position(market)
        index = self.funding_index[market]
        funding = ZERO if acct.internal else accounting.accrued_funding(pos, index)
        if funding:
            pos.realized_funding += funding
            pos.realized_positional_pnl += funding
        realized = accounting.apply_fill(pos, side, qty, price, fill_id, self._now)
        pos.cached_funding_index = index
        before = acct.balance
        acct.balance = before + realized - fee + funding
        acct.balance_updated_at = self._now
        if acct.internal:
            return
        fill = FillView(
            id=fill_id,
            order_id=order_id,
            client_id=client_id,
            account=acct.account,
            market=market,
            side=side,
            liquidity=liquidity,
            price=price,
            size=qty,
            remaining_size=remaining,
            fee=fee,
            realized_pnl=realized,
            realized_funding=funding,
            created_at=self._now,
            orderbook_seq_no=book_seq,
            fill_type=fill_type,
        )
        self.fills[fill_id] = fill
        acct.fill_ids.append(fill_id)
        self._private.append(FillEvent(fill))
        self._private.append(
            BalanceEvent(
                account=acct.account,
                type=balance_type,
                fill_id=fill_id,
                market=market,
                settlement_asset_balance_before=before,
                settlement_asset_balance_after=acct.balance,
                realized_pnl=realized,
                fees=fee,
                created_at=self._now,
                funding_index=index,
                realized_funding=funding,
            )
        )
        if funding:
            self._record_payment(acct, market, funding, index, fill_id)
        self._touch(acct, market)

    def _record_payment(
        self, acct: AccountState, market: str, amount: Decimal, index: Decimal, fill_id: str
    ) -> None:
        """Keep a funding payment and queue its ``funding_payments`` push."""
        view = FundingPaymentView(
            id=self._next_id(), account=acct.account, market=market, payment=amount, index=index,
            fill_id=fill_id, created_at=self._now,
        )
        acct.funding_payments.append(view)
        self._private.append(FundingPaymentEvent(view))
