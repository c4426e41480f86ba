"""Request payloads sent over core NATS (not stored in a stream).

:class:`ReconcileRequest` is what a service sends on ``subjects.RECONCILE_REQUEST`` to ask the
reconciler for a snapshot: the feed after every (re)connection (reason ``feed_reconnect``) or
after losing account events; anyone after a specific doubt, optionally naming the orders.
"""

from __future__ import annotations

import msgspec


class ReconcileRequest(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Ask the reconciler for a snapshot; ``order_ids``/``client_ids`` narrow it to lookups."""

    reason: str
    order_ids: tuple[str, ...] = ()
    client_ids: tuple[str, ...] = ()


_ENC = msgspec.json.Encoder()
_DEC = msgspec.json.Decoder(ReconcileRequest)


def encode_request(request: ReconcileRequest) -> bytes:
    """JSON bytes of ``request``."""
    return _ENC.encode(request)


def decode_request(data: bytes | str) -> ReconcileRequest:
    """Decode a reconcile request (msgspec.ValidationError/DecodeError on bad input)."""
    return _DEC.decode(data)
