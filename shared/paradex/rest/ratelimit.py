"""Rate-limit bookkeeping of the REST client (pure): endpoint families and ``x-ratelimit-*`` headers.

The venue meters requests in separate pools (PROTOCOL.md 3.10): public GETs per IP, ``/auth`` and
``/onboarding`` per IP, order writes (``POST``/``PUT``/``DELETE /orders*``) per account, private GETs
per account. :func:`endpoint_family` names the pool of a request; the client keeps the
:class:`RateLimit` of the last response of each family.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import msgspec

PUBLIC: Final = "public"
AUTH: Final = "auth"
ORDERS_WRITE: Final = "orders_write"
PRIVATE_READ: Final = "private_read"
FAMILIES: Final = (PUBLIC, AUTH, ORDERS_WRITE, PRIVATE_READ)

_PUBLIC_PREFIXES = ("/system/", "/markets", "/orderbook/", "/bbo/", "/trades", "/funding/data")


class RateLimit(msgspec.Struct, frozen=True, kw_only=True):
    """The ``x-ratelimit-*`` headers of one response (``None`` when a header was absent/malformed).

    The units of ``reset`` and ``window`` are not documented by the venue; they are kept as sent.
    ``observed_at`` is the client's monotonic clock when the response arrived.
    """

    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None
    window: float | None = None
    observed_at: float = 0.0


def endpoint_family(method: str, path: str) -> str:
    """The rate-limit pool of ``method path`` (``path`` relative to the API root, e.g. ``/orders``)."""
    if path.startswith(("/auth", "/onboarding")):
        return AUTH
    if method != "GET" and path.startswith("/orders"):
        return ORDERS_WRITE
    if method == "GET" and path.startswith(_PUBLIC_PREFIXES):
        return PUBLIC
    return PRIVATE_READ


def parse_rate_limit(headers: Mapping[str, str], observed_at: float) -> RateLimit | None:
    """The :class:`RateLimit` carried by ``headers`` (case-insensitive mapping), ``None`` if none."""
    limit = headers.get("x-ratelimit-limit")
    remaining = headers.get("x-ratelimit-remaining")
    reset = headers.get("x-ratelimit-reset")
    window = headers.get("x-ratelimit-window")
    if limit is None and remaining is None and reset is None and window is None:
        return None
    return RateLimit(limit=_int(limit), remaining=_int(remaining), reset=_float(reset),
                     window=_float(window), observed_at=observed_at)


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from a ``Retry-After`` header given in seconds; ``None`` when absent or not a
    non-negative number (an HTTP-date form is not used by the venue and is ignored)."""
    value = _float(headers.get("retry-after"))
    return value if value is not None and value >= 0 else None


def _int(text: str | None) -> int | None:
    value = _float(text)
    return int(value) if value is not None else None


def _float(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if value == value and value not in (float("inf"), float("-inf")) else None
