"""Bounded records of published events the engine does not keep: funding data and tradebusts.

A venue listener (no I/O): ``GET /funding/data`` pages the funding records of a market,
``GET /tradebusts`` the busts of an account, newest first. Each record has an increasing ``key``
(the pagination cursor position).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

from .engine import FundingUpdate, Tradebust, VenueEvent

T = TypeVar("T")
KEPT = 10_000


@dataclass(frozen=True, slots=True)
class Record(Generic[T]):
    key: int
    event: T


class History:
    """Funding data per market and tradebusts per account, the newest ``KEPT`` of each."""

    def __init__(self) -> None:
        self.funding: dict[str, deque[Record[FundingUpdate]]] = {}
        self.tradebusts: dict[str, deque[Record[Tradebust]]] = {}
        self._key = 0

    def on_events(self, events: list[VenueEvent]) -> None:
        for event in events:
            if isinstance(event, FundingUpdate):
                self._key += 1
                self.funding.setdefault(event.market, deque(maxlen=KEPT)).append(Record(self._key, event))
            elif isinstance(event, Tradebust):
                self._key += 1
                self.tradebusts.setdefault(event.account, deque(maxlen=KEPT)).append(Record(self._key, event))

    def funding_data(self, market: str, start_at: int | None,
                     end_at: int | None) -> list[Record[FundingUpdate]]:
        """Newest first, ``created_at`` within [start_at, end_at] (ms)."""
        return _window(self.funding.get(market, ()), start_at, end_at)

    def account_tradebusts(self, account: str, start_at: int | None,
                           end_at: int | None) -> list[Record[Tradebust]]:
        return _window(self.tradebusts.get(account, ()), start_at, end_at)


def _window(records: deque[Record[T]] | tuple[()], start_at: int | None,
            end_at: int | None) -> list[Record[T]]:
    out: list[Record[T]] = []
    for record in reversed(records):
        at: int = record.event.created_at  # type: ignore[attr-defined]
        if (start_at is None or at >= start_at) and (end_at is None or at <= end_at):
            out.append(record)
    return out
