"""Request payloads sent over core NATS (not stored in a stream).

:class:`ReconcileRequest` is what a service sends on ``subjects.RECONCILE_REQUEST`` to ask the
reconciler for a snapshot: the feed after every (re)connection (reason ``feed_reconnect``) or
after losing account events; anyone after a specific doubt, optionally naming the orders (a
lookup) or the parts it needs (a targeted snapshot, e.g. the state after a missed push).

:class:`BookResyncRequest` is what a service sends on ``subjects.FEED_BOOK_RESYNC`` to ask the
feed for fresh book snapshots of some markets: the venue sends an ``s`` frame only right after a
subscription, so a consumer that missed it (started after the feed, restored from a checkpoint,
or saw a gap the feed did not) asks the feed to resubscribe. The feed answers a request that
carries a reply subject with a :class:`BookResyncAck`.

:class:`MarketsRequest` (``subjects.MARKETS_REQUEST``) asks the reconciler to publish the venue's
market specs now: a state replica that starts without any sends it.
"""

from __future__ import annotations

import msgspec


class ReconcileRequest(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Ask the reconciler for a snapshot; ``order_ids``/``client_ids`` narrow it to lookups,
    ``parts`` (snapshot part names) to a targeted snapshot of just those parts, with order history
    and fills from venue time ``since_ms`` (0: the reconciler's own window). Neither: a full one."""

    reason: str
    order_ids: tuple[str, ...] = ()
    client_ids: tuple[str, ...] = ()
    parts: tuple[str, ...] = ()
    since_ms: int = 0


class BookResyncRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Ask the feed to resubscribe the books of ``markets`` (each then starts with an ``s`` frame)."""

    markets: tuple[str, ...]
    reason: str


class BookResyncAck(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The feed's answer: markets resubscribed, skipped by the per-market rate limit, not followed.

    ``connected`` False means nothing was sent now; the next connection subscribes every book
    afresh anyway (so ``resubscribed`` is empty and the request is still served).
    """

    resubscribed: tuple[str, ...] = ()
    rate_limited: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()
    connected: bool = True


class MarketsRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Ask the reconciler to publish the venue's market specs now (``subjects.MARKETS_REQUEST``)."""

    reason: str


_ENC = msgspec.json.Encoder()
_DEC = msgspec.json.Decoder(ReconcileRequest)
_DEC_RESYNC = msgspec.json.Decoder(BookResyncRequest)
_DEC_ACK = msgspec.json.Decoder(BookResyncAck)


def encode_request(request: ReconcileRequest) -> bytes:
    """JSON bytes of ``request``."""
    return _ENC.encode(request)


def decode_request(data: bytes | str) -> ReconcileRequest:
    """Decode a reconcile request (msgspec.ValidationError/DecodeError on bad input)."""
    return _DEC.decode(data)


def encode_markets_request(request: MarketsRequest) -> bytes:
    """JSON bytes of a markets request."""
    return _ENC.encode(request)


def encode_resync(request: BookResyncRequest) -> bytes:
    """JSON bytes of a book resync request."""
    return _ENC.encode(request)


def decode_resync(data: bytes | str) -> BookResyncRequest:
    """Decode a book resync request (msgspec.ValidationError/DecodeError on bad input)."""
    return _DEC_RESYNC.decode(data)


def encode_resync_ack(ack: BookResyncAck) -> bytes:
    """JSON bytes of the feed's answer to a book resync request."""
    return _ENC.encode(ack)


def decode_resync_ack(data: bytes | str) -> BookResyncAck:
    """Decode the feed's answer to a book resync request."""
    return _DEC_ACK.decode(data)
