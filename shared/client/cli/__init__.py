"""``pdx-hub``: the state and the commands services from a shell.

Tables for people, ``--json`` for scripts (one JSON document; ``tail --json``: one per line).
Settings: :mod:`shared.client.cli.config` (the environment, then ``.env``).

Exit codes: 0 done; 1 the service failed (5xx) or an unexpected error; 2 bad usage or settings;
3 a service is not reachable; 4 a token was refused (401/403); 5 not found (404); 6 the request
was refused (400 venue rejection, 409, 422, 429).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

from shared.client.cli.config import Config, ConfigProblem, load_config
from shared.client.cli.views import COMMANDS, Context
from shared.client.errors import (
    ClientError,
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    RateLimited,
    Rejected,
    ServiceError,
    ServiceUnreachable,
    Unauthorized,
)

OK, FAILED, USAGE, UNREACHABLE, AUTH, NOT_FOUND, REFUSED = 0, 1, 2, 3, 4, 5, 6

EPILOG = """settings: PDX_STATE_URL, PDX_COMMANDS_URL (default from STATE_HTTP_PORT / COMMANDS_HTTP_PORT),
PDX_TOKEN (place, cancel), PDX_ADMIN_TOKEN (kill, resume), PDX_READ_TOKEN; *_FILE variants;
the environment wins over ./.env (or --env-file).
exit codes: 0 ok, 1 service failed, 2 usage/settings, 3 unreachable, 4 token refused, 5 not found,
6 request refused (venue rejection, 409, 422, 429)."""


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="machine-readable output")
    common.add_argument("--env-file", metavar="PATH", default=argparse.SUPPRESS,
                        help="read settings from this file (default ./.env)")
    p = argparse.ArgumentParser(prog="pdx-hub", description="Look at and act on a paradex-hub system.",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                                parents=[common])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def cmd(name: str, help_: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_, description=help_, parents=[common])

    cmd("status", "health of the state and commands services (feed, books, reconciliation, lag)")
    c = cmd("orders", "orders (live ones unless --status or --all)")
    c.add_argument("--market")
    c.add_argument("--status", help="comma list, e.g. OPEN,CLOSED")
    c.add_argument("--all", action="store_true", help="every status")
    c.add_argument("--strategy", help="only this strategy's orders")
    cmd("positions", "positions with PnL")
    cmd("balances", "balances and the margin summary")
    c = cmd("fills", "recent fills, oldest first")
    c.add_argument("--market")
    c.add_argument("--limit", type=int, default=20)
    c = cmd("book", "the maintained order book of a market")
    c.add_argument("market")
    c.add_argument("--depth", type=int, default=10)
    c = cmd("tail", "follow state changes as they happen (Ctrl-C stops)")
    c.add_argument("--kinds", help="comma list: order,fill,position,balance,account,feed,reconciliation,"
                                   "book,bbo,trade,summary,funding,venue_bbo")
    c.add_argument("--after-seq", type=int, help="start after this account sequence")
    c.add_argument("--count", type=int, help="stop after this many events")
    c = cmd("place", "place one order (PDX_TOKEN)")
    c.add_argument("market")
    c.add_argument("side", type=str.upper, choices=["BUY", "SELL"])
    c.add_argument("size")
    c.add_argument("price", nargs="?")
    c.add_argument("--type", default="LIMIT", type=str.upper)
    c.add_argument("--instruction", default="GTC", type=str.upper, help="GTC, POST_ONLY, IOC, RPI")
    c.add_argument("--client-id")
    c.add_argument("--reduce-only", action="store_true")
    c.add_argument("--trigger-price")
    c.add_argument("--wait", default="ack", choices=["none", "ack", "ws"])
    c = cmd("cancel", "cancel one order by id, or by --client-id (PDX_TOKEN)")
    c.add_argument("order_id", nargs="?")
    c.add_argument("--client-id")
    c = cmd("cancel-all", "cancel the strategy's live orders (PDX_TOKEN)")
    c.add_argument("--market")
    c = cmd("kill", "kill switch: cancel everything and refuse new orders until resume (PDX_ADMIN_TOKEN)")
    c.add_argument("--reason", default="", help="recorded with the kill switch")
    c.add_argument("--own", action="store_true", help="only the strategy of PDX_TOKEN (its own kill switch)")
    c = cmd("resume", "accept orders again after kill (PDX_ADMIN_TOKEN)")
    c.add_argument("--reason", default="")
    c.add_argument("--own", action="store_true", help="the strategy of PDX_TOKEN (after kill --own)")
    return p


def _message(exc: BaseException, ctx: Context) -> tuple[int, str]:
    """Exit code and a message saying what failed, where, and what to check."""
    if isinstance(exc, ServiceUnreachable):
        which = "commands" if exc.url.startswith(ctx.config.commands_url) else "state"
        var = "PDX_COMMANDS_URL" if which == "commands" else "PDX_STATE_URL"
        return UNREACHABLE, (f"the {which} service is not reachable at {exc.url.split('/v1')[0]} "
                             f"({exc.reason}); is it running? (make run, or set {var})")
    if isinstance(exc, Unauthorized | Forbidden):
        return AUTH, f"{exc} (check {ctx.token_var or 'the token'})"
    if isinstance(exc, NotFound):
        return NOT_FOUND, str(exc)
    if isinstance(exc, Rejected | Conflict | InvalidRequest | RateLimited):
        return REFUSED, str(exc)
    if isinstance(exc, ServiceError):
        return FAILED, str(exc)
    if isinstance(exc, ConfigProblem):
        return USAGE, str(exc)
    return FAILED, f"{type(exc).__name__}: {exc}"


async def _run(fn: Callable[[Context], Awaitable[int]], ctx: Context) -> int:
    try:
        return await fn(ctx)
    except (ClientError, ConfigProblem) as exc:
        code, text = _message(exc, ctx)
        print(f"pdx-hub: {text}", file=ctx.err)
        return code
    finally:
        await ctx.close()


def main(argv: list[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None,
         environ: dict[str, str] | None = None, prompt: Callable[[str], str] | None = None) -> int:
    """Run one ``pdx-hub`` command; the exit code."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    args = build_parser().parse_args(argv)
    args.json = getattr(args, "json", False)
    args.env_file = getattr(args, "env_file", None)
    try:
        config: Config = load_config(environ, args.env_file)
    except ConfigProblem as exc:
        print(f"pdx-hub: {exc}", file=err)
        return USAGE
    ask = prompt or (getpass.getpass if sys.stdin.isatty() else None)
    ctx = Context(config, args, out, err, ask)
    fn: Callable[[Context], Awaitable[int]] = COMMANDS[args.command]
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(_run(fn, ctx))
    return 130


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())


__all__: list[Any] = ["build_parser", "entry", "main"]
