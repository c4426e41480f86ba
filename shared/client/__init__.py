"""The Python client for strategy services: state reads, change streams and commands.

- :class:`StateClient`: typed HTTP queries of the state service and its ``/v1/events`` SSE stream;
- :class:`ChangeStream`: the Redis change stream ``pdx:<account>:changes`` with a consumer group;
- :class:`CommandsClient`: place/modify/cancel through the commands service with a bearer token.

Errors are :class:`ServiceError` subclasses carrying ``status``, ``error``, ``rule`` and ``message``.
"""

from shared.client.changes import ChangeStream, changes_key
from shared.client.commands import CommandsClient
from shared.client.errors import (
    ClientError,
    Conflict,
    EventsOverflow,
    Forbidden,
    InvalidRequest,
    NotFound,
    RateLimited,
    Rejected,
    ServiceError,
    ServiceUnreachable,
    Unauthorized,
    Unavailable,
)
from shared.client.models import (
    STATUS_RANK,
    TERMINAL_STATUSES,
    AccountView,
    BalanceView,
    Bbo,
    BookView,
    Change,
    CommandResult,
    FillView,
    Health,
    MarketSpecView,
    ModifyOrder,
    OrderView,
    Page,
    PlaceOrder,
    PositionView,
    Snapshot,
)
from shared.client.state import StateClient

__all__ = [
    "STATUS_RANK", "TERMINAL_STATUSES", "AccountView", "BalanceView", "Bbo", "BookView", "Change",
    "ChangeStream", "ClientError", "CommandResult", "CommandsClient", "Conflict", "EventsOverflow",
    "FillView", "Forbidden", "Health", "InvalidRequest", "MarketSpecView", "ModifyOrder", "NotFound",
    "OrderView", "Page", "PlaceOrder", "PositionView", "RateLimited", "Rejected", "ServiceError",
    "ServiceUnreachable",
    "Snapshot", "StateClient", "Unauthorized", "Unavailable", "changes_key",
]
