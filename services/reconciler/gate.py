"""The reconciler's validation gate: REST records are checked before they become snapshot events
or lookup results (DESIGN.md "Version 2 rules": nothing unvalidated becomes truth).

Every record a snapshot part or a lookup fetched goes through :meth:`RecordGate.admit`
(:mod:`shared.paradex.validate`: finite bounded numbers, known enums, our account, safe market
tokens, sane sequence numbers and times). A refused record is not published; it is counted
(``reconciler_rejected_total{reason}``), dead-lettered on ``subjects.RECONCILER_DLQ`` (the record
as decoded, the reason, the REST path) and logged at a bounded rate. A response that does not
decode at all (wrong types) is counted and dead-lettered the same way (``bad_json`` /
``bad_schema``, with the decoder's message). The part that refused anything is reported
incomplete (:class:`RecordsRefused`), so the state never judges absence against it.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import msgspec
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from shared.bus import subjects
from shared.bus.deadletter import DeadLetter, dead_letter, encode_dead_letter
from shared.errors import DecodeError, HubError
from shared.logthrottle import LogThrottle
from shared.paradex.validate import REASONS, Rejection, Scope, check, decode_reason

log = logging.getLogger("reconciler.gate")
_ENC = msgspec.json.Encoder()


class RecordsRefused(HubError):
    """Records of a snapshot part failed validation: the part is incomplete."""

    def __init__(self, where: str, counts: Counter[str]) -> None:
        by = ", ".join(f"{reason} {n}" for reason, n in counts.most_common())
        super().__init__(f"{sum(counts.values())} records refused by validation ({by}) in {where}")
        self.where = where
        self.counts = counts


class RecordGate:
    """Validates REST records for ``account``; publishes dead letters on ``nc`` (core NATS)."""

    def __init__(self, account: str, nc: Any, *, registry: Any = None,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.scope = Scope.of(account)  # REST account records may name any market (our exposure)
        self.nc = nc
        self.counts: Counter[str] = Counter()
        self.dead_published = 0
        self.dead_failed = 0
        self._clock_ns = clock_ns
        self._log = LogThrottle(log)
        if registry is not None:
            registry.register(_GateCollector(self))

    def admit(self, records: Sequence[Any], where: str, recv_ns: int) -> tuple[list[Any], list[DeadLetter]]:
        """``(valid records, dead letters of the refused ones)``."""
        good: list[Any] = []
        dead: list[DeadLetter] = []
        now_ms = recv_ns // 1_000_000
        for record in records:
            bad = check(record, self.scope, now_ms)
            if bad is None:
                good.append(record)
            else:
                dead.append(self._refuse(bad, _ENC.encode(record), where, recv_ns))
        return good, dead

    def undecodable(self, exc: DecodeError, where: str) -> DeadLetter:
        """The dead letter of a response that did not decode (no record to keep: the error says why)."""
        return self._refuse(Rejection(decode_reason(exc), exc.field or "", exc.reason[:200]), b"", where,
                            self._clock_ns())

    def _refuse(self, rejection: Rejection, raw: bytes, where: str, recv_ns: int) -> DeadLetter:
        self.counts[rejection.reason] += 1
        self._log.log(recv_ns / 1e9, logging.WARNING, rejection.reason,
                      "refused REST record from %s: %s at %s (%s)", where, rejection.reason, rejection.field,
                      rejection.detail)
        return dead_letter("reconciler", "rest", rejection, raw, where=where, recv_ns=recv_ns)

    async def publish(self, letters: Sequence[DeadLetter]) -> None:
        """Send dead letters to the DLQ (a NATS failure is logged and counted, never raised)."""
        for letter in letters:
            try:
                await self.nc.publish(subjects.RECONCILER_DLQ, encode_dead_letter(letter))
                self.dead_published += 1
            except Exception as exc:  # the refusal is counted and logged already
                self.dead_failed += 1
                log.warning("dead letter not published: %r", exc)
        self._log.flush(time.time())


class _GateCollector(Collector):
    def __init__(self, gate: RecordGate) -> None:
        self._gate = gate

    def collect(self) -> Iterator[Metric]:
        fam = CounterMetricFamily("reconciler_rejected", "REST records refused by validation (dead-lettered "
                                  "on pdx.dlq.reconciler), by reason", labels=["reason"])
        for reason in REASONS:
            fam.add_metric([reason], self._gate.counts.get(reason, 0))
        yield fam
