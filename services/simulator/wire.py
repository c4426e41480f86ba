"""Engine events as the bytes the venue sends (JSON), on top of ``engine.convert``.

Every field the spec requires is written by the models themselves (``Account`` and ``Bbo`` encode
fields equal to their default too), so nothing is patched here.
"""

from __future__ import annotations

from typing import Any

import msgspec

from shared.paradex.models.account import Account
from shared.paradex.models.common import encode

from .engine import VenueEvent, convert


def account_body(account: Account) -> dict[str, Any]:
    """An account summary as a dict of its fields (all present; encoding the model itself is
    equivalent now, this stays for callers that embed it in a larger body)."""
    return msgspec.structs.asdict(account)


def encode_wire(wire: object) -> bytes:
    """JSON of a wire model as the venue writes it."""
    return encode(wire)


def encode_event(event: VenueEvent) -> bytes:
    """JSON ``data`` of the push for ``event``."""
    return encode_wire(convert.to_wire(event))
