"""Dead letters: venue input an edge refused, kept on the DLQ stream for inspection, and the
state's guard for bus events carrying an invalid venue record.

A :class:`DeadLetter` is what the feed (``subjects.FEED_DLQ``) and the reconciler
(``subjects.RECONCILER_DLQ``) publish for every record :mod:`shared.paradex.validate` refused,
or every frame they could not decode: the reason (a fixed set), the field and a short detail,
where it came from (channel or REST path), the receipt time, and the raw payload as received
(text as is, binary base64-encoded by msgspec), cut at :data:`RAW_MAX` bytes.

Sample (``nats sub 'pdx.dlq.>'``)::

    {"service":"feed","source":"ws","reason":"non_finite","field":"size","detail":"NaN",
     "where":"orders.ALL","recv_ns":1718267837265000000,"raw":"{\\"jsonrpc\\":\\"2.0\\",...}",
     "raw_size":412}
"""

from __future__ import annotations

import msgspec

from shared.bus import events as ev
from shared.paradex.validate import ANY, Reason, Rejection, Scope, check, market

RAW_MAX = 64 * 1024
"""Longest raw payload kept in a dead letter (NATS refuses messages above its max_payload)."""


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One refused record or frame (see the module docstring)."""

    service: str
    source: ev.Source
    reason: Reason
    field: str = ""
    detail: str = ""
    where: str = ""
    recv_ns: int = 0
    raw: str = ""
    raw_bytes: bytes = b""
    raw_size: int = 0
    truncated: bool = False


def dead_letter(service: str, source: ev.Source, rejection: Rejection, raw: bytes | str, *,
                where: str = "", recv_ns: int = 0, binary: bool = False) -> DeadLetter:
    """The dead letter of ``raw`` refused for ``rejection`` (the payload cut at RAW_MAX)."""
    size = len(raw)
    cut = raw[:RAW_MAX]
    if binary:
        data = cut.encode() if isinstance(cut, str) else bytes(cut)
        return DeadLetter(service=service, source=source, reason=rejection.reason, field=rejection.field,
                          detail=rejection.detail, where=where[:200], recv_ns=recv_ns, raw_bytes=data,
                          raw_size=size, truncated=size > RAW_MAX)
    text = cut if isinstance(cut, str) else cut.decode("utf-8", "replace")
    return DeadLetter(service=service, source=source, reason=rejection.reason, field=rejection.field,
                      detail=rejection.detail, where=where[:200], recv_ns=recv_ns, raw=text,
                      raw_size=size, truncated=size > RAW_MAX)


_ENC = msgspec.json.Encoder()
_DEC = msgspec.json.Decoder(DeadLetter)


def encode_dead_letter(letter: DeadLetter) -> bytes:
    """JSON bytes of ``letter``."""
    return _ENC.encode(letter)


def decode_dead_letter(data: bytes) -> DeadLetter:
    """The :class:`DeadLetter` in ``data`` (msgspec errors propagate)."""
    return _DEC.decode(data)


_PAYLOAD: dict[type, str] = {
    ev.OrderEvent: "order", ev.LookupResult: "order", ev.CmdAccepted: "order", ev.FillEvent: "fill",
    ev.PositionEvent: "position", ev.AccountEvent: "summary", ev.BalanceRecord: "balance",
    ev.BalanceChange: "change", ev.TradebustEvent: "tradebust", ev.BookEvent: "book", ev.BboEvent: "bbo",
    ev.TradeEvent: "trade", ev.SummaryEvent: "summary", ev.FundingEvent: "funding",
}


def check_event(event: ev.Event, scope: Scope = ANY) -> Rejection | None:
    """:func:`shared.paradex.validate.check` of the venue record ``event`` carries, its
    ``recv_ns`` as the receipt time; a book gap's market must be a safe token; events without a
    venue record (status, snapshot markers, command events) pass."""
    t = type(event)
    if t is ev.BookGap:
        return market(event.market, ANY, market_data=False)  # type: ignore[attr-defined]
    attr = _PAYLOAD.get(t)
    if attr is None:
        return None
    record = getattr(event, attr)
    if record is None:  # a lookup that found nothing, an accepted order without its record
        return None
    return check(record, scope, event.recv_ns // 1_000_000)
