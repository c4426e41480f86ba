"""The pure core of the state service: merge rules, books, snapshots, queries, checkpoints.

No asyncio, NATS, Redis or HTTP here, no clock and no randomness: :class:`StateCore` is a
deterministic fold of bus events (``apply(stream_seq, event) -> Result``). The async shell writes
each :class:`Result`'s changes to Redis atomically, pushes them as SSE, and performs its actions.
"""

from services.state.core.book import Book
from services.state.core.codec import dump, load
from services.state.core.core import StateConfig, StateCore
from services.state.core.model import (
    CLOSED,
    IN_FLIGHT,
    NEW,
    OPEN,
    PENDING_CANCEL,
    PENDING_MODIFY,
    PENDING_NEW,
    REJECTED,
    STATUS_RANK,
    TERMINAL,
    UNKNOWN,
    UNTRIGGERED,
    VENUE_RANK,
    AccountState,
    Action,
    Answer,
    BalanceState,
    BookTop,
    Change,
    FillState,
    OrderState,
    PositionState,
    Result,
)
from services.state.core.queries import BookView, Health

__all__ = [
    "CLOSED", "IN_FLIGHT", "NEW", "OPEN", "PENDING_CANCEL", "PENDING_MODIFY", "PENDING_NEW", "REJECTED",
    "STATUS_RANK", "TERMINAL",
    "UNKNOWN", "UNTRIGGERED", "VENUE_RANK", "AccountState", "Action", "Answer", "BalanceState", "Book",
    "BookTop", "BookView", "Change", "FillState", "Health", "OrderState", "PositionState", "Result",
    "StateConfig", "StateCore", "dump", "load",
]
