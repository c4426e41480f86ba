"""Market specifications (the subset of MarketResp the engine obeys) and input validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from .types import ZERO, EngineError, ErrorCode


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketConfig:
    """One perpetual market. Field names follow MarketResp (PROTOCOL.md §3.4).

    Margin is a documented simplification of ``delta1_cross_margin_params``: initial margin =
    ``|exposure| * mark * imf_base``, maintenance = initial * ``mmf_factor``.
    """

    symbol: str
    base_currency: str
    price_tick_size: Decimal
    order_size_increment: Decimal
    initial_price: Decimal
    quote_currency: str = "USD"
    settlement_currency: str = "USDC"
    min_notional: Decimal = Decimal(10)
    max_order_size: Decimal = Decimal(1000)
    position_limit: Decimal = Decimal(5000)
    max_open_orders: int = 100
    price_bands_width: Decimal = Decimal("0.05")
    #: A MARKET order trades only within ``mark * (1 ± max_slippage)``; the rest is closed.
    max_slippage: Decimal = Decimal("0.05")
    maker_fee: Decimal = Decimal("0.0000")
    taker_fee: Decimal = Decimal("0.0003")
    imf_base: Decimal = Decimal("0.05")
    mmf_factor: Decimal = Decimal("0.5")
    funding_period_hours: int = 8
    funding_rate: Decimal = Decimal("0.0001")
    open_at: int = 0
    tags: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.price_tick_size <= ZERO or self.order_size_increment <= ZERO:
            raise ValueError(f"{self.symbol}: tick and size increment must be positive")
        if self.initial_price <= ZERO or not on_grid(self.initial_price, self.price_tick_size):
            raise ValueError(f"{self.symbol}: initial_price must be a positive multiple of the tick")


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleConfig:
    """Periodic venue work run by :meth:`Exchange.advance` (0 disables an item).

    ``funding_payment_interval_ms``: every open position pays its accrued funding (the index
    itself accrues on every advance). ``health_check_interval_ms``: accounts below maintenance
    margin are liquidated (the docs' health check runs every 5 s). ``liquidation_fee``: the
    penalty is ``liquidation_fee * maintenance margin`` (docs: 70 %).
    """

    funding_payment_interval_ms: int = 3_600_000
    health_check_interval_ms: int = 5_000
    liquidation_fee: Decimal = Decimal("0.7")


def on_grid(value: Decimal, step: Decimal) -> bool:
    """True when ``value`` is an exact multiple of ``step``."""
    return value % step == ZERO


def parse_decimal(raw: Decimal | str | int, what: str) -> Decimal:
    """Turn a request value into a finite Decimal or raise INVALID_REQUEST_PARAMETER."""
    if isinstance(raw, Decimal):
        value = raw
    else:
        try:
            value = Decimal(str(raw))
        except InvalidOperation:
            raise EngineError(ErrorCode.INVALID_REQUEST_PARAMETER, f"{what}: not a number: {raw!r}") from None
    if not value.is_finite():
        raise EngineError(ErrorCode.INVALID_REQUEST_PARAMETER, f"{what}: not finite: {raw!r}")
    return value


def check_price(market: MarketConfig, price: Decimal) -> Decimal:
    """A LIMIT price must be positive and on the tick (INVALID_PRICE_PRECISION otherwise)."""
    if price <= ZERO:
        raise EngineError(ErrorCode.VALIDATION_ERROR, f"price must be positive, got {price}")
    if not on_grid(price, market.price_tick_size):
        raise EngineError(
            ErrorCode.INVALID_PRICE_PRECISION,
            f"price {price} is not a multiple of tick {market.price_tick_size} for {market.symbol}",
        )
    return price.quantize(market.price_tick_size)


def check_trigger_price(market: MarketConfig, price: Decimal) -> Decimal:
    """A trigger price must be positive and on the tick, like a LIMIT price."""
    if price <= ZERO:
        raise EngineError(ErrorCode.VALIDATION_ERROR, f"trigger_price must be positive, got {price}")
    if not on_grid(price, market.price_tick_size):
        raise EngineError(
            ErrorCode.INVALID_PRICE_PRECISION,
            f"trigger_price {price} is not a multiple of tick {market.price_tick_size} for {market.symbol}",
        )
    return price.quantize(market.price_tick_size)


def check_size(market: MarketConfig, size: Decimal) -> Decimal:
    """A size must be positive, on the increment and at most ``max_order_size``."""
    if size <= ZERO:
        raise EngineError(ErrorCode.INVALID_ORDER_SIZE, f"size must be positive, got {size}")
    if not on_grid(size, market.order_size_increment):
        raise EngineError(
            ErrorCode.INVALID_ORDER_SIZE,
            f"size {size} is not a multiple of {market.order_size_increment} for {market.symbol}",
        )
    if size > market.max_order_size:
        raise EngineError(ErrorCode.INVALID_ORDER_SIZE, f"size {size} exceeds max {market.max_order_size}")
    return size.quantize(market.order_size_increment)


def default_markets() -> list[MarketConfig]:
    """BTC-USD-PERP (tick 0.1, size 0.001) and ETH-USD-PERP (tick 0.01, size 0.01)."""
    return [
        MarketConfig(
            symbol="BTC-USD-PERP",
            base_currency="BTC",
            price_tick_size=Decimal("0.1"),
            order_size_increment=Decimal("0.001"),
            initial_price=Decimal("65000.0"),
            max_order_size=Decimal(100),
            position_limit=Decimal(500),
        ),
        MarketConfig(
            symbol="ETH-USD-PERP",
            base_currency="ETH",
            price_tick_size=Decimal("0.01"),
            order_size_increment=Decimal("0.01"),
            initial_price=Decimal("3200.00"),
            max_order_size=Decimal(2000),
            position_limit=Decimal(10000),
        ),
    ]
