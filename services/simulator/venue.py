"""The simulated venue shared by the REST, WebSocket and control servers.

Owns the engine (:class:`~services.simulator.engine.Exchange`), the synthetic market, registered
accounts and their public keys, the system state, the JWT issuer and the REST ``seq_no`` counter.
Every batch of engine events is handed to the listeners (the WebSocket hub) in venue order.
Commands accepted over REST are executed by the engine's asynchronous step shortly after
(``risk_delay_ms``), as on the venue: POST answers NEW, the OPEN/CLOSED update follows on WS.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections.abc import Callable
from decimal import Decimal

import msgspec

from shared.errors import VenueError
from shared.paradex.models.account import Order
from shared.paradex.models.common import SystemStatus
from shared.paradex.signer import OrderSigner

from .engine import Exchange, OrderView, ScheduleConfig, VenueEvent, convert, default_markets
from .engine.synthetic import SyntheticMarket
from .history import History
from .settings import SimSettings
from .tokens import TokenIssuer
from .verifyproc import Verifier

log = logging.getLogger(__name__)

Listener = Callable[[list[VenueEvent]], None]
SYSTEM_STATES = (SystemStatus.OK, SystemStatus.MAINTENANCE, SystemStatus.CANCEL_ONLY, SystemStatus.POST_ONLY)


def normalize_account(address: str) -> str:
    """The canonical form of an account address (lower-case hex, no leading zeros)."""
    try:
        return hex(int(address, 16))
    except ValueError:
        raise VenueError(400, "INVALID_STARKNET_ADDRESS", f"not a hex address: {address!r}") from None


class Venue:
    """Engine + accounts + system state; the servers call into it, it calls the listeners."""

    def __init__(self, settings: SimSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        wanted = set(settings.markets)
        markets = [m for m in default_markets() if not wanted or m.symbol in wanted]
        unknown = wanted - {m.symbol for m in markets}
        if unknown:
            raise ValueError(f"unknown simulator markets: {sorted(unknown)}")
        schedule = ScheduleConfig(
            funding_payment_interval_ms=settings.funding_payment_interval_ms,
            health_check_interval_ms=settings.health_check_interval_ms,
            liquidation_fee=Decimal(str(settings.liquidation_fee)),
        )
        balance = Decimal(settings.initial_balance)
        self.exchange = Exchange(markets, default_balance=balance, schedule=schedule)
        #: Total time the control API skipped the venue schedule ahead (see ``skip_time``).
        self.skipped_ms = 0
        self.synthetic = SyntheticMarket(self.exchange, random.Random(settings.seed))
        self.chain_id = settings.chain_id
        self.tokens = TokenIssuer(secrets.token_bytes(32), settings.jwt_ttl_s)
        self.public_keys: dict[str, int] = {}
        self.system_status: str = SystemStatus.OK
        self.verify_signatures = settings.verify_signatures
        #: The signature-checker process (``..verifyproc``), set by the runner when it starts one.
        self.verifier: Verifier | None = None
        self.risk_delay_s = settings.risk_delay_ms / 1000
        self._listeners: list[Listener] = []
        self.history = History()
        self._listeners.append(self.history.on_events)
        #: (account, market) -> (leverage, margin type) set with POST /account/margin/{market}.
        self.margin: dict[tuple[str, str], tuple[int, str]] = {}
        #: account -> registration time (ms), for GET /account/info.
        self.registered_at: dict[str, int] = {}
        self._rest_seq = 0
        self._process_handle: asyncio.TimerHandle | None = None
        signer = OrderSigner(settings.paradex_l2_private_key, settings.paradex_account, settings.chain_id)
        self.account = signer.account
        self.signer = signer
        self.register_account(signer.account, signer.public_key)
        for _ in range(settings.seed_steps):
            self.publish(self.synthetic.step(self.now_ms()))
        self.publish(self.exchange.advance(self.now_ms()))  # starts the schedule's clocks

    # ------------------------------------------------------------ time, ids

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def next_rest_seq(self) -> int:
        """REST ``seq_no``: increasing, ns-scale, independent of the WebSocket's."""
        self._rest_seq = max(self._rest_seq + 1, self.now_ms() * 1_000_000)
        return self._rest_seq

    def rest_order(self, view: OrderView) -> Order:
        """An order as a REST response carries it (REST seq_no)."""
        return msgspec.structs.replace(convert.order(view), seq_no=self.next_rest_seq())

    # ------------------------------------------------------------ accounts

    def register_account(self, account: str, public_key: int) -> str:
        """Onboard ``account`` with ``public_key`` (funded with the initial balance)."""
        key = normalize_account(account)
        self.public_keys[key] = public_key
        self.registered_at.setdefault(key, self.now_ms())
        self.exchange.account_state(key)
        return key

    def public_key(self, account: str) -> int | None:
        return self.public_keys.get(account)

    # ------------------------------------------------------------ system state

    def set_system_status(self, status: str) -> None:
        if status not in SYSTEM_STATES:
            raise VenueError(400, "VALIDATION_ERROR", f"status must be one of {', '.join(SYSTEM_STATES)}")
        self.system_status = status

    def check_can_place(self, instruction: str) -> None:
        """Raise the venue's error for a new order in the current system state."""
        status = self.system_status
        if status == SystemStatus.OK:
            return
        if status == SystemStatus.CANCEL_ONLY:
            raise VenueError(400, "SYSTEM_STATUS_CANCEL_ONLY", "system is in cancel-only mode")
        if status == SystemStatus.POST_ONLY:
            if instruction != "POST_ONLY":
                raise VenueError(400, "SYSTEM_STATUS_POST_ONLY", "system is in post-only mode")
            return
        raise VenueError(503, "SERVICE_UNAVAILABLE", "system is under maintenance")

    # ------------------------------------------------------------ events

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def publish(self, events: list[VenueEvent]) -> None:
        if not events:
            return
        for listener in self._listeners:
            listener(events)

    def schedule_process(self) -> None:
        """Run the engine's queued commands after ``risk_delay_ms`` (coalesced)."""
        if self._process_handle is None:
            loop = asyncio.get_running_loop()
            self._process_handle = loop.call_later(self.risk_delay_s, self._process)

    def _process(self) -> None:
        self._process_handle = None
        try:
            self.publish(self.exchange.process(self.now_ms()))
        except Exception:  # the engine must never take the server down with it
            log.exception("engine process step failed")

    def process_now(self) -> None:
        """Run queued commands immediately (control API, tests)."""
        if self._process_handle is not None:
            self._process_handle.cancel()
        self._process()

    def step_synthetic(self, steps: int = 1) -> None:
        """Advance the synthetic market ``steps`` times and publish the events."""
        for _ in range(steps):
            self.publish(self.synthetic.step(self.now_ms()))

    def run_schedule(self) -> None:
        """The engine's periodic work up to now (funding, TWAP children, health checks)."""
        try:
            self.publish(self.exchange.advance(self.now_ms()))
        except Exception:  # the engine must never take the server down with it
            log.exception("engine schedule step failed")

    def skip_time(self, ms: int) -> None:
        """Run what is queued, then skip the venue *schedule* ``ms`` ahead: funding accrual, TWAP
        children, payments and health checks due in that span run now. Timestamps keep the wall
        clock (a hub's checks of venue times stay valid; JWTs are unaffected)."""
        self.process_now()
        self.skipped_ms += max(0, ms)
        try:
            self.publish(self.exchange.advance(self.now_ms(), skip_ms=max(0, ms)))
        except Exception:
            log.exception("engine schedule step failed")

    def close(self) -> None:
        if self._process_handle is not None:
            self._process_handle.cancel()
            self._process_handle = None
