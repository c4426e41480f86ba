"""Reference data: ``/system/*`` and ``/markets`` (MarketResp with its nested parameter structs).

The OpenAPI schemas list no required fields for these responses; only the identity fields are
required here (``symbol``, ``starknet_chain_id``...) so that a market with a missing optional
parameter never fails a whole ``/markets`` listing. Option-only numbers (``strike_price``,
``iv_bands_width``, option margin params) stay ``str`` because perpetual markets may carry ``""``.
"""

from __future__ import annotations

from decimal import Decimal

from shared.paradex.models.common import Model


class BridgedToken(Model, frozen=True, kw_only=True):
    """A token bridged to Paradex (``/system/config`` ``bridged_tokens``)."""

    name: str = ""
    symbol: str = ""
    decimals: int | None = None
    l1_bridge_address: str = ""
    l1_token_address: str = ""
    l2_bridge_address: str = ""
    l2_token_address: str = ""


class SystemConfig(Model, frozen=True, kw_only=True):
    """``GET /system/config``; ``starknet_chain_id`` is the short string used in signatures."""

    starknet_chain_id: str
    paraclear_decimals: int | None = None
    paraclear_address: str = ""
    paraclear_account_hash: str = ""
    paraclear_account_proxy_hash: str = ""
    paraclear_evm_account_hash: str = ""
    environment: str = ""
    block_explorer_url: str = ""
    bridged_tokens: list[BridgedToken] = []
    assets_limit_per_account: int | None = None
    dime_staking_contract_address: str = ""
    l1_chain_id: str = ""
    l1_core_contract_address: str = ""
    l1_operator_address: str = ""
    l1_relayer_address: str = ""
    l2_relayer_address: str = ""
    liquidation_fee: Decimal | None = None
    oracle_address: str = ""
    partial_liquidation_buffer: Decimal | None = None
    partial_liquidation_share_increment: Decimal | None = None
    starknet_fullnode_rpc_base_url: str = ""
    starknet_fullnode_rpc_url: str = ""
    starknet_gateway_url: str = ""
    universal_deployer_address: str = ""


class SystemTime(Model, frozen=True, kw_only=True):
    """``GET /system/time``: ``server_time`` is a string of Unix ms (``"1681493415023"``)."""

    server_time: str

    @property
    def server_time_ms(self) -> int:
        """``server_time`` as an int (ms)."""
        return int(self.server_time)


class SystemState(Model, frozen=True, kw_only=True):
    """``GET /system/state``: ``status`` ok / maintenance / cancel_only / post_only (see SystemStatus)."""

    status: str


class FeeWithCap(Model, frozen=True, kw_only=True):
    """A fee rate with optional cap/floor (cap/floor used for options)."""

    fee: Decimal | None = None
    fee_cap: Decimal | None = None
    fee_floor: Decimal | None = None


class MakerTakerFee(Model, frozen=True, kw_only=True):
    """Maker and taker fees of one order origin."""

    maker_fee: FeeWithCap | None = None
    taker_fee: FeeWithCap | None = None


class MarketFeeConfig(Model, frozen=True, kw_only=True):
    """Per-market fee override by order origin (API, UI, RPI)."""

    api_fee: MakerTakerFee | None = None
    interactive_fee: MakerTakerFee | None = None
    rpi_fee: MakerTakerFee | None = None


class Delta1CrossMarginParams(Model, frozen=True, kw_only=True):
    """Cross-margin parameters of perpetual/future markets."""

    imf_base: Decimal | None = None
    imf_factor: Decimal | None = None
    imf_shift: Decimal | None = None
    mmf_factor: Decimal | None = None


class OptionMarginParams(Model, frozen=True, kw_only=True):
    """Option margin fractions (strings: may be empty on non-option markets)."""

    long_itm: str = ""
    premium_multiplier: str = ""
    short_itm: str = ""
    short_otm: str = ""
    short_put_cap: str = ""


class OptionCrossMarginParams(Model, frozen=True, kw_only=True):
    """Initial/maintenance option margin parameters."""

    imf: OptionMarginParams | None = None
    mmf: OptionMarginParams | None = None


class Market(Model, frozen=True, kw_only=True):
    """MarketResp: one item of ``GET /markets``. ``open_at``/``expiry_at`` are ms (0 for perps)."""

    symbol: str
    base_currency: str = ""
    quote_currency: str = ""
    settlement_currency: str = ""
    asset_kind: str = ""
    market_kind: str = ""
    trading_mode: str = ""
    price_tick_size: Decimal | None = None
    order_size_increment: Decimal | None = None
    min_notional: Decimal | None = None
    max_order_size: Decimal | None = None
    position_limit: Decimal | None = None
    max_open_orders: int | None = None
    price_bands_width: Decimal | None = None
    max_slippage: Decimal | None = None
    max_tob_spread: Decimal | None = None
    funding_period_hours: int | float | None = None
    funding_multiplier: int | float | None = None
    max_funding_rate: Decimal | None = None
    max_funding_rate_change: Decimal | None = None
    clamp_rate: Decimal | None = None
    interest_rate: Decimal | None = None
    oracle_ewma_factor: Decimal | None = None
    open_at: int | None = None
    expiry_at: int | None = None
    price_feed_id: str = ""
    tags: list[str] = []
    delta1_cross_margin_params: Delta1CrossMarginParams | None = None
    fee_config: MarketFeeConfig | None = None
    option_cross_margin_params: OptionCrossMarginParams | None = None
    option_type: str = ""
    strike_price: str = ""
    iv_bands_width: str = ""
