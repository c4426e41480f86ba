"""The one module that names NATS subjects and JetStream streams. No subject literals elsewhere.

Layout:

- ``pdx.acct.<account>.<kind>``: account events (ACCOUNT stream, one total order per account);
- ``pdx.md.<kind>.<market>``: market data (MARKET stream, memory, bounded age);
- ``pdx.feed.status``: the feed's once-a-second status heartbeat (core NATS, not stored);
- ``pdx.reconcile.request``: requests to the reconciler (core NATS request/reply);
- ``pdx.feed.resync``: requests to the feed for fresh book snapshots (core NATS, optional reply);
- ``pdx.markets.request``: asks the reconciler to publish the venue's market specs now (core NATS);
- ``pdx.trace.feed``: JetStream ack stamps of a tracing feed (``FEED_TRACE``, benchmarks only;
  core NATS, see ``shared.trace``);
- ``pdx.dlq.<service>``: what a service refused (DLQ stream, for inspection): ``pdx.dlq.feed``,
  ``pdx.dlq.reconciler`` and ``pdx.dlq.commands`` hold venue records that failed validation
  (``shared.bus.deadletter``),
  ``pdx.dlq.state`` bus messages the state could not decode or refused.
"""

from __future__ import annotations

import re

ROOT = "pdx"
ACCOUNT_STREAM = "PDX_ACCOUNT"
MARKET_STREAM = "PDX_MARKET"
DLQ_STREAM = "PDX_DLQ"

ACCOUNT_WILDCARD = f"{ROOT}.acct.>"
MARKET_WILDCARD = f"{ROOT}.md.>"
DLQ_WILDCARD = f"{ROOT}.dlq.>"
FEED_STATUS = f"{ROOT}.feed.status"
RECONCILE_REQUEST = f"{ROOT}.reconcile.request"
FEED_BOOK_RESYNC = f"{ROOT}.feed.resync"
MARKETS_REQUEST = f"{ROOT}.markets.request"
FEED_TRACE = f"{ROOT}.trace.feed"

_TOKEN = re.compile(r"[A-Za-z0-9_\-]+")


def _token(value: str, what: str) -> str:
    # fullmatch: "$" would accept a trailing newline, and the feed publishes with subject
    # validation off (a "BTC\n" token would inject into the NATS protocol)
    if _TOKEN.fullmatch(value) is None:
        raise ValueError(f"{what} {value!r} is not a valid NATS subject token")
    return value


def account_subject(account: str, kind: str) -> str:
    """Subject of an account event of ``kind`` for ``account`` (hex address or alias)."""
    return f"{ROOT}.acct.{_token(account, 'account')}.{_token(kind, 'kind')}"


def account_filter(account: str) -> str:
    """Every account event of ``account``."""
    return f"{ROOT}.acct.{_token(account, 'account')}.>"


def market_subject(kind: str, market: str) -> str:
    """Subject of market data of ``kind`` (book, bbo, trade, ...) for ``market``."""
    return f"{ROOT}.md.{_token(kind, 'kind')}.{_token(market, 'market')}"


def market_filter(kind: str = "*", market: str = "*") -> str:
    """Market-data subjects, with ``*`` wildcards by default."""
    k = kind if kind == "*" else _token(kind, "kind")
    m = market if market == "*" else _token(market, "market")
    return f"{ROOT}.md.{k}.{m}"


def dlq_subject(service: str) -> str:
    """Where ``service`` sends bus messages it could not decode."""
    return f"{ROOT}.dlq.{_token(service, 'service')}"


FEED_DLQ = dlq_subject("feed")
"""Venue records and frames the feed refused (:class:`shared.bus.deadletter.DeadLetter`)."""
RECONCILER_DLQ = dlq_subject("reconciler")
"""Venue REST records the reconciler refused (:class:`shared.bus.deadletter.DeadLetter`)."""
COMMANDS_DLQ = dlq_subject("commands")
"""Venue replies to order writes the commands service refused (:class:`shared.bus.deadletter.DeadLetter`)."""
