"""Why a venue session ended, and whether trying again soon can help (fatal vs retryable).

:func:`classify` maps the exception that ended a session to a :class:`Failure`:

* ``fatal``: retrying with the same configuration cannot work. The venue refused our key or
  account at ``POST /auth`` (a 4xx: bad signature, ``NOT_ONBOARDED``, an unknown or revoked
  account), refused the WebSocket handshake with a 4xx (400: connection parameters such as an
  unsupported ``sbeSchemaVersion``; 401/403; 404: wrong URL), refused a freshly fetched JWT
  twice in a row, or the configuration itself is invalid. The feed reports it (status
  ``auth_failed`` or ``disconnected`` with ``fatal: ...``, ``/healthz`` ``failure``, a log line
  naming what to fix) and retries slowly (``FEED_FATAL_RETRY_S``), never in a hot loop, since an
  operator may fix the venue side (onboarding) without restarting us.
* ``oversized``: a frame above ``FEED_WS_MAX_SIZE`` (websockets closed with 1009): logged with
  the limit, then the normal backoff.
* ``transient``: everything else (refused or reset TCP, timeouts, 5xx, 429, silence, a closed
  socket): the capped, jittered backoff of :mod:`shared.paradex.retry`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI

from shared.errors import ConfigError, VenueError

FailureKind = Literal["transient", "fatal", "oversized"]
MESSAGE_TOO_BIG = 1009

_ACCOUNT_CODES = frozenset({"NOT_ONBOARDED", "ACCOUNT_NOT_FOUND", "INVALID_STARKNET_ADDRESS",
                            "UNAUTHORIZED_ERROR", "REQUEST_NOT_ALLOWED"})


@dataclass(frozen=True, slots=True)
class Failure:
    """One ended session: its class, a one-line reason, what to fix (fatal only), and whether it
    is an authentication refusal (reported as status ``auth_failed``)."""

    kind: FailureKind
    reason: str
    hint: str = ""
    auth: bool = False

    @property
    def fatal(self) -> bool:
        """True when the same configuration cannot succeed: retry slowly."""
        return self.kind == "fatal"


def _venue(exc: VenueError) -> Failure:
    reason = f"POST /auth refused: {exc.status} {exc.code}"
    if exc.venue_message:
        reason += f" ({exc.venue_message})"
    if exc.code in _ACCOUNT_CODES:
        hint = ("the venue does not accept this account (not onboarded, unknown or revoked): check "
                "PARADEX_ACCOUNT and onboard it")
    else:
        hint = ("the venue refused the key: check that PARADEX_L2_PRIVATE_KEY belongs to PARADEX_ACCOUNT "
                "and that the clock is right")
    return Failure("fatal", reason[:300], hint, auth=True)


def _handshake(exc: InvalidStatus) -> Failure:
    status = exc.response.status_code
    body = bytes(exc.response.body or b"")[:200].decode("utf-8", "replace").strip()
    reason = f"WebSocket handshake refused with HTTP {status}" + (f": {body}" if body else "")
    if status in (408, 429) or status >= 500:
        return Failure("transient", reason)
    if status == 400:
        hint = ("the venue refused the connection parameters: check FEED_SBE_SCHEMA_VERSION (prod requires "
                "2, a version the venue supports) and PARADEX_WS_URL")
    elif status in (401, 403):
        hint = "the venue refused us: check PARADEX_ACCOUNT and PARADEX_L2_PRIVATE_KEY"
    elif status == 404:
        hint = "no WebSocket endpoint there: check PARADEX_WS_URL (it ends in /v1)"
    else:
        hint = "check PARADEX_WS_URL and FEED_SBE_SCHEMA_VERSION"
    return Failure("fatal", reason, hint, auth=status in (401, 403))


def classify(exc: BaseException, *, max_size: int = 0) -> Failure:
    """The :class:`Failure` of the exception that ended a session (see the module docstring)."""
    if isinstance(exc, InvalidStatus):
        return _handshake(exc)
    if isinstance(exc, VenueError):
        if 400 <= exc.status < 500 and exc.status not in (408, 429):
            return _venue(exc)
        return Failure("transient", f"POST /auth failed: {exc}"[:300])
    if isinstance(exc, InvalidURI | ConfigError):
        return Failure("fatal", f"{type(exc).__name__}: {exc}"[:300], "fix the setting named above")
    if isinstance(exc, ConnectionClosed):
        sent = exc.sent
        if sent is not None and sent.code == MESSAGE_TOO_BIG:
            return Failure("oversized", f"frame larger than FEED_WS_MAX_SIZE ({max_size} bytes): "
                           f"{sent.reason}"[:300])
        return Failure("transient", f"connection closed: {exc}"[:300])
    text = str(exc)
    return Failure("transient", (f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[:300])
