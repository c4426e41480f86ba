"""More private account endpoints: margin configuration (leverage), account info, history and
summaries, sub-accounts, tradebusts.

Leverage is stored per (account, market) by the venue layer and reported back; the engine's
margin stays ``imf_base`` flat (a documented simplification: a lower leverage does not raise the
simulated margin requirement). Only cross margin is modelled.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
from starlette.responses import Response

from shared.errors import VenueError

from ..engine import convert
from ..paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, paginate
from .common import Call, json_response, page_response

HISTORY_TYPES = ("pnl", "value", "volume", "fee_savings")


class _MarginBody(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    leverage: int
    margin_type: str = "CROSS"
    on_behalf_of_account: str | None = None


def max_leverage(call: Call, market: str) -> int:
    return int(Decimal(1) / call.venue.exchange.market(market).imf_base)


def _config(call: Call, market: str) -> tuple[int, str]:
    return call.venue.margin.get((call.account, market), (max_leverage(call, market), "CROSS"))


def margin(call: Call) -> Response:
    """``GET /account/margin?market``: the account's leverage and margin type in that market."""
    market = call.query("market")
    if market is None:
        raise VenueError(400, "VALIDATION_ERROR", "query parameter market is required")
    call.venue.exchange.market(market)
    leverage, margin_type = _config(call, market)
    return json_response({
        "account": call.account, "margin_methodology": "cross_margin",
        "configs": [{"market": market, "leverage": leverage, "margin_type": margin_type,
                     "isolated_margin_leverage": leverage}],
    })


def set_margin(call: Call) -> Response:
    """``POST /account/margin/{market}`` ``{leverage, margin_type}``: 1 <= leverage <= 1/imf_base."""
    market = call.param("market")
    call.venue.exchange.market(market)
    body = call.body_as(_MarginBody)
    if body.margin_type.upper() != "CROSS":
        raise VenueError(400, "VALIDATION_ERROR", f"margin_type {body.margin_type!r}: only CROSS is modelled")
    top = max_leverage(call, market)
    if not 1 <= body.leverage <= top:
        raise VenueError(400, "VALIDATION_ERROR", f"leverage must be between 1 and {top} for {market}")
    call.venue.margin[(call.account, market)] = (body.leverage, "CROSS")
    return json_response({"account": call.account, "market": market, "leverage": body.leverage,
                          "margin_type": "CROSS"})


def account_info(call: Call) -> Response:
    """``GET /account/info``: one main account with its key and fee rates."""
    cfg = next(iter(call.venue.exchange.markets.values()))
    maker, taker = str(convert.dec(cfg.maker_fee)), str(convert.dec(cfg.taker_fee))
    key = call.venue.public_key(call.account)
    fees = {"commission_rate": "0", "discount_rate": "0", "maker_rate": maker, "taker_rate": taker,
            "dated_option_maker_rate": maker, "dated_option_taker_rate": taker,
            "perp_option_maker_rate": maker, "perp_option_taker_rate": taker,
            "spot_maker_rate": maker, "spot_taker_rate": taker}
    info: dict[str, Any] = {
        "account": call.account, "created_at": call.venue.registered_at.get(call.account, 0),
        "derivation_path": "", "fees": fees, "has_ecosystem_nft": False, "isolated_market": "",
        "kind": "main", "parent_account": "", "public_key": hex(key) if key is not None else "",
        "username": "", "volume_tiers": {},
    }
    return json_response({"results": [info]})


def account_history(call: Call) -> Response:
    """``GET /account/history?type=pnl|value|volume|fee_savings``: the simulator keeps no time
    series, so this is one datapoint, now: realized PnL of the fills, account value, traded
    notional, fee savings (0: no fee programs)."""
    kind = call.query("type")
    if kind not in HISTORY_TYPES:
        wanted = ", ".join(HISTORY_TYPES)
        raise VenueError(400, "VALIDATION_ERROR", f"query parameter type must be one of {wanted}")
    ex = call.venue.exchange
    fills = ex.list_fills(call.account)
    if kind == "pnl":
        value = sum((f.realized_pnl for f in fills), Decimal(0))
    elif kind == "value":
        value = ex.account_summary(call.account).account_value
    elif kind == "volume":
        value = sum((f.size * f.price for f in fills), Decimal(0))
    else:
        value = Decimal(0)
    return json_response({"data": [float(convert.q8(value))], "timestamps": [call.now_ms // 1000]})


def account_summary(call: Call) -> Response:
    """``GET /account/summary``: the main account (no authorized sub-accounts in the simulator)."""
    return json_response({"results": [convert.account(call.venue.exchange.account_summary(call.account))]})


def subaccounts(call: Call) -> Response:
    return json_response({"results": []})


def tradebusts(call: Call) -> Response:
    """``GET /tradebusts``: busts of the account's fills, newest first, paginated."""
    size = call.query_int("page_size", DEFAULT_PAGE_SIZE, lo=1, hi=MAX_PAGE_SIZE)
    assert size is not None
    records = call.venue.history.account_tradebusts(call.account, call.query_int("start_at"),
                                                    call.query_int("end_at"))
    page, nxt, prv = paginate(records, lambda r: r.key, call.query("cursor"), size)
    return page_response([convert.tradebust(r.event) for r in page], nxt, prv)
