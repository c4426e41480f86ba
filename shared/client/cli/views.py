"""The ``pdx-hub`` commands: each reads or acts through the typed client and prints a table or JSON."""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any, TextIO

import msgspec

from shared.client.ccxt import OPEN_STATUSES
from shared.client.cli.config import Config, ConfigProblem
from shared.client.cli.table import render, when
from shared.client.commands import CommandsClient
from shared.client.errors import ClientError, NotFound
from shared.client.models import CommandResult, KillResult
from shared.client.state import StateClient

_json = msgspec.json.Encoder()


class Context:
    """One invocation: settings, arguments, output streams and the clients made on demand."""

    def __init__(self, config: Config, args: argparse.Namespace, out: TextIO, err: TextIO,
                 prompt: Callable[[str], str] | None) -> None:
        self.config = config
        self.args = args
        self.out = out
        self.err = err
        self.prompt = prompt
        self.token_var = "PDX_READ_TOKEN" if config.read_token else ""
        self._clients: list[Any] = []

    def state(self) -> StateClient:
        c = StateClient(self.config.state_url, token=self.config.read_token or None)
        self._clients.append(c)
        return c

    def commands(self, admin: bool = False) -> CommandsClient:
        var = "PDX_ADMIN_TOKEN" if admin else "PDX_TOKEN"
        token = self.config.admin_token if admin else self.config.token
        if not token and self.prompt is not None:
            token = self.prompt(f"{var} (not echoed): ").strip()
        if not token:
            raise ConfigProblem(f"{var} is not set (environment, {var}_FILE or .env)")
        self.token_var = var
        c = CommandsClient(self.config.commands_url, token)
        self._clients.append(c)
        return c

    def emit(self, data: Any, table: str) -> int:
        """Print ``data`` as JSON with --json, else ``table``."""
        if self.args.json:
            self.out.write(_json.encode(data).decode() + "\n")
        else:
            self.out.write(table + "\n")
        self.out.flush()
        return 0

    async def close(self) -> None:
        for c in self._clients:
            await c.aclose()


def _dec(text: str | None, what: str) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ConfigProblem(f"{what} {text!r} is not a number") from None
    if not value.is_finite():
        raise ConfigProblem(f"{what} {text!r} is not a finite number")
    return value


async def status(ctx: Context) -> int:
    state = ctx.state()
    h = await state.health()
    v = h.value
    core = v.core
    rec = core.get("last_reconciliation") or {}
    books = ", ".join(f"{m} {'valid' if ok else 'INVALID'}" for m, ok in sorted(v.books_valid.items()))
    scopes = core.get("kill_switch") or {}
    killed = [k.get("strategy") or "global" for k in scopes.values()
              if isinstance(k, dict) and k.get("active")]
    try:
        ok, cmd = await CommandsClient(ctx.config.commands_url, "").healthz()
        commands = "ok" if ok else f"UNHEALTHY {cmd}"
    except ClientError as exc:
        ok, commands = False, f"unreachable ({exc})"
    data = {"state": {"url": ctx.config.state_url, "ok": v.ok, "seq": h.seq, "health": v},
            "commands": {"url": ctx.config.commands_url, "ok": ok, "detail": commands}}
    age = v.account.last_event_age_ms
    rows = [
        ("state", f"{'ok' if v.ok else 'UNHEALTHY'} at {ctx.config.state_url}"),
        ("account stream", f"seq {v.account.applied_seq}, last event "
                           f"{'-' if age < 0 else f'{age / 1000:.1f} s'} ago"),
        ("market stream", f"seq {v.market.applied_seq}, last event "
                          f"{max(v.market.last_event_age_ms, 0)} ms ago"),
        ("feed", "connected" if v.feed_connected else "DOWN"),
        ("books", books or "-"),
        ("reconciliation", (f"{'complete' if rec.get('complete') else 'INCOMPLETE'} "
                            f"({rec.get('reason', '')}), {rec.get('corrections', 0)} corrections"
                            if rec else "none yet")),
        ("corrections (total)", str(core.get("counters", {}).get("corrections", 0))),
        ("dead letters", str(v.dlq)),
        ("kill switch", f"ON ({', '.join(killed)})" if killed else "off"),
        ("commands", f"{commands} at {ctx.config.commands_url}"),
    ]
    ctx.emit(data, render(["", ""], rows))
    return 0 if v.ok and ok else 1


def _order_rows(orders: list[Any]) -> list[tuple[Any, ...]]:
    return [(o.strategy or "-", o.market, o.side, o.type, o.size, o.price, o.filled, o.status,
             o.id or o.key, o.client_id, when(o.last_updated_at)) for o in orders]


async def orders(ctx: Context) -> int:
    a = ctx.args
    statuses = None if a.all else (a.status.split(",") if a.status else list(OPEN_STATUSES))
    snap = await ctx.state().orders(status=statuses, market=a.market)
    got = [o for o in snap.value if not a.strategy or o.strategy == a.strategy]
    got.sort(key=lambda o: (o.strategy, o.market, o.last_updated_at))
    return ctx.emit({"seq": snap.seq, "orders": got}, render(
        ["strategy", "market", "side", "type", "size", "price", "filled", "status", "id", "client_id",
         "updated"], _order_rows(got)))


async def positions(ctx: Context) -> int:
    snap = await ctx.state().positions()
    rows = [(p.market, p.position.side, p.position.size, p.position.average_entry_price,
             p.position.unrealized_pnl, p.position.realized_positional_pnl, p.position.liquidation_price,
             p.position.leverage, when(p.position.last_updated_at)) for p in snap.value]
    return ctx.emit({"seq": snap.seq, "positions": snap.value}, render(
        ["market", "side", "size", "entry", "unrealized_pnl", "realized_pnl", "liq_price", "leverage",
         "updated"], rows))


async def balances(ctx: Context) -> int:
    state = ctx.state()
    snap = await state.balances()
    try:
        account = (await state.account()).value.summary
    except NotFound:
        account = None
    rows = [(b.token, b.size) for b in snap.value]
    text = render(["token", "balance"], rows)
    if account is not None:
        text += "\n\n" + render(["account value", "total collateral", "free collateral", "initial margin",
                                 "maintenance margin", "status"],
                                [(account.account_value, account.total_collateral, account.free_collateral,
                                  account.initial_margin_requirement, account.maintenance_margin_requirement,
                                  account.status)])
    return ctx.emit({"seq": snap.seq, "balances": snap.value, "account": account}, text)


async def fills(ctx: Context) -> int:
    snap = await ctx.state().fills(market=ctx.args.market, limit=ctx.args.limit)
    rows = [(when(f.fill.created_at), f.fill.market, f.fill.side, f.fill.size, f.fill.price, f.fill.liquidity,
             f.fill.fee, f.fill.realized_pnl, f.fill.order_id, f.fill.client_id, "BUSTED" if f.busted else "")
            for f in snap.value]
    return ctx.emit({"seq": snap.seq, "fills": snap.value}, render(
        ["time", "market", "side", "size", "price", "liquidity", "fee", "realized_pnl", "order_id",
         "client_id", ""], rows))


async def book(ctx: Context) -> int:
    snap = await ctx.state().book(ctx.args.market, ctx.args.depth)
    b = snap.value
    n = max(len(b.bids), len(b.asks))
    rows = [(*(b.bids[i] if i < len(b.bids) else ("", "")), *(b.asks[i] if i < len(b.asks) else ("", "")))
            for i in range(n)]
    head = f"{b.market}  {'valid' if b.valid else 'INVALID: ' + b.reason}  seq_no {b.seq_no}"
    return ctx.emit({"seq": snap.seq, "book": b}, head + "\n" + render(
        ["bid_size", "bid", "ask", "ask_size"], [(r[1], r[0], r[2], r[3]) for r in rows]))


async def tail(ctx: Context) -> int:
    a = ctx.args
    kinds = [k for k in (a.kinds or "").split(",") if k] or None
    n = 0
    stream = ctx.state().events(kinds, after_seq=a.after_seq, resets="yield")
    async with contextlib.aclosing(aiter(stream)) as changes:
        async for ch in changes:
            if not _print_change(ctx, ch):
                continue
            n += 1
            if a.count and n >= a.count:
                break
    return 0


def _print_change(ctx: Context, ch: Any) -> bool:
    if ctx.args.json:
        ctx.out.write(_json.encode({"id": ch.event_id, "stream": ch.stream, "kind": ch.kind,
                                    "key": ch.key, "seq": ch.seq, "value": ch.value}).decode() + "\n")
    else:
        ctx.out.write(f"{time.strftime('%H:%M:%S')} {ch.stream:<7} {ch.kind:<14} {ch.key:<28} "
                      f"seq {ch.seq}  {_summary(ch.kind, bytes(ch.value))}\n")
    ctx.out.flush()
    return True


def _summary(kind: str, raw: bytes) -> str:
    if raw == b"null":
        return "(deleted)"
    if kind == "reset":
        return "events were lost: re-read the state"
    v = msgspec.json.decode(raw)
    if not isinstance(v, dict):
        return ""
    if kind == "order":
        return (f"{v.get('status')} {v.get('side')} {v.get('size')} @ {v.get('price')} "
                f"{v.get('client_id', '')}")
    if kind == "fill":
        f = v.get("fill", {})
        return f"{f.get('side')} {f.get('size')} @ {f.get('price')} order {f.get('order_id')}"
    if kind == "position":
        p = v.get("position", {})
        return f"{p.get('side')} {p.get('size')} upnl {p.get('unrealized_pnl')}"
    if kind in ("book", "bbo"):
        return f"valid={v.get('valid')}"
    return ""


def _result(ctx: Context, r: CommandResult, what: str) -> int:
    text = (f"{what}: {r.status}" + (f" order {r.order_id}" if r.order_id else "")
            + (f" client_id {r.client_id}" if r.client_id else "") + (" (replayed)" if r.replayed else "")
            + (f" seq {r.seq}" if r.seq else "") + (f": {r.message}" if r.message else ""))
    return ctx.emit(r, text)


async def place(ctx: Context) -> int:
    a = ctx.args
    r = await ctx.commands().place(
        a.market, a.side, _dec(a.size, "size") or Decimal(0), _dec(a.price, "price"), type=a.type,
        instruction=a.instruction, flags=("REDUCE_ONLY",) if a.reduce_only else (), client_id=a.client_id,
        trigger_price=_dec(a.trigger_price, "trigger price"), wait=a.wait)
    return _result(ctx, r, "place")


async def cancel(ctx: Context) -> int:
    a = ctx.args
    if bool(a.order_id) == bool(a.client_id):
        raise ConfigProblem("cancel: give an order id or --client-id (one of them)")
    c = ctx.commands()
    r = await (c.cancel(a.order_id) if a.order_id else c.cancel_by_client_id(a.client_id))
    return _result(ctx, r, "cancel")


async def cancel_all(ctx: Context) -> int:
    r = await ctx.commands().cancel_all(ctx.args.market)
    return _result(ctx, r, "cancel-all")


async def kill(ctx: Context) -> int:
    r = await ctx.commands(admin=not ctx.args.own).kill(ctx.args.reason)
    return _kill_result(ctx, r, "kill")


async def resume(ctx: Context) -> int:
    r = await ctx.commands(admin=not ctx.args.own).resume(ctx.args.reason)
    return _kill_result(ctx, r, "resume")


def _kill_result(ctx: Context, r: KillResult, what: str) -> int:
    scope = r.strategy if r.scope == "strategy" and r.strategy else r.scope or "global"
    text = f"{what}: kill switch {'ON' if r.active else 'off'} ({scope})" + (f" seq {r.seq}" if r.seq else "")
    if r.cancel is not None:
        text += f"; cancel-all: {r.cancel.status}"
    return ctx.emit(r, text)


COMMANDS: dict[str, Callable[[Context], Awaitable[int]]] = {
    "status": status, "orders": orders, "positions": positions, "balances": balances, "fills": fills,
    "book": book, "tail": tail, "place": place, "cancel": cancel, "cancel-all": cancel_all, "kill": kill,
    "resume": resume,
}
