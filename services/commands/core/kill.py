"""The kill switch (pure): folded from the KillSwitch events of the ACCOUNT stream, so every
replica refuses the same strategies, and a restarted one too.

``strategy`` empty in an event = global (the whole account, by the admin token); else that
strategy. A global kill refuses every strategy; a resume of the global switch leaves the
strategies killed on their own killed until each is resumed.
"""

from __future__ import annotations

from services.commands.core.rules import Violation
from shared.bus import KillSwitch


class KillState:
    """Who is refused new orders now."""

    def __init__(self) -> None:
        self.global_active = False
        self.global_reason = ""
        self.strategies: dict[str, str] = {}  # killed strategy -> reason
        self.seq = 0

    def apply(self, seq: int, event: KillSwitch) -> None:
        """Fold one KillSwitch event (stored at ``seq``; older than what was folded: ignored)."""
        if seq and seq <= self.seq:
            return
        self.seq = max(self.seq, seq)
        if not event.strategy:
            self.global_active, self.global_reason = event.active, event.reason if event.active else ""
        elif event.active:
            self.strategies[event.strategy] = event.reason
        else:
            self.strategies.pop(event.strategy, None)

    def refusal(self, strategy: str) -> Violation | None:
        """403 ``KILL_SWITCH`` while the account or ``strategy`` is killed, else None."""
        if self.global_active:
            why = f" ({self.global_reason})" if self.global_reason else ""
            return Violation(
                error="KILL_SWITCH",
                rule="kill_switch",
                status=403,
                message=f"the kill switch is on for the whole account{why}: POST /v1/resume",
            )
        if strategy in self.strategies:
            reason = self.strategies[strategy]
            why = f" ({reason})" if reason else ""
            return Violation(
                error="KILL_SWITCH",
                rule="kill_switch",
                status=403,
                message=f"the kill switch is on for strategy {strategy}{why}: POST /v1/resume",
            )
        return None

    def view(self) -> dict[str, object]:
        """For /healthz."""
        return {"global": self.global_active, "strategies": sorted(self.strategies)}
