"""The Python client for strategy services: state reads, change streams and commands.

- :class:`StateClient`: typed HTTP queries of the state service and its ``/v1/events`` SSE stream;
- :class:`ChangeStream`: the Redis change stream ``pdx:<account>:changes`` with a consumer group;
- :class:`CommandsClient`: place/modify/cancel through the commands service with a bearer token;
- :class:`ParadexHub`: ccxt-shaped conveniences over both (``load_markets``, ``create_order``,
  ``watch_orders``...).

The package needs only httpx and msgspec (redis for :class:`ChangeStream`, passed in by the
caller); it imports nothing of the services, so it installs on its own.

Errors are :class:`ServiceError` subclasses carrying ``status``, ``error``, ``rule`` and ``message``.
"""

from shared.client.ccxt import ParadexHub
from shared.client.changes import ChangeStream, changes_key
from shared.client.commands import CommandsClient
from shared.client.errors import (
    ClientError,
    Conflict,
    EventsOverflow,
    EventsReset,
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
    AlgoOrder,
    AlgoResult,
    AlgoView,
    BalanceView,
    Bbo,
    BookView,
    Change,
    CommandResult,
    FillView,
    Health,
    KillResult,
    MarketView,
    ModifyOrder,
    OrderView,
    Page,
    PlaceOrder,
    PositionView,
    Snapshot,
)
from shared.client.sse import EventStream
from shared.client.state import StateClient

__all__ = [
    "STATUS_RANK", "TERMINAL_STATUSES", "AccountView", "AlgoOrder", "AlgoResult", "AlgoView",
    "BalanceView", "Bbo", "BookView", "Change",
    "ChangeStream", "ClientError", "CommandResult", "CommandsClient", "Conflict", "EventStream",
    "EventsOverflow", "EventsReset", "FillView", "Forbidden", "Health", "InvalidRequest", "KillResult",
    "MarketView", "ModifyOrder", "NotFound", "OrderView", "Page", "ParadexHub", "PlaceOrder",
    "PositionView", "RateLimited", "Rejected", "ServiceError", "ServiceUnreachable", "Snapshot",
    "StateClient", "Unauthorized", "Unavailable", "changes_key"
]
