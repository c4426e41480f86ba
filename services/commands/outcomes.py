"""The reply to the strategy and the command event of each venue outcome of an order (pure).

One place builds them so a single place, a batch item and a lookup-resolved unknown answer alike.
"""

from __future__ import annotations

import time

import msgspec

from services.commands.core.outcome import Rejected
from services.commands.wire import Reply, reply
from shared.bus import CmdAccepted, CmdRejected
from shared.paradex.models.account import Order


def accepted(strategy: str, cid: str, order: Order, **extra: object) -> tuple[Reply, CmdAccepted]:
    """201 ``accepted`` with the exchange id, and the CmdAccepted linking it to ``cid``."""
    body = {"status": "accepted", "client_id": cid, "order_id": order.id, "order": order, **extra}
    event = CmdAccepted(
        source="cmd",
        venue_ts_ms=order.last_updated_at,
        recv_ns=time.time_ns(),
        client_id=cid,
        strategy=strategy,
        order_id=order.id,
        order=order,
    )
    return reply(201, body), event


def rejected(
    strategy: str, cid: str, code: str, message: str, http_status: int, retry_after_s: float | None = None
) -> tuple[Reply, CmdRejected]:
    """400 ``rejected`` (429 with Retry-After when the venue rate-limited us) and its CmdRejected."""
    headers = {}
    if retry_after_s is not None:
        headers["Retry-After"] = str(max(1, int(retry_after_s + 0.999)))
    body = {
        "status": "rejected",
        "client_id": cid,
        "error": code,
        "message": message,
        "http_status": http_status,
    }
    event = CmdRejected(
        source="cmd",
        recv_ns=time.time_ns(),
        client_id=cid,
        strategy=strategy,
        code=code,
        message=message,
        http_status=http_status,
    )
    return reply(429 if http_status == 429 else 400, body, headers), event


def rejected_from(strategy: str, cid: str, failure: Rejected) -> tuple[Reply, CmdRejected]:
    """:func:`rejected` from a definite venue refusal."""
    return rejected(
        strategy, cid, failure.code, failure.message, failure.http_status, failure.retry_after_s
    )


def unknown(cid: str, why: str) -> Reply:
    """202 ``unknown``: the venue's answer proves nothing (5xx, timeout, lost connection, garbage);
    the outcome is resolved by lookup, never by resending."""
    return reply(
        202,
        {
            "status": "unknown",
            "client_id": cid,
            "message": f"the venue's answer does not say whether it acted ({why}); resolved by lookup",
        },
    )


def not_sent(cid: str, why: str) -> Reply:
    """503 ``not_sent`` with Retry-After: nothing reached the venue; safe to send again with the
    same client id."""
    return reply(
        503,
        {
            "status": "not_sent",
            "client_id": cid,
            "error": "VENUE_NOT_REACHED",
            "message": f"the order did not reach the venue ({why}); nothing was placed: send it "
            "again with the same client_id",
        },
        {"Retry-After": "1"},
    )


def is_unknown(body: bytes) -> bool:
    """Whether a stored reply body is an ``unknown`` outcome."""
    return b'"status":"unknown"' in body


def encode_str(text: str) -> bytes:
    """``text`` as a JSON string."""
    return _str.encode(text)


_str = msgspec.json.Encoder()
