"""The command events each step publishes (pure: the time is passed in)."""

from __future__ import annotations

from services.commands.core.outcome import Accepted, NotSent, Outcome, Rejected, Unknown
from services.commands.core.rules import Intent
from shared.bus import (
    CmdAccepted,
    CmdCancelFailed,
    CmdCancelUnknown,
    CmdModifyFailed,
    CmdModifyUnknown,
    CmdNotSent,
    CmdRejected,
    CmdSubmitted,
    CmdUnknown,
    Event,
)


def submitted(strategy: str, intent: Intent, recv_ns: int) -> CmdSubmitted:
    """The intent of a place: the state shows it PENDING_NEW under its client id."""
    return CmdSubmitted(
        source="cmd",
        recv_ns=recv_ns,
        client_id=intent.client_id,
        strategy=strategy,
        market=intent.market,
        side=intent.side,
        type=intent.type,
        size=str(intent.size),
        price=str(intent.price if intent.priced and intent.price is not None else 0),
        instruction=intent.instruction,
        flags=intent.flags,
    )


def place_outcome(strategy: str, cid: str, outcome: Outcome, recv_ns: int) -> Event:
    """CmdAccepted / CmdRejected / CmdUnknown / CmdNotSent of a place's venue outcome."""
    if isinstance(outcome, Accepted):
        order = outcome.order
        return CmdAccepted(
            source="cmd",
            venue_ts_ms=order.last_updated_at,
            recv_ns=recv_ns,
            client_id=cid,
            strategy=strategy,
            order_id=order.id,
            order=order,
        )
    if isinstance(outcome, Rejected):
        return CmdRejected(
            source="cmd",
            recv_ns=recv_ns,
            client_id=cid,
            strategy=strategy,
            code=outcome.code,
            message=outcome.message,
            http_status=outcome.http_status,
        )
    if isinstance(outcome, NotSent):
        return CmdNotSent(
            source="cmd", recv_ns=recv_ns, client_id=cid, strategy=strategy, reason=outcome.reason
        )
    assert isinstance(outcome, Unknown)
    return CmdUnknown(source="cmd", recv_ns=recv_ns, client_id=cid, strategy=strategy, reason=outcome.reason)


def cancel_failure(
    strategy: str, cid: str, order_id: str, failure: Rejected | Unknown | NotSent, recv_ns: int
) -> Event:
    """CmdCancelFailed (definite refusal, or NOT_SENT) / CmdCancelUnknown (ambiguous)."""
    if isinstance(failure, Unknown):
        return CmdCancelUnknown(
            source="cmd",
            recv_ns=recv_ns,
            client_id=cid,
            strategy=strategy,
            order_id=order_id,
            reason=failure.reason,
        )
    code, message, status = _refusal(failure)
    return CmdCancelFailed(
        source="cmd",
        recv_ns=recv_ns,
        client_id=cid,
        strategy=strategy,
        order_id=order_id,
        code=code,
        message=message,
        http_status=status,
    )


def modify_failure(
    strategy: str, cid: str, order_id: str, failure: Rejected | Unknown | NotSent, recv_ns: int
) -> Event:
    """CmdModifyFailed (definite refusal, or NOT_SENT) / CmdModifyUnknown (ambiguous)."""
    if isinstance(failure, Unknown):
        return CmdModifyUnknown(
            source="cmd",
            recv_ns=recv_ns,
            client_id=cid,
            strategy=strategy,
            order_id=order_id,
            reason=failure.reason,
        )
    code, message, status = _refusal(failure)
    return CmdModifyFailed(
        source="cmd",
        recv_ns=recv_ns,
        client_id=cid,
        strategy=strategy,
        order_id=order_id,
        code=code,
        message=message,
        http_status=status,
    )


def _refusal(failure: Rejected | NotSent) -> tuple[str, str, int]:
    if isinstance(failure, NotSent):
        return "NOT_SENT", failure.reason, 0
    return failure.code, failure.message, failure.http_status
