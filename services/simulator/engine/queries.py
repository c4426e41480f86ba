"""Read-only queries for the REST layer. Nothing here mutates state or emits events."""

from __future__ import annotations

from . import accounting
from .core import Core
from .events import (
    AccountView,
    BalanceView,
    BboUpdate,
    BookDelta,
    FillView,
    FundingPaymentView,
    FundingUpdate,
    LiquidationView,
    MarketSummaryUpdate,
    OrderView,
    PositionView,
    TradeEvent,
)
from .market import MarketConfig
from .state import Order
from .types import ZERO, EngineError, ErrorCode, Side, Status


class Queries(Core):
    """GET-style views. Unknown accounts read as empty (default balance, no orders)."""

    def open_orders(self, account: str, market: str | None = None) -> list[OrderView]:
        """NEW and OPEN orders of ``account`` (optionally one market), oldest first."""
        acct = self.accounts.get(account)
        if acct is None:
            return []
        return [
            self.order_view(o)
            for o in acct.orders.values()
            if o.is_live and (market is None or o.market == market)
        ]

    def _find(self, account: str, order_id: str) -> Order:
        order = self.orders.get(order_id)
        if order is None or order.account != account:
            raise EngineError(ErrorCode.ORDER_ID_NOT_FOUND, f"order {order_id} not found")
        return order

    def _find_by_client_id(self, account: str, client_id: str, market: str | None = None) -> Order:
        acct = self.accounts.get(account)
        order_id = acct.client_ids.get(client_id) if acct is not None else None
        order = self.orders.get(order_id) if order_id is not None else None
        if order is None or (market is not None and order.market != market):
            raise EngineError(ErrorCode.CLIENT_ORDER_ID_NOT_FOUND, f"client order {client_id!r} not found")
        return order

    def get_order(self, account: str, order_id: str) -> OrderView:
        """One order by exchange id, whatever its status (ORDER_ID_NOT_FOUND if unknown).
        The venue documents only NEW/OPEN here; the REST layer may filter."""
        return self.order_view(self._find(account, order_id))

    def get_order_by_client_id(self, account: str, client_id: str, market: str | None = None) -> OrderView:
        """The newest order that used ``client_id`` (CLIENT_ORDER_ID_NOT_FOUND if none)."""
        return self.order_view(self._find_by_client_id(account, client_id, market))

    def orders_history(
        self,
        account: str,
        *,
        market: str | None = None,
        status: Status | None = None,
        client_id: str | None = None,
        side: Side | None = None,
        start_at: int | None = None,
        end_at: int | None = None,
        limit: int | None = None,
    ) -> list[OrderView]:
        """All orders (CLOSED too), newest first; ``start_at``/``end_at`` bound ``created_at`` (ms)."""
        acct = self.accounts.get(account)
        if acct is None:
            return []
        out: list[OrderView] = []
        for o in reversed(acct.orders.values()):
            if (
                (market is not None and o.market != market)
                or (status is not None and o.status is not status)
                or (client_id is not None and o.client_id != client_id)
                or (side is not None and o.side is not side)
                or (start_at is not None and o.created_at < start_at)
                or (end_at is not None and o.created_at > end_at)
            ):
                continue
            out.append(self.order_view(o))
            if limit is not None and len(out) >= limit:
                break
        return out

    def list_fills(
        self,
        account: str,
        *,
        market: str | None = None,
        start_at: int | None = None,
        end_at: int | None = None,
        include_busted: bool = False,
        limit: int | None = None,
    ) -> list[FillView]:
        """Fills of ``account``, newest first (busted fills left out unless asked)."""
        acct = self.accounts.get(account)
        if acct is None:
            return []
        out: list[FillView] = []
        for fill_id in reversed(acct.fill_ids):
            f = self.fills[fill_id]
            if (
                (market is not None and f.market != market)
                or (start_at is not None and f.created_at < start_at)
                or (end_at is not None and f.created_at > end_at)
                or (not include_busted and fill_id in self.busted)
            ):
                continue
            out.append(f)
            if limit is not None and len(out) >= limit:
                break
        return out

    def is_busted(self, fill_id: str) -> bool:
        return fill_id in self.busted

    def positions(self, account: str, *, include_closed: bool = True) -> list[PositionView]:
        """Every position the account ever had (CLOSED = flat), by market name."""
        acct = self.accounts.get(account)
        if acct is None:
            return []
        return [
            accounting.position_view(p, self.markets[m], self.mark_price(m), self.funding_index[m])
            for m, p in sorted(acct.positions.items())
            if include_closed or p.size
        ]

    def account_summary(self, account: str) -> AccountView:
        return self.account_view(self.account_state(account))

    def balances(self, account: str) -> list[BalanceView]:
        return [self.balance_view(self.account_state(account))]

    def orderbook(self, market: str, depth: int | None = 20) -> BookDelta:
        """An ``"s"`` frame of the top ``depth`` levels per side at the current book seq_no."""
        self.market(market)
        return self.books[market].snapshot(depth)

    def bbo(self, market: str) -> BboUpdate:
        self.market(market)
        return self.books[market].bbo()

    def recent_trades(self, market: str, limit: int = 100) -> list[TradeEvent]:
        """Public trades, newest first (the last 1000 are kept)."""
        self.market(market)
        trades = self.trades[market]
        return [trades[-i] for i in range(1, min(limit, len(trades)) + 1)]

    def list_markets(self) -> list[MarketConfig]:
        return list(self.markets.values())

    def market_summary(self, market: str) -> MarketSummaryUpdate:
        """Ticker figures. ``volume_24h`` is the volume since start (no rolling window)."""
        cfg = self.market(market)
        book = self.books[market]
        bbo = book.bbo()
        last = self.last_trade.get(market, ZERO)
        underlying = self.index_price.get(market, self.mark_price(market))
        change = (last - cfg.initial_price) / cfg.initial_price if last else ZERO
        open_interest = sum(
            (
                a.positions[market].size
                for a in self.accounts.values()
                if market in a.positions and a.positions[market].size > ZERO
            ),
            ZERO,
        )
        funding = self.funding_data(market)
        return MarketSummaryUpdate(
            symbol=market,
            mark_price=self.mark_price(market),
            last_traded_price=last,
            bid=bbo.bid,
            bid_size=bbo.bid_size,
            ask=bbo.ask,
            ask_size=bbo.ask_size,
            volume_24h=self.volume[market],
            total_volume=self.volume[market],
            open_interest=open_interest,
            funding_rate=funding.funding_rate,
            future_funding_rate=funding.funding_rate,
            underlying_price=underlying,
            price_change_rate_24h=change,
            created_at=self._now,
        )

    def funding_data(self, market: str) -> FundingUpdate:
        """Funding figures: premium = (mark - index) / index, rate = base rate + premium, clamped
        to ±0.5%; ``funding_index`` as accrued by the schedule (:meth:`Funding._accrue`)."""
        cfg = self.market(market)
        premium, rate = self._funding_rate(market)
        return FundingUpdate(
            market=market,
            funding_index=self.funding_index[market],
            funding_premium=premium,
            funding_rate=rate,
            funding_rate_8h=rate * 8 / cfg.funding_period_hours,
            funding_period_hours=cfg.funding_period_hours,
            created_at=self._now,
        )

    def funding_payments(
        self,
        account: str,
        *,
        market: str | None = None,
        start_at: int | None = None,
        end_at: int | None = None,
    ) -> list[FundingPaymentView]:
        """Funding payments of ``account``, newest first; ``start_at``/``end_at`` bound ``created_at``."""
        acct = self.accounts.get(account)
        if acct is None:
            return []
        return [
            p
            for p in reversed(acct.funding_payments)
            if (market is None or p.market == market)
            and (start_at is None or p.created_at >= start_at)
            and (end_at is None or p.created_at <= end_at)
        ]

    def liquidations(
        self, account: str, *, start_at: int | None = None, end_at: int | None = None
    ) -> list[LiquidationView]:
        """Liquidations of ``account``, newest first, optionally bounded by ``created_at``."""
        acct = self.accounts.get(account)
        if acct is None:
            return []
        return [
            v
            for v in reversed(acct.liquidations)
            if (start_at is None or v.created_at >= start_at) and (end_at is None or v.created_at <= end_at)
        ]
