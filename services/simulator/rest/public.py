"""Public REST endpoints: system, markets, summaries, order book, BBO, trades, onboarding check."""

from __future__ import annotations

import msgspec
from starlette.responses import Response

from shared.errors import VenueError
from shared.paradex.models.reference import SystemConfig, SystemState, SystemTime
from shared.paradex.models.rest import OnboardingCheck, OnboardingDerivationInfo, Results

from ..engine import convert
from ..paging import DEFAULT_PAGE_SIZE, paginate
from .common import Call, json_response, page_response

MAX_TRADES_PAGE = 1000


def system_config(call: Call) -> Response:
    return json_response(SystemConfig(
        starknet_chain_id=call.venue.chain_id, paraclear_decimals=8, environment="simulator",
        paraclear_address="0x0", paraclear_account_hash="0x0", paraclear_account_proxy_hash="0x0",
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
    return json_response(Results(results=[convert.market(c) for c in configs]))


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
    """``GET /onboarding?public_key=0x..``: whether an account is registered with that key."""
    raw = call.query("public_key")
    if raw is None:
        raise VenueError(400, "VALIDATION_ERROR", "query parameter public_key is required")
    try:
        key = int(raw, 16)
    except ValueError:
        raise VenueError(400, "PUBLIC_KEY_INVALID", f"not a hex public key: {raw!r}") from None
    address = next((a for a, k in call.venue.public_keys.items() if k == key), "")
    return json_response(OnboardingCheck(
        exists=bool(address), address=address, account_signer_type="starknet",
        derivation_info=OnboardingDerivationInfo(class_hash="0x0", proxy_class_hash="0x0"),
    ))
