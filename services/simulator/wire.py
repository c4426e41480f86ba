"""Engine events as the bytes the venue sends (JSON), on top of ``engine.convert``.

The wire models omit fields equal to their default; the AsyncAPI schema requires
``last_seen_notification`` on the account payload, so it is written explicitly (0: the simulator
has no UI notifications).
"""

from __future__ import annotations

from typing import Any

import msgspec

from shared.paradex.models.account import Account
from shared.paradex.models.common import encode

from .engine import VenueEvent, convert


def account_body(account: Account) -> dict[str, Any]:
    """An account summary with every required field present."""
    body = msgspec.structs.asdict(account)
    body.setdefault("last_seen_notification", 0)
    return body


def encode_wire(wire: object) -> bytes:
    """JSON of a wire model as the venue writes it."""
    if isinstance(wire, Account):
        return encode(account_body(wire))
    return encode(wire)


def encode_event(event: VenueEvent) -> bytes:
    """JSON ``data`` of the push for ``event``."""
    return encode_wire(convert.to_wire(event))
