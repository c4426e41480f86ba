"""Settings every service shares: where the bus, Redis and the venue are, and the account's key.

Service settings subclass :class:`CommonSettings` and set their own ``env_prefix``; the fields here
are read without a prefix (``NATS_URL``, ``PARADEX_REST_URL``, ...).

Venue URLs (see README "Running against testnet or prod"):

========  =======================================  ==========================================
venue     PARADEX_REST_URL                         PARADEX_WS_URL
========  =======================================  ==========================================
sim       http://127.0.0.1:7070/v1 (default)       ws://127.0.0.1:7071/v1 (default)
testnet   https://api.testnet.paradex.trade/v1     wss://ws.api.testnet.paradex.trade/v1
prod      https://api.prod.paradex.trade/v1        wss://ws.api.prod.paradex.trade/v1
========  =======================================  ==========================================
"""

from __future__ import annotations

from typing import ClassVar

from shared.settings import Secret, SettingsBase

SIM_REST_PORT = 7070
SIM_WS_PORT = 7071
SIM_CONTROL_PORT = 7072
STATE_HTTP_PORT = 8080
COMMANDS_HTTP_PORT = 8081
FEED_HTTP_PORT = 8082
RECONCILER_HTTP_PORT = 8083

# Paper-trading identity of the simulator's default account. Public on purpose: it only ever signs
# for the local simulator. Never use it with real funds.
DEV_L2_PRIVATE_KEY = "0x2a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748"
DEV_ACCOUNT = "0x5e1f0c0ffee0d15ea5e0b01dface0ff1ce0fabc0dedbad0c0de0fa11edbeef1"
# Bearer token of the paper strategy ``dev`` (make run, compose/paper/strategies.json): public too,
# so the commands service refuses it, like the paper key, against any venue but the simulator.
DEV_STRATEGY_TOKEN = "paper-trading-dev-token"

VENUES: dict[str, tuple[str, str]] = {
    "sim": (f"http://127.0.0.1:{SIM_REST_PORT}/v1", f"ws://127.0.0.1:{SIM_WS_PORT}/v1"),
    "testnet": ("https://api.testnet.paradex.trade/v1", "wss://ws.api.testnet.paradex.trade/v1"),
    "prod": ("https://api.prod.paradex.trade/v1", "wss://ws.api.prod.paradex.trade/v1"),
}


class CommonSettings(SettingsBase, frozen=True, kw_only=True):
    """Bus, Redis, venue and identity settings (unprefixed environment variables)."""

    global_fields: ClassVar[frozenset[str]] = frozenset({
        "nats_url", "redis_url", "paradex_rest_url", "paradex_ws_url", "paradex_account",
        "paradex_l2_private_key", "paradex_markets", "log_level", "log_format",
    })

    nats_url: str = "nats://127.0.0.1:4222"
    redis_url: str = "redis://127.0.0.1:6379/0"
    paradex_rest_url: str = VENUES["sim"][0]
    paradex_ws_url: str = VENUES["sim"][1]
    paradex_account: str = DEV_ACCOUNT
    paradex_l2_private_key: Secret = Secret(DEV_L2_PRIVATE_KEY)
    paradex_markets: tuple[str, ...] = ("BTC-USD-PERP", "ETH-USD-PERP")
    log_level: str = "INFO"
    log_format: str = "plain"

    @property
    def account_token(self) -> str:
        """The account as used in NATS subjects and Redis keys (the hex address, lower case)."""
        return self.paradex_account.lower()
