"""Settings of the simulator (environment prefix ``SIM_``), loaded once at start-up.

The account and its L2 key come from :class:`~shared.config.CommonSettings`
(``PARADEX_ACCOUNT`` / ``PARADEX_L2_PRIVATE_KEY``): the simulator registers that account with the
public key derived from the key, so the same environment drives the hub and its venue.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import msgspec

from shared.config import SIM_CONTROL_PORT, SIM_REST_PORT, SIM_WS_PORT, CommonSettings

NonNegative = Annotated[int, msgspec.Meta(ge=0)]
Fraction = Annotated[float, msgspec.Meta(ge=0, le=1)]


class SimSettings(CommonSettings, frozen=True, kw_only=True):
    """Every knob of the simulator. ``0`` disables a rate limit or a periodic task."""

    env_prefix: ClassVar[str] = "SIM_"

    host: str = "127.0.0.1"
    rest_port: int = SIM_REST_PORT
    ws_port: int = SIM_WS_PORT
    control_port: int = SIM_CONTROL_PORT
    #: ``starknet_chain_id`` of ``GET /system/config``: the chain id every signature is checked with.
    #: The default is one the official SDK accepts (its chain enum), and a mock testnet one, so a
    #: simulator signature is never valid on the production chain.
    chain_id: str = "PRIVATE_SN_POTC_MOCK_SEPOLIA"
    #: ``l1_chain_id`` of ``GET /system/config`` (Sepolia, the testnet's L1).
    l1_chain_id: str = "11155111"
    seed: int = 1
    #: Markets to list (a subset of the engine's default markets); empty = all.
    markets: tuple[str, ...] = ()
    initial_balance: str = "100000"
    #: Paper trading may switch order signature checks off; auth signatures are always checked.
    verify_signatures: bool = True
    #: Check the signatures of new orders (REST ``POST /orders`` and ``/orders/batch``, WS
    #: ``order.create`` and ``order.create_batch``) in a child process (``services.simulator.
    #: verifyproc``): the check is ~60 % of an order's CPU, and the event loop serves meanwhile.
    verify_process: bool = True
    jwt_ttl_s: float = 300.0
    #: Delay between accepting a command (201/204) and the engine's risk/matching step.
    risk_delay_ms: float = 1.0
    #: Synthetic market steps per second (0 = off; tests drive steps explicitly).
    synthetic_rate: float = 20.0
    #: Synthetic steps run once at start-up so the book has liquidity even with the driver off.
    seed_steps: int = 1
    #: Summary/funding pushes when the synthetic driver is off (it publishes its own when on).
    summary_interval_ms: int = 1000
    batch_max: int = 10
    # Venue schedule (Exchange.advance): funding accrual, TWAP children, payments, health checks.
    #: Tick of the schedule (0: only when the control API moves or runs time).
    schedule_interval_ms: NonNegative = 1000
    #: Every open position pays its accrued funding this often (0: only at fills).
    funding_payment_interval_ms: NonNegative = 3_600_000
    #: Accounts below maintenance margin are liquidated this often (0: never automatically).
    health_check_interval_ms: NonNegative = 5_000
    #: Liquidation penalty as a fraction of the maintenance margin (docs: 70 %).
    liquidation_fee: Fraction = 0.7
    # WebSocket
    ping_interval_s: float = 55.0
    pong_timeout_s: float = 5.0
    queue_bound: int = 2000
    ws_compression: bool = True
    #: Append ``"sim_sent_ns"`` (wall-clock ns at the socket write) to every JSON frame, for
    #: latency benchmarks (``bench.e2e``). Off: frames are exactly the venue's.
    ws_send_stamp: bool = False
    #: Cancel on disconnect cancels the orders the connection placed ("session", the spec) or every
    #: open order of the account ("account").
    cod_scope: Literal["session", "account"] = "session"
    # Rate limits (PROTOCOL.md 3.10); 0 disables one bucket.
    rl_public_per_min: int = 1500
    rl_auth_per_min: int = 600
    rl_orders_per_s: int = 800
    rl_orders_per_min: int = 17250
    rl_private_get_per_s: int = 120
    rl_private_get_per_min: int = 600
    rl_private_ip_per_min: int = 1500
    #: New WebSocket connections per client IP.
    rl_ws_connect_per_s: int = 20
    rl_ws_connect_per_min: int = 600


Settings = SimSettings
"""Every service exposes its settings struct as ``Settings`` (the compose test relies on it)."""
