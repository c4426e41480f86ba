"""One way for every service to reach NATS: ``NATS_URL`` as a comma-separated list of seed servers.

``nats://a:4222,nats://b:4222,nats://c:4222`` lists cluster seeds (the client learns the other
members from the cluster and fails over between them); credentials go in the URL
(``nats://user:password@host:4222``) and are registered as secrets, so logs show ``***``. Errors
name the URL (without the password).
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlsplit

import nats

from shared.errors import ConfigError, HubError
from shared.log import register_secret

log = logging.getLogger("shared.bus.connect")

_SCHEMES = ("nats", "tls", "ws", "wss")


class BusUnavailable(HubError):
    """NATS could not be reached at the configured URL."""

    retryable = True


def seeds(url: str, variable: str = "NATS_URL") -> list[str]:
    """The seed servers of ``url`` (comma-separated); ConfigError naming ``variable`` if malformed."""
    out = [part.strip() for part in url.split(",") if part.strip()]
    if not out:
        raise ConfigError(variable, "no NATS server given (e.g. nats://127.0.0.1:4222)")
    for seed in out:
        parts = urlsplit(seed)
        if parts.scheme not in _SCHEMES or not parts.hostname:
            raise ConfigError(variable, f"{redact_url(seed)!r} is not a NATS URL (nats://host:port[,nats://...])")
        if parts.password:
            register_secret(parts.password)
    return out


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (every seed of a list)."""
    out = []
    for seed in url.split(","):
        parts = urlsplit(seed.strip())
        if parts.password:
            seed = seed.replace(f":{parts.password}@", ":***@")
        out.append(seed.strip())
    return ",".join(out)


async def connect(url: str, *, name: str, **options: Any) -> Any:
    """A connected nats-py client for the seeds of ``url``; reconnects forever by default.

    Failed attempts are logged (at most every 10 s) naming the URL, so a wrong port is visible at once.
    """
    servers = seeds(url)
    shown = redact_url(url)
    last = [0.0]

    async def on_error(exc: Exception) -> None:
        now = time.monotonic()
        if now - last[0] >= 10.0:
            last[0] = now
            log.warning("NATS at %s: %s: %s", shown, type(exc).__name__, exc)

    settings: dict[str, Any] = {"max_reconnect_attempts": -1, "reconnect_time_wait": 0.5,
                                "allow_reconnect": True, "error_cb": on_error}
    settings.update(options)
    try:
        return await nats.connect(servers=servers, name=name, **settings)
    except Exception as exc:
        raise BusUnavailable(f"NATS at {shown} unreachable: {type(exc).__name__}: {exc}") from exc
