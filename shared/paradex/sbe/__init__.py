"""SBE (Simple Binary Encoding) codec for the public Paradex market-data templates, schema 1:2.

Templates: Trade (1), Bbo (2), Book (3), MarketSummary (4), FundingData (5), Heartbeat (40).
Binary frames decode to the same models as the JSON feed (``shared.paradex.models``), so code
downstream of the feed does not know which encoding was used::

    decoder = SbeDecoder()
    msg = decoder.decode(frame)           # BookUpdate | Trade | ... | Heartbeat | Skipped
    frame = encode(book_update)           # simulator side, schema 1:2 unless version=...

Layout: :mod:`.layout` (templates as data), :mod:`.wire` (header/block/group/string primitives),
:mod:`.mantissa` (exact Decimal conversion), :mod:`.decode`, :mod:`.encode`, :mod:`.canonical`.
"""

from __future__ import annotations

from shared.paradex.sbe.canonical import canonical
from shared.paradex.sbe.decode import Decoded, Heartbeat, Skipped, decode
from shared.paradex.sbe.encode import SbeEncodeError, encode, trade_id_int64
from shared.paradex.sbe.layout import SCHEMA_ID, SCHEMA_VERSION, TEMPLATES
from shared.paradex.sbe.wire import Buffer

__all__ = [
    "SCHEMA_ID",
    "SCHEMA_VERSION",
    "TEMPLATES",
    "Decoded",
    "Heartbeat",
    "SbeDecoder",
    "SbeEncodeError",
    "Skipped",
    "canonical",
    "decode",
    "encode",
    "trade_id_int64",
]


class SbeDecoder:
    """:func:`decode` plus counters: frames decoded and skipped per template id (for metrics)."""

    __slots__ = ("decoded", "skipped")

    def __init__(self) -> None:
        self.decoded = 0
        self.skipped: dict[int, int] = {}

    def decode(self, frame: Buffer) -> Decoded:
        """Decode ``frame`` (see :func:`decode`); a :class:`Skipped` result is counted."""
        result = decode(frame)
        if type(result) is Skipped:
            self.skipped[result.template_id] = self.skipped.get(result.template_id, 0) + 1
        else:
            self.decoded += 1
        return result
