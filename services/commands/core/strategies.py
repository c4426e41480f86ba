"""Strategy identities: who may send orders, with which token, within which limits (pure)."""

from __future__ import annotations

import hashlib
import hmac
from decimal import Decimal

import msgspec

from shared.errors import ConfigError


class Strategy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One strategy service. ``markets`` empty = all markets; ``None`` limits = no limit of ours."""

    name: str
    token: str
    markets: tuple[str, ...] = ()
    max_order_notional: Decimal | None = None
    max_open_orders_per_market: int | None = None
    max_position: Decimal | None = None
    #: orders per second (shared by every replica), bursts of ``max_order_burst`` (default: the rate)
    max_order_rate: float | None = None
    max_order_burst: float | None = None
    #: refuse new orders (but reduce-only ones) once the strategy lost this much today (UTC, USD)
    max_loss: Decimal | None = None
    can_cancel_others: bool = False

    def __repr__(self) -> str:  # never print the token
        return f"Strategy(name={self.name!r})"

    def allows_market(self, market: str) -> bool:
        """Whether this strategy may trade ``market``."""
        return not self.markets or market in self.markets


_NAME_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Strategies:
    """Look strategies up by bearer token (by SHA-256 digest, compared in constant time)."""

    def __init__(self, strategies: list[Strategy]) -> None:
        self._by_digest: dict[bytes, Strategy] = {}
        self.by_name: dict[str, Strategy] = {}
        for s in strategies:
            if not s.name or len(s.name) > 24 or not set(s.name) <= _NAME_OK:
                raise ConfigError(
                    "COMMANDS_STRATEGIES", f"strategy name {s.name!r} must be 1-24 of [A-Za-z0-9_-]"
                )
            if len(s.token) < 16:
                raise ConfigError("COMMANDS_STRATEGIES", f"token of {s.name!r} is shorter than 16 chars")
            if s.name in self.by_name:
                raise ConfigError("COMMANDS_STRATEGIES", f"strategy {s.name!r} is listed twice")
            digest = _digest(s.token)
            if digest in self._by_digest:
                raise ConfigError("COMMANDS_STRATEGIES", f"strategy {s.name!r} reuses another's token")
            self._by_digest[digest] = s
            self.by_name[s.name] = s

    @classmethod
    def parse(cls, raw: str) -> Strategies:
        """Parse the ``COMMANDS_STRATEGIES`` JSON array (ConfigError naming the problem)."""
        if not raw.strip():
            return cls([])
        try:
            items = msgspec.json.decode(raw.encode(), type=list[Strategy])
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise ConfigError("COMMANDS_STRATEGIES", str(exc)) from exc
        return cls(items)

    def authenticate(self, authorization: str | None) -> Strategy | None:
        """The strategy of an ``Authorization: Bearer <token>`` header, or None."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        token = authorization[7:].strip()
        found = self._by_digest.get(_digest(token))
        if found is None or not hmac.compare_digest(found.token, token):
            return None
        return found

    def __len__(self) -> int:
        return len(self.by_name)
