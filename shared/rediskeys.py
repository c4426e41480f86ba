"""The Redis contract shared by the state service, the commands service and the client: key names
and the ``{"seq", "value"}`` record format. Documented in README.md ("Redis key schema").

Account keys live under ``pdx:<account>:`` (``account`` lower-cased, as the state service writes
it), market data under ``pdx:md:``. Every value is JSON ``{"seq": <ACCOUNT stream sequence it
reflects>, "value": <record>}``, the same body HTTP serves. No other module spells a key.
"""

from __future__ import annotations

from typing import Any

import msgspec

MD = "pdx:md"


def account_token(account: str) -> str:
    """The ``<account>`` part of every account key: the address as configured, lower-cased."""
    return account.lower()


class Keys:
    """Key names for one account (``account`` as configured; lower-cased here)."""

    def __init__(self, account: str) -> None:
        a = self.base = f"pdx:{account_token(account)}"
        self.orders = f"{a}:orders"  # hash: order key -> status
        self.positions = f"{a}:positions"  # set of markets
        self.balances = f"{a}:balances"  # set of tokens
        self.fills = f"{a}:fills"  # zset: fill id scored by venue time (capped)
        self.account = f"{a}:account"
        self.feed = f"{a}:feed"
        self.reconciliation = f"{a}:reconciliation"
        self.health = f"{a}:health"
        self.seq = f"{a}:seq"
        self.changes = f"{a}:changes"  # stream of account change notifications
        self.checkpoint = f"{a}:checkpoint"  # legacy (single-replica) checkpoint: read, never written
        self.checkpoints = f"{a}:ckpts"  # hash: replica id -> seq of its checkpoint
        self.rewrite = f"{a}:rewrite"  # a full rewrite in progress: the rewriting replica's token (TTL)
        self.market_specs = f"{a}:market_specs"  # set of market symbols with a venue spec
        self.md_changes = f"{MD}:changes"  # stream of (coalesced) market-data changes
        self.cmd = f"{a}:cmd"  # prefix of the commands service's own records

    def order(self, key: str) -> str:
        return f"{self.base}:order:{key}"

    def position(self, market: str) -> str:
        return f"{self.base}:position:{market}"

    def balance(self, token: str) -> str:
        return f"{self.base}:balance:{token}"

    def fill(self, fill_id: str) -> str:
        return f"{self.base}:fill:{fill_id}"

    def entity_patterns(self) -> tuple[str, ...]:
        """SCAN patterns of every per-entity key the state writes (orders, fills, positions, ...)."""
        kinds = ("order", "fill", "position", "balance", "market_spec")
        return tuple(f"{self.base}:{kind}:*" for kind in kinds)

    def market_spec(self, symbol: str) -> str:
        """The venue's spec of one market (tick size, size increment, min notional, ...)."""
        return f"{self.base}:market_spec:{symbol}"

    def checkpoint_of(self, replica: str) -> str:
        """The checkpoint hash of state replica ``replica`` (``seq``; the dump in list ``<key>:state``)."""
        return f"{self.base}:ckpt:{replica}"

    def health_of(self, replica: str) -> str:
        """The health body of state replica ``replica`` (expires when the replica stops writing it)."""
        return f"{self.base}:health:{replica}"

    def lease(self, durable: str) -> str:
        """The lease of a state replica on its durable consumer (hash, TTL; see README "Replicas")."""
        return f"{self.base}:lease:{durable}"

    def cmd_client_id(self, client_id: str) -> str:
        """The commands service's idempotency record of ``client_id``."""
        return f"{self.cmd}:cid:{client_id}"

    def cmd_order_id(self, order_id: str) -> str:
        """The commands service's owner record of an exchange order id."""
        return f"{self.cmd}:oid:{order_id}"

    @property
    def cmd_index(self) -> str:
        """Marker: the commands idempotency records are complete (rebuilt from the ACCOUNT stream
        up to its ``seq``). Absent after a Redis wipe: commands refuses places until rebuilt."""
        return f"{self.cmd}:index"

    @property
    def cmd_index_lock(self) -> str:
        """Held by the commands replica rebuilding the idempotency records."""
        return f"{self.cmd}:index:lock"

    @property
    def cmd_budget(self) -> str:
        """Hash: the venue order-write token buckets shared by every commands replica."""
        return f"{self.cmd}:budget"

    def cmd_strategy_rate(self, strategy: str) -> str:
        """Hash: a strategy's order-rate token bucket (shared by every commands replica)."""
        return f"{self.cmd}:rate:{strategy}"

    @property
    def cmd_reservers(self) -> str:
        """Hash: commands process token -> when it last reserved (ms)."""
        return f"{self.cmd}:reservers"

    def cmd_reserved(self, token: str) -> str:
        """Hash: the orders one commands process decided and the state does not show yet (client
        id -> reservation), so replicas cannot overshoot a limit together."""
        return f"{self.cmd}:reserved:{token}"

    md_writer = f"{MD}:writer"  # which state replica writes market data to Redis (token, TTL)

    @staticmethod
    def md(kind: str, market: str) -> str:
        """``pdx:md:<kind>:<market>`` for book, bbo, venue_bbo, trade, summary, funding."""
        return f"{MD}:{kind}:{market}"


class Record(msgspec.Struct, frozen=True):
    """A stored value: ``seq`` is the stream sequence it reflects, ``value`` the raw record JSON."""

    seq: int
    value: msgspec.Raw


_record_dec = msgspec.json.Decoder(Record)
_enc = msgspec.json.Encoder()


def encode_record(seq: int, value_json: bytes) -> bytes:
    """``{"seq": seq, "value": <value_json>}`` from an already encoded value."""
    return b'{"seq":%d,"value":%s}' % (seq, value_json)


def encode_record_of(seq: int, value: Any) -> bytes:
    """Encode ``value`` (msgspec JSON) and wrap it with ``seq``."""
    return encode_record(seq, _enc.encode(value))


def decode_record(data: bytes | str) -> Record:
    """Split a stored body into ``seq`` and the raw value (msgspec errors on malformed input)."""
    return _record_dec.decode(data)
