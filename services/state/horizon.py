"""The ACCOUNT stream's horizon: a restart must never need events the stream has evicted.

The stream has limits (``max_age`` / ``max_bytes``, see ``shared.bus.streams``), so its first
sequence moves forward. A restart replays from the checkpoint, which is safe only while the
stream still holds everything of the account after it. Two guards:

- **on start** (:meth:`Horizon.gap_at_start`): the stream begins after the checkpoint's
  ``covered`` sequence + 1: events of the account may be gone. That is logged as an ERROR (a
  WARNING when there is no checkpoint at all, e.g. the first start against an old stream), shown
  in ``/v1/health`` (``history_gap``) and answered with a full reconciliation, the only source
  left for what was lost.
- **while running** (:meth:`Horizon.needs_checkpoint`): when the stream's first sequence passes
  the last checkpoint's ``covered`` + 1, a checkpoint is written at once (the normal cadence,
  every ``checkpoint_every_events`` or ``checkpoint_interval_s``, is far inside any sane
  ``max_age``; this covers a stream whose byte limit turns over fast).

``covered`` is not the checkpoint's own sequence: a quiet account's last event may be far behind
the stream's first one without anything lost. When the account's consumer has nothing pending
and nothing unacknowledged, every event of the account up to the stream's last sequence is
applied, so that last sequence is covered too (:meth:`Horizon.covered_now`, asked before the
checkpoint captures the core).
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

log = logging.getLogger("state.horizon")


class HistoryGap(msgspec.Struct, frozen=True, kw_only=True):
    """Events after ``covered`` and before the stream's ``first_seq`` may be lost."""

    covered: int
    first_seq: int
    had_checkpoint: bool


class Horizon:
    """Asks JetStream where the ACCOUNT stream begins and what the account's durable has pending."""

    def __init__(self, js: Any, stream: str, durable: str) -> None:
        self.js = js
        self.stream = stream
        self.durable = durable
        self.first_seq = 0
        self.checks = 0
        self.early_checkpoints = 0

    async def refresh(self) -> tuple[int, int]:
        """(first, last) sequence of the stream now."""
        info = await self.js.stream_info(self.stream)
        self.first_seq = int(info.state.first_seq)
        self.checks += 1
        return self.first_seq, int(info.state.last_seq)

    async def gap_at_start(self, covered: int, had_checkpoint: bool) -> HistoryGap | None:
        """The gap between what the checkpoint covers and where the stream begins, if any."""
        first, last = await self.refresh()
        if first <= covered + 1 or (not had_checkpoint and first <= 1):
            return None
        gap = HistoryGap(covered=covered, first_seq=first, had_checkpoint=had_checkpoint)
        if had_checkpoint:
            log.error("the ACCOUNT stream begins at seq %d but the checkpoint covers only up to %d: "
                      "events in between were evicted (max_age/max_bytes) while this replica was "
                      "away. Replaying what is left and asking for a FULL reconciliation.", first, covered)
        else:
            log.warning("no checkpoint, and the ACCOUNT stream begins at seq %d (last %d): earlier "
                        "events are gone; the state is rebuilt from what is left plus a full "
                        "reconciliation.", first, last)
        return gap

    async def covered_now(self, applied_seq: int, buffered: int) -> int:
        """The stream sequence up to which the account has nothing left to apply (>= ``applied_seq``)."""
        try:
            _, last = await self.refresh()
            info = await self.js.consumer_info(self.stream, self.durable, timeout=1.0)
        except Exception as exc:  # not knowing only costs precision: the checkpoint's seq still holds
            log.debug("covered_now: %r", exc)
            return applied_seq
        if int(info.num_pending) or int(info.num_ack_pending or 0) or buffered:
            return applied_seq
        return max(applied_seq, last)

    async def needs_checkpoint(self, covered: int) -> bool:
        """True when the stream already begins past ``covered + 1`` (a restart would miss events)."""
        first, _ = await self.refresh()
        if first > covered + 1:
            self.early_checkpoints += 1
            log.warning("the ACCOUNT stream now begins at seq %d, past the last checkpoint (covers %d): "
                        "checkpointing now", first, covered)
            return True
        return False
