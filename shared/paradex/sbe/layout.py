"""Wire layouts of the public Paradex SBE templates (schema id 1, version 2), as data.

Everything here is derived from ``sbe-schema-1.xml``: fields in declaration order (SBE offsets
follow declaration order, not field ids), each with its primitive format and the schema version that
added it. ``tests/paradex/test_sbe_schema.py`` re-derives offsets from the XML and compares.

Only fixed-width integer primitives occur in these blocks: ``q`` int64 (timestamps, sequences,
mantissas), ``B`` uint8 (enums), ``h`` int16.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

SCHEMA_ID = 1
SCHEMA_VERSION = 2
"""The newest version in sbe-schema-1.xml; the encoder writes it unless told otherwise."""

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
NULL = INT64_MIN
"""Null sentinel of every optional int64 mantissa (``Price8NULL``, ``Qty8NULL``, ``Rate8NULL`` ...)."""

HEADER = struct.Struct("<HHHH")
GROUP_HEADER = struct.Struct("<HH")
LEVEL = struct.Struct("<qq")
"""One ``bids``/``asks`` entry of BookEvent: price mantissa, size mantissa."""


@dataclass(frozen=True)
class Field:
    """One fixed-block field: name as in the XML, struct format char, version that added it."""

    name: str
    fmt: str
    since: int = 0
    null: int | None = None
    """Null sentinel when the field is optional; appended (``since`` > 0) fields must have one."""

    @property
    def size(self) -> int:
        return struct.calcsize("<" + self.fmt)


@dataclass(frozen=True)
class Data:
    """One ``varString8`` var-data field."""

    name: str
    since: int = 0


@dataclass(frozen=True)
class Template:
    """A message layout: fixed block, repeating groups (all of LEVEL shape here), var data."""

    template_id: int
    name: str
    fields: tuple[Field, ...]
    groups: tuple[str, ...] = ()
    data: tuple[Data, ...] = (Data("market"),)
    block: struct.Struct = field(init=False)
    min_block_length: int = field(init=False)
    null_block: bytes = field(init=False)
    _blocks: dict[int, struct.Struct] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        block = struct.Struct("<" + "".join(f.fmt for f in self.fields))
        object.__setattr__(self, "block", block)
        object.__setattr__(self, "min_block_length", self.block_length(0))
        nulls = tuple(0 if f.null is None else f.null for f in self.fields)
        object.__setattr__(self, "null_block", block.pack(*nulls))
        blocks = {
            v: struct.Struct("<" + "".join(f.fmt for f in self.fields_at(v)))
            for v in range(SCHEMA_VERSION + 1)
        }
        object.__setattr__(self, "_blocks", blocks)

    def block_length(self, version: int = SCHEMA_VERSION) -> int:
        """Length of the fixed block a frame of ``version`` carries."""
        return sum(f.size for f in self.fields_at(version))

    def offsets(self) -> dict[str, int]:
        """Byte offset of every fixed field inside the block."""
        out: dict[str, int] = {}
        pos = 0
        for f in self.fields:
            out[f.name] = pos
            pos += f.size
        return out

    def block_at(self, version: int) -> struct.Struct:
        """The packer of the fixed block a frame of ``version`` carries."""
        return self._blocks[min(version, SCHEMA_VERSION)]

    def fields_at(self, version: int) -> tuple[Field, ...]:
        """The fixed fields a frame of ``version`` carries."""
        return tuple(f for f in self.fields if f.since <= version)

    def data_at(self, version: int) -> tuple[Data, ...]:
        """The var-data fields a frame of ``version`` carries."""
        return tuple(d for d in self.data if d.since <= version)


def _q(name: str, *, since: int = 0, optional: bool = False) -> Field:
    return Field(name, "q", since, NULL if optional or since else None)


TRADE = Template(1, "TradeEvent", (
    _q("ts"), _q("seq"), _q("tradeId"), Field("side", "B"), _q("price"), _q("size"),
    _q("createdAt"), Field("tradeType", "B"),
), data=(Data("market"), Data("tradeIdStr", since=2)))

BBO = Template(2, "BboEvent", (
    _q("ts"), _q("seq"),
    _q("bidPrice", optional=True), _q("bidSize", optional=True),
    _q("askPrice", optional=True), _q("askSize", optional=True),
))

BOOK = Template(3, "BookEvent", (
    _q("ts"), _q("seq"), Field("pkgType", "B"),
    *(_q(n, optional=True) for n in (
        "bestBidPrice", "bestBidSize", "bestAskPrice", "bestAskSize", "relativeSpread",
        "bestBidApiPrice", "bestBidApiSize", "bestAskApiPrice", "bestAskApiSize",
    )),
), groups=("bids", "asks"))

MARKET_SUMMARY = Template(4, "MarketSummaryEvent", (
    _q("ts"), _q("seq"), _q("markPrice"), _q("indexPrice"), _q("lastPrice"), _q("volumeUsd24h"),
    _q("openInterest"), _q("fundingRate"), _q("bid", optional=True), _q("ask", optional=True),
    _q("totalVolume"), _q("priceChangeRate24h"),
    *(_q(n, optional=True) for n in (
        "markIv", "bidIv", "askIv", "lastIv", "delta", "gamma", "vega", "theta", "rho", "volga",
        "vanna", "futureFundingRate", "externalFairPrice", "bidSize", "askSize",
    )),
    _q("forwardRate", since=1), _q("riskFreeRate", since=1), _q("fundingRatePrecise", since=1),
))

FUNDING_DATA = Template(5, "FundingDataEvent", (
    _q("ts"), _q("seq"), _q("fundingRate"), _q("fundingIndex"), _q("createdAt"),
    _q("fundingPremium"), _q("fundingRate8h"), Field("fundingPeriodHours", "h"),
    _q("impactPremiumRate", since=1),
))

HEARTBEAT = Template(40, "HeartbeatEvent", (_q("ts"), _q("seq")), data=())

TEMPLATES: dict[int, Template] = {
    t.template_id: t for t in (TRADE, BBO, BOOK, MARKET_SUMMARY, FUNDING_DATA, HEARTBEAT)
}

# Enum encodings (sbe-schema-1.xml <enum>), wire value -> JSON string and back.
SIDES: dict[int, str] = {1: "BUY", 2: "SELL"}
TRADE_TYPES: dict[int, str] = {
    1: "FILL", 2: "LIQUIDATION", 3: "UNWIND_TRANSFER", 4: "SETTLE_MARKET", 5: "RPI", 6: "BLOCK_TRADE",
}
PKG_SNAPSHOT = 0
PKG_DELTA = 1
SIDE_CODES = {v: k for k, v in SIDES.items()}
TRADE_TYPE_CODES = {v: k for k, v in TRADE_TYPES.items()}
