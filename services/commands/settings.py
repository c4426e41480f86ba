"""Settings of the commands service (``COMMANDS_*`` variables plus the common unprefixed ones).

Strategies come from ``COMMANDS_STRATEGIES`` (a JSON array) or ``COMMANDS_STRATEGIES_FILE`` (a path to
the same JSON); both are secrets because they hold the bearer tokens. Each entry::

    {"name": "mm", "token": "<secret>", "markets": ["BTC-USD-PERP"], "max_order_notional": "50000",
     "max_open_orders_per_market": 50, "max_position": "2", "max_order_rate": 20, "max_order_burst": 40,
     "max_loss": "1000", "can_cancel_others": false}

``markets`` empty = every market; a limit left out (or null) = no limit of ours (the venue's still apply).
"""

from __future__ import annotations

from typing import ClassVar

from shared.config import COMMANDS_HTTP_PORT, CommonSettings
from shared.eventloop import EventLoop
from shared.settings import Secret


class Settings(CommonSettings, frozen=True, kw_only=True):
    """Every knob of the commands service."""

    env_prefix: ClassVar[str] = "COMMANDS_"

    http_host: str = "127.0.0.1"
    http_port: int = COMMANDS_HTTP_PORT
    #: JSON array of strategies (see the module docstring); ``COMMANDS_STRATEGIES_FILE`` also works.
    strategies: Secret = Secret("")
    #: Bearer token of ``POST /v1/kill`` / ``/v1/resume`` for the whole account (>= 16 characters;
    #: empty: only strategies' own switches). ``COMMANDS_ADMIN_TOKEN_FILE`` also works.
    admin_token: Secret = Secret("")
    #: The venue order-write budget, under its 800/s and 17 250/min per account, SHARED by every
    #: replica (Redis buckets). A batch request is one unit.
    rate_per_s: float = 600.0
    rate_burst: int = 200
    rate_per_min: float = 17000.0
    #: How many commands replicas run: when Redis is down each keeps to 1/replicas of the budget.
    replicas: int = 1
    #: After Redis lost the idempotency records, wait this long (since the loss) before rebuilding
    #: them from the ACCOUNT stream: a request claimed just before publishes its intent by then.
    index_settle_s: float = 7.0
    #: An order decided by one replica counts against the limits of every replica until the state
    #: shows it, or this long at most.
    reservation_s: float = 5.0
    #: Refresh periods of market specs (/markets) and system state (/system/state).
    markets_refresh_s: float = 60.0
    system_refresh_s: float = 5.0
    #: The state's change stream is read with XREAD BLOCK up to this long; reference prices (the
    #: state's bbo keys) are re-read this often.
    exposure_refresh_s: float = 0.25
    #: Full re-read of the state's live orders and positions (a safety net under the change stream).
    exposure_resync_s: float = 30.0
    #: Largest request body accepted (413 above).
    max_body_bytes: int = 65536
    #: Idempotency records (and ownership records) live this long in Redis.
    idempotency_ttl_s: int = 7 * 24 * 3600
    #: A claim still pending after this long belongs to a process that died mid-request.
    pending_stale_s: float = 30.0
    #: Default and maximum waits for ``wait=ws``.
    ws_wait_default_s: float = 5.0
    ws_wait_max_s: float = 60.0
    #: Venue timeouts for order writes (a timeout means outcome unknown: lookup, never resend).
    venue_read_timeout_s: float = 10.0
    venue_connect_timeout_s: float = 3.0
    #: JetStream publish ack timeout for command events.
    publish_timeout_s: float = 2.0
    #: How order writes reach the venue: ``ws`` (the service's own authenticated WebSocket, REST
    #: for a command while it is down) or ``rest``.
    transport: str = "ws"
    #: Sign orders in a child process (``services.commands.signproc``): the event loop claims the
    #: client id and publishes the intent while the order is signed on another core; inline when
    #: off or when the child is not there.
    signer_process: bool = True
    #: Arm the venue's cancel on disconnect on that WebSocket (re-armed on every reconnect): if
    #: the connection drops, the venue cancels the open orders placed on it. Needs transport ws.
    cancel_on_disconnect: bool = False
    #: 0: connect the order WebSocket as is; N > 0: with ``?sbeSchemaId=1&sbeSchemaVersion=N`` (for
    #: a venue that refuses connections without it; order answers stay JSON, binary frames are skipped).
    ws_sbe_schema_version: int = 0
    #: ``uvloop`` or ``asyncio``: the event loop of ``python -m services.commands`` (uvloop falls
    #: back to asyncio, with a warning, when it is not installed).
    event_loop: EventLoop = "uvloop"
    #: Freeze the objects alive after start-up out of the garbage collector's full collections
    #: (``shared.gcwatch``): one of those scanned the import-time objects for about 18 ms.
    gc_freeze: bool = True
    #: Liveness of the order WebSocket: a ping this often, the connection dropped (and
    #: reconnected) when the pong is ``ws_ping_timeout_s`` late; an order call unanswered in
    #: ``venue_read_timeout_s`` pings at once (REST meanwhile). 0 interval: no periodic ping.
    ws_ping_interval_s: float = 5.0
    ws_ping_timeout_s: float = 3.0
    #: Reconnect backoff of the order WebSocket (capped, jittered).
    ws_backoff_initial_s: float = 0.1
    ws_backoff_max_s: float = 5.0
