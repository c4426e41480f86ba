"""Missed-push repairs: the timer that asks for the targeted reconciliation a suspect needs.

The core raises suspects from the data (:mod:`services.state.core.gaps`) and decides, from the
stream alone, when one becomes a detection. This shell only watches the wall clock: a suspect
still open ``settle`` after it was raised (the same window the core uses) gets the targeted
request that answers it (:func:`~services.state.core.gaps.repair_actions`: a snapshot of just
the parts it needs, fills from where it needs them, or a lookup), again after ``backoff``,
2x``backoff``, ..., at most ``max_attempts`` times, then it is reported unresolved. The request's
answer (its snapshot marker alone moves the stream past the window) settles it in the core.
All suspects due at one tick go out as one targeted request plus one lookup request: coalesced.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from services.state.actions import to_requests
from services.state.core import StateCore
from services.state.core.gaps import Suspect, repair_actions
from services.state.inflight import Unresolved, attempt_due_ns
from shared.bus.requests import ReconcileRequest

log = logging.getLogger("state.repairs")


@dataclass
class _Tries:
    since_ns: int
    attempts: int = 0


@dataclass
class RepairCheck:
    """Asks for the targeted reconciliations of open suspects; see the module docstring."""

    settle_s: float = 0.2
    backoff_s: float = 0.5
    max_attempts: int = 4
    tries: dict[str, _Tries] = field(default_factory=dict)
    unresolved: dict[str, Unresolved] = field(default_factory=dict)
    requests: int = 0
    reported: int = 0
    _pending: list[ReconcileRequest] = field(default_factory=list)

    def due(self, core: StateCore, now_ns: int) -> ReconcileRequest | None:
        """The next request due at ``now_ns`` (a tick may yield a targeted run and a lookup:
        the second is returned by the next call)."""
        if self._pending:
            return self._pending.pop(0)
        suspects = core.gaps.suspects
        for k in [k for k, t in self.tries.items()
                  if k not in suspects or suspects[k].since_ns != t.since_ns]:
            del self.tries[k]
            self.unresolved.pop(k, None)
        settle_ns, backoff_ns = int(self.settle_s * 1e9), int(self.backoff_s * 1e9)
        due: list[Suspect] = []
        for k, s in suspects.items():
            if not s.since_ns:
                continue
            t = self.tries.get(k)
            if t is None:
                if now_ns < s.since_ns + settle_ns:
                    continue
                t = self.tries[k] = _Tries(s.since_ns)
            if now_ns < attempt_due_ns(s.since_ns, t.attempts, settle_ns, backoff_ns):
                continue
            if t.attempts >= self.max_attempts:
                if k not in self.unresolved:
                    self.unresolved[k] = Unresolved(key=k, status=s.kind, since_ns=s.since_ns,
                                                    attempts=t.attempts)
                    self.reported += 1
                    log.warning("missed push %s still unexplained after %d targeted requests", k,
                                t.attempts)
                continue
            t.attempts += 1
            due.append(s)
        if not due:
            return None
        reqs = to_requests(repair_actions(due))
        self.requests += len(reqs)
        log.info("missed pushes suspected: %s", ", ".join(f"{s.kind}:{s.key}" for s in due))
        self._pending = reqs[1:]
        return reqs[0]
