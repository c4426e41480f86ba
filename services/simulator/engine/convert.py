"""Engine views/events -> Paradex wire models (``shared.paradex.models``).

The only module of the engine that knows the wire models. Decimals are normalised so they encode
the way the venue writes them (``"0"`` not ``"0E-8"``, ``"20"`` not ``"2E+1"``). An empty book
side is written as price and size ``""`` in BBO and summaries, as the venue does (never a fake 0).
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from shared.paradex.models.account import Account, Balance, Fill, Order, Position
from shared.paradex.models.account import BalanceEvent as WireBalanceEvent
from shared.paradex.models.account import Tradebust as WireTradebust
from shared.paradex.models.algo import AlgoOrder
from shared.paradex.models.market_data import (
    Bbo,
    BookLevel,
    BookUpdate,
    FundingData,
    Greeks,
    MarketSummary,
    OrderBook,
    Trade,
)
from shared.paradex.models.records import FundingPayment, Liquidation
from shared.paradex.models.reference import (
    Delta1CrossMarginParams,
    FeeWithCap,
    MakerTakerFee,
    Market,
    MarketFeeConfig,
)

from . import events as ev
from .market import MarketConfig
from .types import ZERO, Side

_ZERO = Decimal(0)
_E8 = Decimal("1E-8")


def dec(value: Decimal) -> Decimal:
    """A Decimal whose ``str`` is plain notation (no exponent) for zero and whole numbers."""
    if value == ZERO:
        return _ZERO
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent > 0:
        return value.quantize(Decimal(1))
    return value


def q8(value: Decimal) -> Decimal:
    """A derived figure (ratio, average, index) at the venue's 8 decimals, truncated toward zero as
    the venue's fixed-point store does (SBE: "stored internally with 8 decimal places"), so every
    value fits its SBE field by construction."""
    return dec(value.quantize(_E8, rounding=ROUND_DOWN).normalize())


def _opt(value: Decimal | None) -> str:
    return "" if value is None else str(dec(value))


def _opt8(value: Decimal | None) -> str:
    return "" if value is None else str(q8(value))


def _text(value: Decimal) -> str:
    return str(dec(value))


def _side(price: Decimal | None, size: Decimal) -> tuple[str, str]:
    """Price and size text of one book side: both ``""`` when the side is empty."""
    return ("", "") if price is None else (_text(price), _text(size))


def order(view: ev.OrderView) -> Order:
    return Order(
        id=view.id,
        account=view.account,
        market=view.market,
        side=str(view.side),
        type=str(view.type),
        size=dec(view.size),
        remaining_size=dec(view.remaining_size),
        price=dec(view.price),
        status=str(view.status),
        created_at=view.created_at,
        last_updated_at=view.last_updated_at,
        timestamp=view.timestamp,
        cancel_reason=str(view.cancel_reason),
        client_id=view.client_id,
        seq_no=view.seq_no,
        instruction=str(view.instruction),
        avg_fill_price=_opt8(view.avg_fill_price),
        received_at=view.received_at,
        published_at=view.published_at,
        flags=[str(f) for f in view.flags],
        trigger_price=_opt(view.trigger_price),
        stp=str(view.stp),
    )


def fill(view: ev.FillView) -> Fill:
    return Fill(
        id=view.id,
        side=str(view.side),
        liquidity=str(view.liquidity),
        market=view.market,
        order_id=view.order_id,
        price=dec(view.price),
        size=dec(view.size),
        fee=dec(view.fee),
        fee_currency=view.fee_currency,
        created_at=view.created_at,
        remaining_size=dec(view.remaining_size),
        client_id=view.client_id,
        fill_type=view.fill_type,
        realized_pnl=dec(view.realized_pnl),
        realized_funding=dec(view.realized_funding),
        account=view.account,
        underlying_price=_text(view.price),
        flags=list(view.flags),
        orderbook_seq_no=view.orderbook_seq_no,
    )


def position(view: ev.PositionView) -> Position:
    return Position(
        id=view.id,
        account=view.account,
        market=view.market,
        status=view.status,
        side=view.side,
        size=dec(view.size),
        average_entry_price=q8(view.average_entry_price),
        average_entry_price_usd=q8(view.average_entry_price),
        average_exit_price=q8(view.average_exit_price),
        unrealized_pnl=dec(view.unrealized_pnl),
        unrealized_funding_pnl=dec(view.unrealized_funding_pnl),
        cost=dec(view.cost),
        cost_usd=dec(view.cost),
        cached_funding_index=q8(view.cached_funding_index),
        last_fill_id=view.last_fill_id,
        seq_no=view.seq_no,
        liquidation_price=view.liquidation_price,
        leverage=_opt8(view.leverage),
        realized_positional_pnl=dec(view.realized_positional_pnl),
        realized_positional_funding_pnl=dec(view.realized_positional_funding_pnl),
        created_at=view.created_at,
        last_updated_at=view.last_updated_at,
        closed_at=view.closed_at,
    )


def account(view: ev.AccountView) -> Account:
    return Account(
        account=view.account,
        initial_margin_requirement=dec(view.initial_margin_requirement),
        maintenance_margin_requirement=dec(view.maintenance_margin_requirement),
        account_value=dec(view.account_value),
        total_collateral=dec(view.total_collateral),
        free_collateral=dec(view.free_collateral),
        margin_cushion=dec(view.margin_cushion),
        settlement_asset=view.settlement_asset,
        updated_at=view.updated_at,
        status=view.status,
        seq_no=view.seq_no,
    )


def balance(view: ev.BalanceView) -> Balance:
    """A settlement-token balance: USDC is valued at 1, so its cost is its size."""
    size = dec(view.size)
    return Balance(token=view.token, size=size, last_updated_at=view.last_updated_at, cost=size,
                   cost_usd=size, average_entry_price=Decimal(1), average_entry_price_usd=Decimal(1))


def balance_event(event: ev.BalanceEvent) -> WireBalanceEvent:
    return WireBalanceEvent(
        type=event.type,
        status=event.status,
        settlement_asset_name=event.settlement_asset_name,
        settlement_asset_address="0x0",
        settlement_asset_balance_before=dec(event.settlement_asset_balance_before),
        settlement_asset_balance_after=dec(event.settlement_asset_balance_after),
        settlement_asset_price=dec(event.settlement_asset_price),
        created_at=event.created_at,
        fill_id=event.fill_id,
        market=event.market,
        funding_index=q8(event.funding_index),
        realized_pnl=dec(event.realized_pnl),
        fees=dec(event.fees),
        realized_funding=dec(event.realized_funding),
    )


def tradebust(event: ev.Tradebust) -> WireTradebust:
    return WireTradebust(
        account=event.account, busted_fill_id=event.busted_fill_id, created_at=event.created_at
    )


_SIDES = {Side.BUY: "BUY", Side.SELL: "SELL"}


def _levels(levels: tuple[ev.BookLevel, ...]) -> list[BookLevel]:
    """Book levels as sent. The hot path of every book push: book prices and sizes are already
    on the market's tick and size grid (never a positive exponent), so only a zero needs
    normalising (``0.000`` -> ``0``); :func:`dec` would cost ~1 us per value."""
    sides = _SIDES
    return [BookLevel(side=sides[lv.side], price=lv.price, size=lv.size or _ZERO) for lv in levels]


def _level(lv: ev.BookLevel | None) -> BookLevel | None:
    return None if lv is None else BookLevel(side=_SIDES[lv.side], price=lv.price, size=lv.size or _ZERO)


def book_update(frame: ev.BookDelta) -> BookUpdate:
    """``order_book`` push (``"s"`` or ``"d"``). The simulator has no RPI orders, so the API and
    the interactive top of book are the same level (left out for an empty side)."""
    bid, ask = _level(frame.best_bid), _level(frame.best_ask)
    return BookUpdate(
        seq_no=frame.seq_no,
        market=frame.market,
        last_updated_at=frame.last_updated_at,
        update_type=frame.update_type,
        inserts=_levels(frame.inserts),
        updates=_levels(frame.updates),
        deletes=_levels(frame.deletes),
        best_bid_api=bid,
        best_ask_api=ask,
        best_bid_interactive=bid,
        best_ask_interactive=ask,
    )


def orderbook(snapshot: ev.BookDelta) -> OrderBook:
    """``GET /orderbook/{market}`` from a snapshot frame (``Exchange.orderbook``)."""
    return OrderBook(
        market=snapshot.market,
        seq_no=snapshot.seq_no,
        last_updated_at=snapshot.last_updated_at,
        bids=[(dec(lv.price), dec(lv.size)) for lv in snapshot.inserts if lv.side is Side.BUY],
        asks=[(dec(lv.price), dec(lv.size)) for lv in snapshot.inserts if lv.side is Side.SELL],
    )


def bbo(event: ev.BboUpdate) -> Bbo:
    bid, bid_size = _side(event.bid, event.bid_size)
    ask, ask_size = _side(event.ask, event.ask_size)
    return Bbo(
        market=event.market,
        seq_no=event.seq_no,
        bid=bid,
        bid_size=bid_size,
        ask=ask,
        ask_size=ask_size,
        last_updated_at=event.last_updated_at,
    )


def trade(event: ev.TradeEvent) -> Trade:
    return Trade(
        id=event.id,
        market=event.market,
        side=str(event.side),
        size=dec(event.size),
        price=dec(event.price),
        created_at=event.created_at,
        trade_type=event.trade_type,
    )


def market_summary(event: ev.MarketSummaryUpdate) -> MarketSummary:
    bid, bid_size = _side(event.bid, event.bid_size)
    ask, ask_size = _side(event.ask, event.ask_size)
    return MarketSummary(
        symbol=event.symbol,
        mark_price=str(q8(event.mark_price)),
        last_traded_price=_text(event.last_traded_price),
        bid=bid,
        bid_size=bid_size,
        ask=ask,
        ask_size=ask_size,
        volume_24h=dec(event.volume_24h),
        total_volume=dec(event.total_volume),
        created_at=event.created_at,
        underlying_price=str(q8(event.underlying_price)),
        open_interest=dec(event.open_interest),
        funding_rate=q8(event.funding_rate),
        price_change_rate_24h=q8(event.price_change_rate_24h),
        future_funding_rate=q8(event.future_funding_rate),
        external_fair_price=q8(event.underlying_price),
        # A perpetual's greeks: delta 1, no convexity or volatility exposure ("partial for perps").
        delta=Decimal(1),
        greeks=_PERP_GREEKS,
    )


_PERP_GREEKS = Greeks(delta=Decimal(1), gamma=_ZERO, vega=_ZERO)


def funding_data(event: ev.FundingUpdate) -> FundingData:
    return FundingData(
        market=event.market,
        funding_index=q8(event.funding_index),
        funding_premium=q8(event.funding_premium),
        funding_rate=q8(event.funding_rate),
        funding_rate_8h=q8(event.funding_rate_8h),
        funding_period_hours=event.funding_period_hours,
        created_at=event.created_at,
    )


def funding_payment(view: ev.FundingPaymentView) -> FundingPayment:
    return FundingPayment(
        id=view.id,
        account=view.account,
        market=view.market,
        payment=dec(view.payment),
        index=dec(view.index),
        fill_id=view.fill_id,
        created_at=view.created_at,
    )


def liquidation(view: ev.LiquidationView) -> Liquidation:
    return Liquidation(id=view.id, created_at=view.created_at)


def algo(view: ev.AlgoView) -> AlgoOrder:
    return AlgoOrder(
        id=view.id,
        account=view.account,
        market=view.market,
        side=str(view.side),
        size=dec(view.size),
        remaining_size=dec(view.remaining_size),
        avg_fill_price=_opt(view.avg_fill_price),
        status=str(view.status),
        algo_type=view.algo_type,
        cancel_reason=str(view.cancel_reason),
        created_at=view.created_at,
        last_updated_at=view.last_updated_at,
        end_at=view.end_at,
        algo_params={"duration_seconds": str(view.duration_s), "frequency": str(view.frequency_s)},
    )


def _fee(rate: Decimal) -> FeeWithCap:
    return FeeWithCap(fee=dec(rate))


def market(cfg: MarketConfig) -> Market:
    """``GET /markets`` item for a configured market.

    Funding-formula parameters the engine does not model (clamp, interest rate, EWMA factor...)
    carry the venue's documented example values; ``imf_factor``/``imf_shift`` are 0 because the
    engine's margin is ``imf_base`` flat. Option-only fields are left out.
    """
    fees = MakerTakerFee(maker_fee=_fee(cfg.maker_fee), taker_fee=_fee(cfg.taker_fee))
    return Market(
        symbol=cfg.symbol,
        base_currency=cfg.base_currency,
        quote_currency=cfg.quote_currency,
        settlement_currency=cfg.settlement_currency,
        asset_kind="PERP",
        market_kind="cross",
        price_tick_size=cfg.price_tick_size,
        order_size_increment=cfg.order_size_increment,
        min_notional=dec(cfg.min_notional),
        max_order_size=dec(cfg.max_order_size),
        position_limit=dec(cfg.position_limit),
        max_open_orders=cfg.max_open_orders,
        price_bands_width=cfg.price_bands_width,
        max_slippage=cfg.max_slippage,
        funding_period_hours=cfg.funding_period_hours,
        funding_multiplier=1,
        max_funding_rate=Decimal("0.05"),
        max_funding_rate_change=Decimal("0.0005"),
        clamp_rate=Decimal("0.05"),
        interest_rate=Decimal("0.0001"),
        oracle_ewma_factor=Decimal("0.2"),
        max_tob_spread=Decimal("0.2"),
        price_feed_id=f"SIM-{cfg.base_currency}-USD",
        trading_mode="STANDARD",
        open_at=cfg.open_at,
        expiry_at=0,
        tags=list(cfg.tags),
        delta1_cross_margin_params=Delta1CrossMarginParams(
            imf_base=cfg.imf_base, imf_factor=_ZERO, imf_shift=_ZERO, mmf_factor=cfg.mmf_factor
        ),
        fee_config=MarketFeeConfig(api_fee=fees, interactive_fee=fees, rpi_fee=fees),
    )


WireModel = (
    Order
    | Fill
    | Position
    | Account
    | Balance
    | WireBalanceEvent
    | WireTradebust
    | BookUpdate
    | Bbo
    | Trade
    | MarketSummary
    | FundingData
    | FundingPayment
    | AlgoOrder
)


def to_wire(event: ev.VenueEvent) -> WireModel:
    """The wire payload of any engine event (what the matching WS channel pushes)."""
    if isinstance(event, ev.OrderUpdate):
        return order(event.order)
    if isinstance(event, ev.FillEvent):
        return fill(event.fill)
    if isinstance(event, ev.PositionUpdate):
        return position(event.position)
    if isinstance(event, ev.AccountUpdate):
        return account(event.summary)
    if isinstance(event, ev.BalanceUpdate):
        return balance(event.balance)
    if isinstance(event, ev.BalanceEvent):
        return balance_event(event)
    if isinstance(event, ev.Tradebust):
        return tradebust(event)
    if isinstance(event, ev.BookDelta):
        return book_update(event)
    if isinstance(event, ev.BboUpdate):
        return bbo(event)
    if isinstance(event, ev.TradeEvent):
        return trade(event)
    if isinstance(event, ev.MarketSummaryUpdate):
        return market_summary(event)
    if isinstance(event, ev.FundingUpdate):
        return funding_data(event)
    if isinstance(event, ev.FundingPaymentEvent):
        return funding_payment(event.payment)
    return algo(event.algo)
