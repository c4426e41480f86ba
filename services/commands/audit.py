"""The audit trail: one structured log line per command and one per outcome (logger
``commands.audit``, level INFO; with ``LOG_FORMAT=json`` each is one JSON object).

Fields: ``event`` (``command`` | ``outcome``), ``op`` (place, cancel, cancel_by_client_id,
cancel_batch, cancel_all, modify, kill, resume, place_algo, cancel_algo: ``order_id`` is then the
algo id), ``strategy``, ``client_id``, ``order_id``,
``market``, ``side``, ``size``, ``price``, ``type``; on outcomes ``result`` (accepted, rejected,
unknown, not_sent, submitted, replayed, refused, rate_limited, unavailable, cancel_requested...),
``http_status``, ``error`` (our or the venue's code) and ``venue_ms`` (the venue's latency, when
a venue request was made). Places are logged when their outcome is known (off the hot path: the
venue request has left by then).
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from services.commands.core.answers import REPLAY_HEADER
from services.commands.core.messages import Answer, CommandReply, ErrorReply, PlaceOrder

log = logging.getLogger("commands.audit")


def _line(fields: dict[str, Any]) -> None:
    """``command``/``outcome`` with the fields as the record's extras (flat keys in JSON, ``k=v``
    after the message in plain text); empty fields are left out."""
    if log.isEnabledFor(logging.INFO):
        event = fields.pop("event")
        log.info(event, extra={k: v for k, v in fields.items() if v not in ("", None)})


def result_of(answer: Answer) -> tuple[str, str]:
    """(result, error code) of an answer."""
    body = answer.body
    if REPLAY_HEADER in answer.headers:
        return "replayed", ""
    if isinstance(body, CommandReply):
        return body.status or ("done" if answer.status < 300 else "failed"), body.error
    if isinstance(body, ErrorReply):
        kind = {429: "rate_limited", 503: "unavailable"}.get(answer.status, "refused")
        return kind, body.error
    return ("done" if answer.status < 300 else "failed"), ""


def place(strategy: str, cid: str, req: PlaceOrder, answer: Answer, venue_ms: float | None = None) -> None:
    """The command and outcome lines of one place (an item of a batch included)."""
    base = {
        "op": "place",
        "strategy": strategy,
        "client_id": cid,
        "market": req.market,
        "side": req.side,
        "type": req.type,
        "size": str(req.size),
        "price": "" if req.price is None else str(req.price),
    }
    _line({"event": "command", **base})
    outcome(base, answer, venue_ms)


def command(op: str, strategy: str, **fields: Any) -> dict[str, Any]:
    """The command line of a cancel/modify/kill; returns its fields for :func:`outcome`."""
    base = {"op": op, "strategy": strategy, **{k: ("" if v is None else str(v)) for k, v in fields.items()}}
    _line({"event": "command", **base})
    return base


class _Stored(msgspec.Struct):
    order_id: str = ""
    error: str = ""


_stored = msgspec.json.Decoder(_Stored)


def outcome(base: dict[str, Any], answer: Answer, venue_ms: float | None = None) -> None:
    """The outcome line of a command."""
    result, error = result_of(answer)
    body: object = answer.body
    if isinstance(body, msgspec.Raw):  # a replayed answer: its stored bytes
        try:
            body = _stored.decode(bytes(body))
        except (msgspec.ValidationError, msgspec.DecodeError):
            body = _Stored()
        error = error or getattr(body, "error", "")
    order_id = getattr(body, "order_id", "") or base.get("order_id", "")
    _line(
        {
            "event": "outcome",
            **base,
            "order_id": order_id,
            "result": result,
            "http_status": answer.status,
            "error": error,
            "venue_ms": None if venue_ms is None else round(venue_ms, 3),
        }
    )


def failed(base: dict[str, Any], exc: BaseException) -> None:
    """The outcome line of a command that ended with an error (the edge answers 503 or 500)."""
    _line({"event": "outcome", **base, "result": "error", "error": type(exc).__name__})
