"""SBE codec throughput on one core: ``python -m bench.sbe``.

Headline ``book_decode_per_s``: a stream of 4096 *distinct* BTC delta frames (1-4 level changes
each, prices on a 0.1 tick around a random walk, sizes with 3 decimals, ~1 in 5 a removal), decoded
in order, so the Decimal memo sees realistic hit and miss rates instead of one repeated frame.
Also reported: one repeated 4-level delta (warm memo), a full 15+15 snapshot, a 1:2 trade, and
encode rates. Each rate is the best of 5 rounds, measured in process CPU time (the box is shared).
The last line printed is JSON with the figures.
"""

from __future__ import annotations

import json
import random
import sys
import time
import timeit
from decimal import Decimal
from typing import Any

from shared.paradex.models import BookLevel, BookUpdate, Trade
from shared.paradex.sbe import decode, encode

TARGET_BOOK_PER_S = 200_000


def _level(side: str, price: str, size: str) -> BookLevel:
    return BookLevel(side=side, price=Decimal(price), size=Decimal(size))


DELTA = BookUpdate(
    seq_no=14127816, market="BTC-USD-PERP", last_updated_at=1718267837315, update_type="d", inserts=[],
    updates=[_level("BUY", "67629.7", "0.5"), _level("BUY", "67620", "12"),
             _level("SELL", "67631.1", "1.25")],
    deletes=[_level("SELL", "67640", "0")],
)
SNAPSHOT = BookUpdate(
    seq_no=14127815, market="BTC-USD-PERP", last_updated_at=1718267837265, update_type="s",
    inserts=[_level("BUY", f"{67629 - i}.7", f"0.{i + 1}") for i in range(15)]
    + [_level("SELL", f"{67631 + i}.1", f"{i + 1}.5") for i in range(15)],
    updates=[], deletes=[],
)
TRADE = Trade(id="1681462103821101699438490000", market="BTC-USD-PERP", side="BUY", size=Decimal("0.05"),
              price=Decimal("30112.22"), created_at=1681462103821, trade_type="FILL")


def rate(fn: Any, number: int) -> float:
    """Calls per second: best of 5 rounds of ``number`` calls (process CPU time)."""
    best = min(timeit.repeat(fn, number=number, repeat=5, timer=time.process_time))
    return number / best


def delta_stream(count: int, seed: int = 7) -> list[bytes]:
    """``count`` distinct, realistic delta frames with consecutive seq numbers."""
    rng = random.Random(seed)
    mid = 676300
    frames = []
    for i in range(count):
        mid += rng.randint(-3, 3)
        levels = []
        for _ in range(rng.randint(1, 4)):
            side = rng.choice(("BUY", "SELL"))
            ticks = mid - rng.randint(1, 40) if side == "BUY" else mid + rng.randint(1, 40)
            size = "0" if rng.random() < 0.2 else f"{rng.randint(1, 5000) / 1000:.3f}"
            levels.append(_level(side, f"{ticks / 10:.1f}", size))
        update = BookUpdate(
            seq_no=14127816 + i, market="BTC-USD-PERP", last_updated_at=1718267837315 + 80 * i,
            update_type="d", inserts=[], updates=[lv for lv in levels if lv.size],
            deletes=[lv for lv in levels if not lv.size],
        )
        frames.append(encode(update))
    return frames


def main() -> None:
    frames = {"book_delta": encode(DELTA), "book_snapshot": encode(SNAPSHOT), "trade": encode(TRADE, seq=7)}
    results: dict[str, float] = {}
    stream = delta_stream(4096)

    def decode_stream() -> None:
        for frame in stream:
            decode(frame)

    results["book_stream_decode_per_s"] = rate(decode_stream, 10) * len(stream)
    size = sum(map(len, stream)) / len(stream)
    print(f"decode book delta stream ({size:4.0f} bytes avg, 4096 distinct): "
          f"{results['book_stream_decode_per_s']:>12,.0f} /s")
    for name, frame in frames.items():
        results[f"{name}_decode_per_s"] = rate(lambda f=frame: decode(f), 50_000)
        print(f"decode {name:14s} ({len(frame):4d} bytes): {results[f'{name}_decode_per_s']:>12,.0f} /s")
    for name, model in (("book_delta", DELTA), ("book_snapshot", SNAPSHOT), ("trade", TRADE)):
        results[f"{name}_encode_per_s"] = rate(lambda m=model: encode(m), 20_000)
        print(f"encode {name:14s}: {results[f'{name}_encode_per_s']:>12,.0f} /s")
    book = results["book_stream_decode_per_s"]
    verdict = "meets" if book >= TARGET_BOOK_PER_S else "MISSES"
    print(f"book delta decode {book:,.0f}/s {verdict} the {TARGET_BOOK_PER_S:,}/s target "
          f"(python {sys.version.split()[0]})")
    out = {"book_decode_per_s": round(book), "trade_decode_per_s": round(results["trade_decode_per_s"])}
    out |= {k: round(v) for k, v in results.items()}
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
