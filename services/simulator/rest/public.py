"""Public REST endpoints: system, markets, summaries, order book, BBO, trades, onboarding check."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
from starlette.responses import Response

from shared.errors import VenueError
from shared.paradex.models.reference import BridgedToken, SystemConfig, SystemState, SystemTime
from shared.paradex.models.rest import OnboardingCheck, OnboardingDerivationInfo, Results

from .. import identity as ids
from ..engine import convert
from ..paging import DEFAULT_PAGE_SIZE, paginate
from ..wire import complete
from .common import Call, json_response, page_response

MAX_TRADES_PAGE = 1000
#: MarketResp fields that describe options only: left out of a perpetual's listing.
OPTION_ONLY_MARKET_FIELDS = ("option_type", "strike_price", "iv_bands_width", "option_cross_margin_params")


def system_config(call: Call) -> Response:
    """Every SystemConfigResponse field (clients read several: the SDK's constructor needs
    fourteen). Contract addresses are the spec's examples; the node URLs point back at this
    server (nothing a client derives from here leaves the machine); the L1 chain is Sepolia,
    matching the default Starknet chain id (``PRIVATE_SN_POTC_MOCK_SEPOLIA``)."""
    base = f"{call.request.base_url.scheme}://{call.request.base_url.netloc}"
    return json_response(SystemConfig(
        starknet_chain_id=call.venue.chain_id, paraclear_decimals=8, environment="simulator",
        paraclear_address=ids.PARACLEAR_ADDRESS, paraclear_account_hash=ids.ACCOUNT_CLASS_HASH,
        paraclear_account_proxy_hash=ids.ACCOUNT_PROXY_CLASS_HASH,
        paraclear_evm_account_hash=ids.EVM_ACCOUNT_CLASS_HASH,
        block_explorer_url=f"{base}/explorer/", assets_limit_per_account=550,
        bridged_tokens=[BridgedToken(name="USDC", symbol="USDC", decimals=6, l1_bridge_address=ids.L1_ADDRESS,
                                     l1_token_address=ids.L1_ADDRESS, l2_bridge_address=ids.USDC_L2_TOKEN,
                                     l2_token_address=ids.USDC_L2_TOKEN)],
        dime_staking_contract_address=ids.UNIVERSAL_DEPLOYER_ADDRESS,
        l1_chain_id=call.venue.settings.l1_chain_id, l1_core_contract_address=ids.L1_ADDRESS,
        l1_operator_address=ids.L1_ADDRESS, l1_relayer_address=ids.L1_ADDRESS,
        l2_relayer_address=ids.L1_ADDRESS, liquidation_fee=Decimal("0.20"), oracle_address=ids.ORACLE_ADDRESS,
        partial_liquidation_buffer=Decimal("0.2"), partial_liquidation_share_increment=Decimal("0.05"),
        starknet_fullnode_rpc_base_url=base, starknet_fullnode_rpc_url=f"{base}/rpc/v0_10",
        starknet_gateway_url=base, universal_deployer_address=ids.UNIVERSAL_DEPLOYER_ADDRESS,
    ))


def system_time(call: Call) -> Response:
    return json_response(SystemTime(server_time=str(call.now_ms)))


def system_state(call: Call) -> Response:
    return json_response(SystemState(status=call.venue.system_status))


def _market(call: Call, name: str) -> str:
    call.venue.exchange.market(name)  # MARKET_NOT_FOUND
    return name


def markets(call: Call) -> Response:
    wanted = call.query("market")
    configs = call.venue.exchange.list_markets()
    if wanted is not None:
        configs = [c for c in configs if c.symbol == wanted]
        if not configs:
            raise VenueError(404, "MARKET_NOT_FOUND", f"unknown market {wanted!r}")
    return json_response(Results(results=[_perp_market(convert.market(c)) for c in configs]))


def _perp_market(market: Any) -> dict[str, Any]:
    body: dict[str, Any] = complete(market)
    for name in OPTION_ONLY_MARKET_FIELDS:
        body.pop(name, None)
    return body


def markets_summary(call: Call) -> Response:
    wanted = call.query("market")
    if wanted is None:
        raise VenueError(400, "VALIDATION_ERROR", "query parameter market is required (a symbol or ALL)")
    ex = call.venue.exchange
    names = list(ex.markets) if wanted == "ALL" else [_market(call, wanted)]
    return json_response(Results(results=[convert.market_summary(ex.market_summary(n)) for n in names]))


def orderbook(call: Call) -> Response:
    market = call.param("market")
    depth = call.query_int("depth", 20, lo=1, hi=1000)
    book = convert.orderbook(call.venue.exchange.orderbook(market, depth))
    # No RPI orders in the simulator: the API and interactive tops are the same levels.
    bid = list(book.bids[0]) if book.bids else None
    ask = list(book.asks[0]) if book.asks else None
    return json_response(msgspec.structs.replace(
        book, best_bid_api=bid, best_ask_api=ask, best_bid_interactive=bid, best_ask_interactive=ask))


def bbo(call: Call) -> Response:
    return json_response(convert.bbo(call.venue.exchange.bbo(call.param("market"))))


def trades(call: Call) -> Response:
    market = call.query("market")
    if market is None:
        raise VenueError(400, "VALIDATION_ERROR", "query parameter market is required")
    size = call.query_int("page_size", DEFAULT_PAGE_SIZE, lo=1, hi=MAX_TRADES_PAGE)
    assert size is not None
    start_at, end_at = call.query_int("start_at"), call.query_int("end_at")
    items = [
        t for t in call.venue.exchange.recent_trades(market, limit=10**9)
        if (start_at is None or t.created_at >= start_at) and (end_at is None or t.created_at <= end_at)
    ]
    page, nxt, prv = paginate(items, lambda t: int(t.id), call.query("cursor"), size)
    return page_response([convert.trade(t) for t in page], nxt, prv)


def onboarding_check(call: Call) -> Response:
    """``GET /onboarding?account_signer_type=starknet&public_key=0x..``: the account address of a
    key (the registered one if onboarded, else the Paraclear derivation) and whether it exists."""
    signer = call.query("account_signer_type") or "starknet"
    if signer != "starknet":
        raise VenueError(400, "VALIDATION_ERROR", f"account_signer_type {signer!r} is not supported")
    raw = call.query("public_key")
    if raw is None:
        raise VenueError(400, "VALIDATION_ERROR", "query parameter public_key is required")
    try:
        key = int(raw, 16)
    except ValueError:
        raise VenueError(400, "PUBLIC_KEY_INVALID", f"not a hex public key: {raw!r}") from None
    registered = next((a for a, k in call.venue.public_keys.items() if k == key), "")
    return json_response(OnboardingCheck(
        exists=bool(registered), address=registered or ids.account_address(key),
        account_signer_type="starknet",
        derivation_info=OnboardingDerivationInfo(class_hash=ids.ACCOUNT_CLASS_HASH,
                                                 proxy_class_hash=ids.ACCOUNT_PROXY_CLASS_HASH),
    ))
