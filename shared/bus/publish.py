"""Route events to subjects, give them a ``Nats-Msg-Id``, publish them to JetStream.

The message id is a 128-bit BLAKE2b digest of the subject and the encoded event. A producer that
retries a publish sends the same bytes, so JetStream's duplicate window drops the copy; two
genuinely separate events never collide because each carries its own ``recv_ns``, and the subject
keeps identical payloads of different accounts apart (the duplicate window is stream-wide).
Duplicates *from the venue* (the same push twice) are different events on the bus and are dropped
by the state service's merge rules.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from shared.bus import subjects
from shared.bus.events import (
    ACCOUNT_EVENTS,
    BboEvent,
    BookEvent,
    BookGap,
    Event,
    FundingEvent,
    SummaryEvent,
    TradeEvent,
    encode_event,
    kind_of,
)
from shared.errors import BusError

MSG_ID_HEADER = "Nats-Msg-Id"


def market_of(event: Event) -> str:
    """The market a market-data event is about."""
    if isinstance(event, BookEvent):
        return event.book.market
    if isinstance(event, BboEvent):
        return event.bbo.market
    if isinstance(event, TradeEvent):
        return event.trade.market
    if isinstance(event, SummaryEvent):
        return event.summary.symbol
    if isinstance(event, FundingEvent):
        return event.funding.market
    if isinstance(event, BookGap):
        return event.market
    raise TypeError(f"{type(event).__name__} is not a market-data event")


def subject_for(event: Event, account: str) -> str:
    """Subject of ``event``: the account's subject for account events, the market's otherwise."""
    kind = kind_of(type(event))
    if isinstance(event, ACCOUNT_EVENTS):
        return subjects.account_subject(account, kind)
    return subjects.market_subject(kind, market_of(event))


def msg_id(subject: str, payload: bytes) -> str:
    """Deterministic ``Nats-Msg-Id`` of an encoded event published on ``subject``."""
    digest = hashlib.blake2b(subject.encode(), digest_size=16)
    digest.update(payload)
    return digest.hexdigest()


class EventPublisher:
    """Publishes events of one account to JetStream, retrying with the same message id.

    ``publish`` returns the stream sequence (a duplicate returns the original's sequence).
    """

    def __init__(self, js: Any, account: str, *, timeout_s: float = 5.0, attempts: int = 3) -> None:
        self._js = js
        self.account = account
        self._timeout = timeout_s
        self._attempts = attempts

    def prepare(self, event: Event) -> tuple[str, bytes, dict[str, str]]:
        """Subject, payload and headers of ``event``."""
        payload = encode_event(event)
        subject = subject_for(event, self.account)
        return subject, payload, {MSG_ID_HEADER: msg_id(subject, payload)}

    async def publish(self, event: Event) -> int:
        subject, payload, headers = self.prepare(event)
        return await self.publish_raw(subject, payload, headers)

    async def publish_raw(self, subject: str, payload: bytes, headers: dict[str, str]) -> int:
        last: Exception | None = None
        for attempt in range(self._attempts):
            try:
                ack = await self._js.publish(subject, payload, timeout=self._timeout, headers=headers)
                return int(ack.seq)
            except Exception as exc:  # nats raises several unrelated types; all mean "not stored"
                last = exc
                await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
        raise BusError(subject, f"publish failed after {self._attempts} attempts: {last!r}") from last
