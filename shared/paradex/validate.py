"""Validation of venue records where they enter the hub (pure and cheap; DESIGN.md "Version 2
rules": nothing unvalidated becomes truth).

Every edge that turns venue input into bus events calls :func:`check` on each decoded record
before anything is published: the feed (WebSocket pushes), the reconciler (REST snapshots and
lookups), the commands service (venue replies); the state core checks whatever still reaches the
stream at its apply entry (:func:`shared.bus.deadletter.check_event`). A record is refused as a whole with a
:class:`Rejection`: a reason from the fixed set :data:`Reason` (a metric label), the field and a
short detail. The rules:

- decimals finite (no NaN, Infinity, sNaN) and bounded: at most :data:`MAX_WHOLE_DIGITS` digits
  before the point, nothing that starts below ``1E-24``, at most :data:`MAX_TEXT` characters
  written out (``1E+999999``, ``1E-40``, 1000-digit strings are refused); numbers the venue sends
  as text (``""`` = none) obey the same rule;
- sizes, amounts and volumes >= 0; book, BBO and trade prices > 0; order, fill and entry prices
  >= 0 (a market order's price is ``0``); signed fields (position size, PnL, fees, funding) any sign;
- enums known (side, status, type, instruction, stp, flags, liquidity, fill and trade type, book
  update type): an unknown value refuses the record instead of being guessed at;
- the account is ours when the scope names one (hex compared without case or leading zeros);
- every market a safe NATS subject token; market data only for a market of ``scope.markets``
  (account records may name any market: a position elsewhere is still our exposure);
- ``seq_no`` in ``[0, 2**63)``; ids non-empty, printable, at most :data:`MAX_ID_LEN` characters;
- the timestamps the hub orders by (``created_at``, ``last_updated_at``, ``updated_at``, in ms):
  0 (none given) or from :data:`MIN_TS_MS` (2019-01-01) to ``now_ms + scope.future_ms``; the
  upper bound is skipped when ``now_ms`` is 0 (no receipt time to compare with). A venue time
  far in the future would otherwise move the state's retention clock and evict live records.

Sample: ``check(order, Scope(account="0x5e1f..."), now_ms)`` is ``None`` for a good order and
``Rejection(reason="non_finite", field="size", detail="NaN")`` for one with size ``"NaN"``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal, NamedTuple, get_args

import msgspec

from shared.errors import DecodeError
from shared.paradex.models.account import Account, Balance, BalanceEvent, Fill, Order, Position, Tradebust
from shared.paradex.models.market_data import (
    Bbo,
    BookLevel,
    BookUpdate,
    FundingData,
    MarketSummary,
    OrderBook,
    Trade,
)

Reason = Literal[
    "bad_json", "bad_schema", "bad_sbe", "unknown_channel", "non_finite", "out_of_range", "negative",
    "not_positive", "unknown_enum", "foreign_account", "unsubscribed_market", "unsafe_market",
    "negative_seq", "bad_timestamp", "bad_id", "internal_error",
]
"""Why a record was refused (a fixed set: safe as a metric label)."""
REASONS: Final[tuple[Reason, ...]] = get_args(Reason)

MAX_WHOLE_DIGITS: Final = 24
MAX_SCALE: Final = 24
MAX_TEXT: Final = MAX_WHOLE_DIGITS + MAX_SCALE + 2  # sign and point
MAX_ID_LEN: Final = 256
MAX_MARKET_LEN: Final = 64
MAX_SEQ: Final = 2**63 - 1
MIN_TS_MS: Final = 1_546_300_800_000  # 2019-01-01T00:00:00Z, before Paradex existed
FUTURE_MS: Final = 3_600_000

SIDES = frozenset({"BUY", "SELL"})
ORDER_STATUSES = frozenset({"NEW", "UNTRIGGERED", "OPEN", "CLOSED"})
ORDER_TYPES = frozenset({"MARKET", "LIMIT", "STOP_LIMIT", "STOP_MARKET", "TAKE_PROFIT_LIMIT",
                         "TAKE_PROFIT_MARKET", "STOP_LOSS_MARKET", "STOP_LOSS_LIMIT"})
INSTRUCTIONS = frozenset({"GTC", "POST_ONLY", "IOC", "RPI"})
STP_MODES = frozenset({"", "EXPIRE_MAKER", "EXPIRE_TAKER", "EXPIRE_BOTH"})
ORDER_FLAGS = frozenset({"REDUCE_ONLY", "STOP_CONDITION_BELOW_TRIGGER", "STOP_CONDITION_ABOVE_TRIGGER",
                         "INTERACTIVE", "TARGET_STRATEGY_VWAP", "MMP"})
FILL_TYPES = frozenset({"FILL", "LIQUIDATION", "UNWIND_TRANSFER", "SETTLE_MARKET", "RPI", "BLOCK_TRADE"})
FILL_FLAGS = frozenset({"interactive", "rpi", "fastfill"})
LIQUIDITY = frozenset({"TAKER", "MAKER"})
POSITION_STATUSES = frozenset({"OPEN", "CLOSED"})
POSITION_SIDES = frozenset({"LONG", "SHORT"})
BOOK_UPDATE_TYPES = frozenset({"s", "d"})


class Rejection(NamedTuple):
    """Why one record was refused: ``reason`` (fixed set), ``field`` and a short ``detail``."""

    reason: Reason
    field: str = ""
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Scope:
    """What an edge knows: our ``account`` (:func:`account_key` form; ``""`` = not checked), the
    ``markets`` market data may name (None = any safe market), how far ahead of the receipt time
    a venue timestamp may be (``future_ms``: clock skew)."""

    account: str = ""
    markets: frozenset[str] | None = None
    future_ms: int = FUTURE_MS

    @staticmethod
    def of(account: str = "", markets: Iterable[str] | None = None, future_ms: int = FUTURE_MS) -> Scope:
        """A scope with ``account`` normalised; every market must be a safe token (ValueError)."""
        wanted = None if markets is None else frozenset(markets)
        for m in wanted or ():
            if not is_token(m):
                raise ValueError(f"market {m!r} is not a valid NATS subject token")
        return Scope(account_key(account) if account else "", wanted, future_ms)


ANY: Final = Scope()
"""No account or market restriction (the state guard: structure, numbers, enums, tokens)."""


def account_key(account: str) -> str:
    """The comparable form of an account: lower case, hex without leading zeros (``0x05A`` -> ``0x5a``)."""
    a = account.strip().lower()
    if a.startswith("0x"):
        return "0x" + (a[2:].lstrip("0") or "0")
    return a


_TOKEN = re.compile(rf"[A-Za-z0-9_\-]{{1,{MAX_MARKET_LEN}}}")
_tokens: dict[str, bool] = {}


def is_token(value: str) -> bool:
    """True for a safe NATS subject token (letters, digits, ``_``, ``-``; 1-64 characters)."""
    ok = _tokens.get(value)
    if ok is None:
        ok = _TOKEN.fullmatch(value) is not None
        if len(_tokens) < 4096:
            _tokens[value] = ok
    return ok


def decode_reason(exc: DecodeError) -> Reason:
    """``bad_json`` when the bytes were not JSON, else ``bad_schema`` (wrong types, missing fields)."""
    return "bad_json" if isinstance(exc.__cause__, msgspec.DecodeError) and not isinstance(
        exc.__cause__, msgspec.ValidationError) else "bad_schema"


# --- primitives (None = fine) ------------------------------------------------------------------


def _show(value: object) -> str:
    text = str(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def num(d: Decimal, field: str) -> Rejection | None:
    """``d`` finite and bounded: most significant digit in ``[1E-24, 1E+24)`` (a zero's exponent
    likewise), at most :data:`MAX_TEXT` characters written out (the digit count). Avoids
    ``as_tuple`` (which builds a tuple of every digit: ~1.3 us)."""
    if not d.is_finite():
        return Rejection("non_finite", field, _show(d))
    adj = d.adjusted()
    if adj >= MAX_WHOLE_DIGITS or adj < -MAX_SCALE or len(str(d)) > MAX_TEXT:
        return Rejection("out_of_range", field, _show(d))
    return None


def nonneg(d: Decimal, field: str) -> Rejection | None:
    """``d`` a bounded number >= 0."""
    bad = num(d, field)
    if bad is None and d < 0:
        return Rejection("negative", field, _show(d))
    return bad


def pos(d: Decimal, field: str) -> Rejection | None:
    """``d`` a bounded number > 0."""
    bad = num(d, field)
    if bad is None and d <= 0:
        return Rejection("not_positive", field, _show(d))
    return bad


Check = Callable[[Decimal, str], Rejection | None]


def _opt(check: Check, d: Decimal | None, field: str) -> Rejection | None:
    return None if d is None else check(d, field)


_PLAIN = re.compile(rf"\d{{1,{MAX_WHOLE_DIGITS}}}(?:\.\d{{1,{MAX_SCALE}}})?")


_plain: dict[str, bool] = {}  # plain decimal text -> "is zero" (book prices and sizes repeat)


def text(t: str, field: str, sign: Literal["any", "nonneg", "pos"] = "any") -> Rejection | None:
    """A number kept as the venue's text: ``""`` (none) or a bounded decimal of the given sign.
    The plain form (``"67629.7"``) is checked without building a Decimal, and remembered."""
    if not t:
        return None
    zero = _plain.get(t)
    if zero is None:
        if _PLAIN.fullmatch(t) is None:
            return _odd_text(t, field, sign)
        zero = not t.strip("0.")
        if len(_plain) >= 1 << 16:
            _plain.clear()
        _plain[t] = zero
    return Rejection("not_positive", field, t) if zero and sign == "pos" else None


def _odd_text(t: str, field: str, sign: str) -> Rejection | None:
    """A text number not in the plain form (sign, exponent, or garbage)."""
    if len(t) > MAX_TEXT + 8:
        return Rejection("out_of_range", field, _show(t))
    try:
        d = Decimal(t)
    except InvalidOperation:
        return Rejection("bad_schema", field, _show(t))
    return (pos if sign == "pos" else nonneg if sign == "nonneg" else num)(d, field)


def enum(value: str, allowed: frozenset[str], field: str) -> Rejection | None:
    """``value`` one of ``allowed``."""
    return None if value in allowed else Rejection("unknown_enum", field, _show(value))


def flags(values: list[str], allowed: frozenset[str], field: str) -> Rejection | None:
    """Every flag one of ``allowed``."""
    for v in values:
        if v not in allowed:
            return Rejection("unknown_enum", field, _show(v))
    return None


def seq(n: int, field: str = "seq_no") -> Rejection | None:
    """A sequence number in ``[0, 2**63)``."""
    if n < 0:
        return Rejection("negative_seq", field, str(n))
    return Rejection("out_of_range", field, _show(n)) if n > MAX_SEQ else None


def ts(t: int, field: str, now_ms: int, scope: Scope) -> Rejection | None:
    """A venue time in ms: 0 (the venue gave none, e.g. an account or book never updated), or not
    before 2019 and not after ``now_ms + scope.future_ms`` (when known)."""
    if (t < MIN_TS_MS and t != 0) or (now_ms and t > now_ms + scope.future_ms):
        return Rejection("bad_timestamp", field, _show(t))
    return None


def _opt_ts(t: int | None, field: str, now_ms: int, scope: Scope) -> Rejection | None:
    return None if not t else ts(t, field, now_ms, scope)


def ident(value: str, field: str, *, required: bool = True) -> Rejection | None:
    """An id: printable, at most MAX_ID_LEN characters, non-empty when ``required``."""
    if (required and not value) or len(value) > MAX_ID_LEN or not value.isprintable():
        return Rejection("bad_id", field, _show(value))
    return None


def market(m: str, scope: Scope, *, market_data: bool, field: str = "market") -> Rejection | None:
    """A safe subject token; for market data also one of ``scope.markets``."""
    wanted = scope.markets
    if market_data and wanted is not None:
        if m in wanted:
            return None
        return Rejection("unsubscribed_market" if is_token(m) else "unsafe_market", field, _show(m))
    return None if is_token(m) else Rejection("unsafe_market", field, _show(m))


_accounts: dict[str, str] = {}


def account(a: str, scope: Scope) -> Rejection | None:
    """Our account (when the scope names one)."""
    ours = scope.account
    if not ours or a == ours:
        return None
    key = _accounts.get(a)
    if key is None:
        key = account_key(a)
        if len(_accounts) < 256:
            _accounts[a] = key
    return None if key == ours else Rejection("foreign_account", "account", _show(a))


def level(lv: BookLevel, field: str) -> Rejection | None:
    """A book level: known side, price > 0, size >= 0."""
    return enum(lv.side, SIDES, f"{field}.side") or pos(lv.price, f"{field}.price") or \
        nonneg(lv.size, f"{field}.size")


# --- records ----------------------------------------------------------------------------------


def _order(o: Order, s: Scope, now: int) -> Rejection | None:
    return (account(o.account, s) or market(o.market, s, market_data=False) or ident(o.id, "id")
            or ident(o.client_id, "client_id", required=False) or enum(o.status, ORDER_STATUSES, "status")
            or enum(o.side, SIDES, "side") or enum(o.type, ORDER_TYPES, "type")
            or enum(o.instruction, INSTRUCTIONS, "instruction") or enum(o.stp, STP_MODES, "stp")
            or flags(o.flags, ORDER_FLAGS, "flags") or nonneg(o.size, "size")
            or nonneg(o.remaining_size, "remaining_size") or nonneg(o.price, "price")
            or text(o.avg_fill_price, "avg_fill_price", "nonneg")
            or text(o.trigger_price, "trigger_price", "nonneg")
            or seq(o.seq_no) or ts(o.created_at, "created_at", now, s)
            or ts(o.last_updated_at, "last_updated_at", now, s))


def _fill(f: Fill, s: Scope, now: int) -> Rejection | None:
    return (account(f.account, s) or market(f.market, s, market_data=False) or ident(f.id, "id")
            or ident(f.order_id, "order_id", required=False)
            or ident(f.client_id, "client_id", required=False)
            or enum(f.side, SIDES, "side") or enum(f.liquidity, LIQUIDITY, "liquidity")
            or enum(f.fill_type, FILL_TYPES, "fill_type") or flags(f.flags, FILL_FLAGS, "flags")
            or nonneg(f.size, "size") or nonneg(f.price, "price")
            or nonneg(f.remaining_size, "remaining_size")
            or num(f.fee, "fee") or num(f.realized_pnl, "realized_pnl")
            or num(f.realized_funding, "realized_funding")
            or text(f.underlying_price, "underlying_price", "nonneg")
            or (None if f.orderbook_seq_no is None else seq(f.orderbook_seq_no, "orderbook_seq_no"))
            or ts(f.created_at, "created_at", now, s))


def _position(p: Position, s: Scope, now: int) -> Rejection | None:
    return (account(p.account, s) or market(p.market, s, market_data=False) or ident(p.id, "id")
            or enum(p.status, POSITION_STATUSES, "status") or enum(p.side, POSITION_SIDES, "side")
            or num(p.size, "size") or nonneg(p.average_entry_price, "average_entry_price")
            or nonneg(p.average_entry_price_usd, "average_entry_price_usd")
            or nonneg(p.average_exit_price, "average_exit_price") or num(p.unrealized_pnl, "unrealized_pnl")
            or num(p.unrealized_funding_pnl, "unrealized_funding_pnl") or num(p.cost, "cost")
            or num(p.cost_usd, "cost_usd") or num(p.cached_funding_index, "cached_funding_index")
            or num(p.realized_positional_pnl, "realized_positional_pnl")
            or num(p.realized_positional_funding_pnl, "realized_positional_funding_pnl")
            or ident(p.last_fill_id, "last_fill_id", required=False) or seq(p.seq_no)
            or text(p.liquidation_price, "liquidation_price", "nonneg")
            or text(p.leverage, "leverage", "nonneg")
            or _opt_ts(p.created_at, "created_at", now, s)
            or _opt_ts(p.last_updated_at, "last_updated_at", now, s)
            or _opt_ts(p.closed_at, "closed_at", now, s))


def _account(a: Account, s: Scope, now: int) -> Rejection | None:
    return (account(a.account, s) or num(a.initial_margin_requirement, "initial_margin_requirement")
            or num(a.maintenance_margin_requirement, "maintenance_margin_requirement")
            or num(a.account_value, "account_value") or num(a.total_collateral, "total_collateral")
            or num(a.free_collateral, "free_collateral") or num(a.margin_cushion, "margin_cushion")
            or ident(a.settlement_asset, "settlement_asset") or ident(a.status, "status") or seq(a.seq_no)
            or ts(a.updated_at, "updated_at", now, s))


def _balance(b: Balance, s: Scope, now: int) -> Rejection | None:
    return (market(b.token, s, market_data=False, field="token") or num(b.size, "size")
            or _opt(num, b.cost, "cost") or _opt(num, b.cost_usd, "cost_usd")
            or _opt(nonneg, b.average_entry_price, "average_entry_price")
            or _opt(nonneg, b.average_entry_price_usd, "average_entry_price_usd")
            or _opt_ts(b.last_updated_at, "last_updated_at", now, s))


def _balance_event(b: BalanceEvent, s: Scope, now: int) -> Rejection | None:
    return (ident(b.type, "type") or ident(b.status, "status")
            or ident(b.settlement_asset_name, "settlement_asset_name")
            or ident(b.settlement_asset_address, "settlement_asset_address", required=False)
            or num(b.settlement_asset_balance_before, "settlement_asset_balance_before")
            or num(b.settlement_asset_balance_after, "settlement_asset_balance_after")
            or nonneg(b.settlement_asset_price, "settlement_asset_price")
            or (market(b.market, s, market_data=False) if b.market else None)
            or ident(b.fill_id, "fill_id", required=False) or _opt(num, b.funding_index, "funding_index")
            or _opt(num, b.realized_pnl, "realized_pnl") or _opt(num, b.fees, "fees")
            or _opt(num, b.realized_funding, "realized_funding") or ts(b.created_at, "created_at", now, s))


def _tradebust(t: Tradebust, s: Scope, now: int) -> Rejection | None:
    return (account(t.account, s) or ident(t.busted_fill_id, "busted_fill_id")
            or ts(t.created_at, "created_at", now, s))


def _book(b: BookUpdate, s: Scope, now: int) -> Rejection | None:
    bad = (market(b.market, s, market_data=True) or seq(b.seq_no)
           or enum(b.update_type, BOOK_UPDATE_TYPES, "update_type")
           or ts(b.last_updated_at, "last_updated_at", now, s))
    if bad is not None:
        return bad
    for name, levels in (("inserts", b.inserts), ("updates", b.updates), ("deletes", b.deletes)):
        for i, lv in enumerate(levels):
            bad = level(lv, f"{name}[{i}]")
            if bad is not None:
                return bad
    for name, best in (("best_bid_api", b.best_bid_api), ("best_ask_api", b.best_ask_api),
                       ("best_bid_interactive", b.best_bid_interactive),
                       ("best_ask_interactive", b.best_ask_interactive)):
        if best is not None:
            bad = level(best, name)
            if bad is not None:
                return bad
    return _opt(num, b.relative_spread, "relative_spread")


def _bbo(b: Bbo, s: Scope, now: int) -> Rejection | None:
    return (market(b.market, s, market_data=True) or seq(b.seq_no) or text(b.bid, "bid", "pos")
            or text(b.bid_size, "bid_size", "nonneg") or text(b.ask, "ask", "pos")
            or text(b.ask_size, "ask_size", "nonneg") or ts(b.last_updated_at, "last_updated_at", now, s))


def _trade(t: Trade, s: Scope, now: int) -> Rejection | None:
    return (market(t.market, s, market_data=True) or ident(t.id, "id") or enum(t.side, SIDES, "side")
            or enum(t.trade_type, FILL_TYPES, "trade_type") or nonneg(t.size, "size") or pos(t.price, "price")
            or ts(t.created_at, "created_at", now, s))


def _summary(m: MarketSummary, s: Scope, now: int) -> Rejection | None:
    bad = (market(m.symbol, s, market_data=True, field="symbol") or text(m.mark_price, "mark_price", "nonneg")
           or text(m.last_traded_price, "last_traded_price", "nonneg") or text(m.bid, "bid", "pos")
           or text(m.bid_size, "bid_size", "nonneg") or text(m.ask, "ask", "pos")
           or text(m.ask_size, "ask_size", "nonneg") or text(m.underlying_price, "underlying_price", "nonneg")
           or nonneg(m.volume_24h, "volume_24h") or nonneg(m.total_volume, "total_volume")
           or nonneg(m.open_interest, "open_interest") or num(m.funding_rate, "funding_rate")
           or num(m.price_change_rate_24h, "price_change_rate_24h") or ts(m.created_at, "created_at", now, s))
    if bad is not None:
        return bad
    for name in ("future_funding_rate", "external_fair_price", "mark_iv", "bid_iv", "ask_iv", "last_iv",
                 "delta", "forward_rate", "risk_free_rate"):
        bad = _opt(num, getattr(m, name), name)
        if bad is not None:
            return bad
    g = m.greeks
    if g is not None:
        for name in ("delta", "gamma", "vega", "rho", "theta", "vanna", "volga"):
            bad = _opt(num, getattr(g, name), f"greeks.{name}")
            if bad is not None:
                return bad
    return None


def _funding(f: FundingData, s: Scope, now: int) -> Rejection | None:
    bad = (market(f.market, s, market_data=True) or num(f.funding_index, "funding_index")
           or num(f.funding_premium, "funding_premium") or num(f.funding_rate, "funding_rate")
           or num(f.funding_rate_8h, "funding_rate_8h")
           or _opt(num, f.impact_premium_rate, "impact_premium_rate")
           or ts(f.created_at, "created_at", now, s))
    if bad is None and not (math.isfinite(f.funding_period_hours) and 0 < f.funding_period_hours <= 24 * 366):
        return Rejection("out_of_range", "funding_period_hours", _show(f.funding_period_hours))
    return bad


def _orderbook(b: OrderBook, s: Scope, now: int) -> Rejection | None:
    bad = (market(b.market, s, market_data=True) or seq(b.seq_no)
           or ts(b.last_updated_at, "last_updated_at", now, s))
    for name, side in (("bids", b.bids), ("asks", b.asks)):
        for i, (price, size) in enumerate(side):
            bad = bad or pos(price, f"{name}[{i}].price") or nonneg(size, f"{name}[{i}].size")
    return bad


_CHECKS: dict[type, Callable[[Any, Scope, int], Rejection | None]] = {
    Order: _order, Fill: _fill, Position: _position, Account: _account, Balance: _balance,
    BalanceEvent: _balance_event, Tradebust: _tradebust, BookUpdate: _book, Bbo: _bbo, Trade: _trade,
    MarketSummary: _summary, FundingData: _funding, OrderBook: _orderbook,
}
RECORD_TYPES: Final[tuple[type, ...]] = tuple(_CHECKS)


def check(record: object, scope: Scope, now_ms: int) -> Rejection | None:
    """None when ``record`` (a venue model of :data:`RECORD_TYPES`) may enter the hub, else why
    not. ``now_ms``: when it was received (0 = unknown: no upper time bound)."""
    fn = _CHECKS.get(type(record))
    if fn is None:
        raise TypeError(f"no validation rule for {type(record).__name__}")
    return fn(record, scope, now_ms)
