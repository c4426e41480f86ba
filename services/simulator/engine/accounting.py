"""Position and margin arithmetic (pure functions over the state classes).

- A position keeps its signed ``size`` and signed entry ``cost`` (sum of signed entry notional).
  Reducing fills release cost pro rata (rounded to 1e-8); the last closing fill releases all that
  is left, so a round trip realizes exactly sell notional minus buy notional.
- Mark price: mid of the book when both sides exist, else the last trade, else the market's
  initial price (see ``Core.mark_price``).
- Margin (documented simplification): initial margin = ``|exposure| * mark * imf_base`` per market,
  maintenance = initial * ``mmf_factor``. For the risk check the exposure is the worst case with
  resting orders: ``max(|size + resting buys|, |size - resting sells|)``. Untriggered stop orders
  are not exposure (they are not in the book); once triggered they are checked as new orders.
- Funding (docs: funding mechanism): a position accrues ``-size * (index - cached index)``
  (rounded to 1e-8); that accrued funding is part of its unrealized PnL and of the account value
  until it is paid (see :mod:`.funding`), which moves it into the balance and resets the cache.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from .events import AccountView, PositionView
from .market import MarketConfig
from .state import AccountState, Position
from .types import MONEY_QUANTUM, ONE, ZERO, Side


def apply_fill(
    pos: Position, side: Side, size: Decimal, price: Decimal, fill_id: str, now_ms: int
) -> Decimal:
    """Apply one fill to ``pos``; return the realized PnL (1e-8 exact) of its reducing part."""
    signed = size if side is Side.BUY else -size
    old = pos.size
    realized = ZERO
    if old == ZERO or (old > ZERO) == (signed > ZERO):
        if old == ZERO:
            _reopen(pos, now_ms)
        pos.size = old + signed
        pos.cost += signed * price
    else:
        closing = min(size, abs(old))
        if closing == abs(old):
            released = pos.cost
        else:
            released = (pos.cost * closing / abs(old)).quantize(MONEY_QUANTUM)
        direction = ONE if old > ZERO else -ONE
        realized = direction * closing * price - released
        pos.cost -= released
        pos.size = old + signed
        pos.realized_positional_pnl += realized
        pos.exit_notional += closing * price
        pos.exit_size += closing
        if pos.size == ZERO:
            pos.cost = ZERO
            pos.closed_at = now_ms
        elif (pos.size > ZERO) != (old > ZERO):  # flipped through zero
            _reopen(pos, now_ms)
            pos.cost = pos.size * price
    pos.last_fill_id = fill_id
    pos.last_updated_at = max(pos.last_updated_at, now_ms)
    return realized


def _reopen(pos: Position, now_ms: int) -> None:
    """A new position starts (from flat or by a flip): per-position figures reset."""
    pos.created_at = now_ms
    pos.closed_at = 0
    pos.cost = ZERO
    pos.realized_positional_pnl = ZERO
    pos.exit_notional = ZERO
    pos.exit_size = ZERO
    pos.realized_funding = ZERO


def reducing_capacity(pos_size: Decimal, side: Side) -> Decimal:
    """How much a ``side`` order may trade without growing or flipping the position."""
    if side is Side.BUY:
        return -pos_size if pos_size < ZERO else ZERO
    return pos_size if pos_size > ZERO else ZERO


def unrealized_pnl(pos: Position, mark: Decimal) -> Decimal:
    """Price PnL at ``mark`` (funding not included)."""
    return (pos.size * mark - pos.cost).quantize(MONEY_QUANTUM)


def accrued_funding(pos: Position, index: Decimal) -> Decimal:
    """Funding the position has accrued since its last payment (positive = to receive)."""
    if not pos.size or index == pos.cached_funding_index:
        return ZERO
    return (-pos.size * (index - pos.cached_funding_index)).quantize(MONEY_QUANTUM)


def worst_exposure(size: Decimal, buys: Decimal, sells: Decimal) -> Decimal:
    return max(abs(size + buys), abs(size - sells))


def position_margin(size: Decimal, mark: Decimal, cfg: MarketConfig) -> tuple[Decimal, Decimal]:
    """(initial, maintenance) margin of one position at ``mark``, rounded to 1e-8."""
    im = abs(size) * mark * cfg.imf_base
    return im.quantize(MONEY_QUANTUM), (im * cfg.mmf_factor).quantize(MONEY_QUANTUM)


def requirements(
    acct: AccountState,
    markets: Mapping[str, MarketConfig],
    marks: Mapping[str, Decimal],
    extra: tuple[str, Side, Decimal] | None = None,
) -> tuple[Decimal, Decimal, Decimal]:
    """(initial margin of positions, maintenance margin, initial margin incl. resting orders).

    ``extra`` = (market, side, size) adds a prospective order to the resting exposure.
    """
    imr = mmr = imr_orders = ZERO
    names = set(acct.positions)
    names.update(m for m, _ in acct.resting)
    if extra is not None:
        names.add(extra[0])
    for name in names:
        cfg = markets[name]
        mark = marks[name]
        pos = acct.positions.get(name)
        size = pos.size if pos is not None else ZERO
        buys = acct.resting.get((name, Side.BUY), ZERO)
        sells = acct.resting.get((name, Side.SELL), ZERO)
        if extra is not None and extra[0] == name:
            if extra[1] is Side.BUY:
                buys += extra[2]
            else:
                sells += extra[2]
        pos_im = abs(size) * mark * cfg.imf_base
        imr += pos_im
        mmr += pos_im * cfg.mmf_factor
        imr_orders += worst_exposure(size, buys, sells) * mark * cfg.imf_base
    q = MONEY_QUANTUM
    return imr.quantize(q), mmr.quantize(q), imr_orders.quantize(q)


def account_value(
    acct: AccountState, marks: Mapping[str, Decimal], index: Mapping[str, Decimal] | None = None
) -> Decimal:
    """USDC balance + unrealized PnL of every position at mark (+ accrued funding at ``index``)."""
    value = acct.balance
    for name, pos in acct.positions.items():
        if pos.size:
            value += unrealized_pnl(pos, marks[name])
            if index is not None:
                value += accrued_funding(pos, index[name])
    return value


def account_view(
    acct: AccountState,
    markets: Mapping[str, MarketConfig],
    marks: Mapping[str, Decimal],
    now_ms: int,
    index: Mapping[str, Decimal] | None = None,
) -> AccountView:
    """AccountSummaryResponse figures; ``seq_no`` is the account's last emitted one."""
    value = account_value(acct, marks, index)
    imr, mmr, imr_orders = requirements(acct, markets, marks)
    return AccountView(
        account=acct.account,
        account_value=value,
        total_collateral=value,
        free_collateral=value - imr_orders,
        initial_margin_requirement=imr,
        maintenance_margin_requirement=mmr,
        margin_cushion=value - mmr,
        updated_at=max(acct.updated_at, now_ms),
        seq_no=acct.seq_no,
        status=acct.status,
    )


def position_view(pos: Position, cfg: MarketConfig, mark: Decimal, index: Decimal = ZERO) -> PositionView:
    """PositionResp figures: ``unrealized_pnl`` includes the accrued funding (as the venue's)."""
    size = pos.size
    exit_price = pos.exit_notional / pos.exit_size if pos.exit_size else ZERO
    funding = accrued_funding(pos, index)
    return PositionView(
        id=f"{pos.account}-{pos.market}",
        account=pos.account,
        market=pos.market,
        status="OPEN" if size else "CLOSED",
        side="SHORT" if size < ZERO else "LONG",
        size=size,
        average_entry_price=pos.average_entry_price,
        average_exit_price=exit_price,
        cost=pos.cost,
        unrealized_pnl=unrealized_pnl(pos, mark) + funding,
        unrealized_funding_pnl=funding,
        realized_positional_pnl=pos.realized_positional_pnl,
        realized_positional_funding_pnl=pos.realized_funding,
        cached_funding_index=pos.cached_funding_index,
        last_fill_id=pos.last_fill_id,
        leverage=ONE / cfg.imf_base,
        created_at=pos.created_at,
        last_updated_at=pos.last_updated_at,
        closed_at=pos.closed_at,
        seq_no=pos.seq_no,
    )
