"""Throughput of the synthetic market: ``python -m bench.sim_engine``.

Prints a final JSON line: steps/s (one step = every market), book deltas/s, events/s, and the
CPU time per book delta (``cpu_us_per_delta``, process time: steadier on a shared machine).
"""

from __future__ import annotations

import json
import random
import sys
import time

from services.simulator.engine.events import BookDelta
from services.simulator.engine.exchange import Exchange
from services.simulator.engine.market import default_markets
from services.simulator.engine.synthetic import SyntheticMarket


def run(steps: int = 20_000, seed: int = 1) -> dict[str, float]:
    """Run ``steps`` synthetic steps (1 ms apart) and measure."""
    exchange = Exchange(default_markets())
    market = SyntheticMarket(exchange, random.Random(seed))
    deltas = events = 0
    start, cpu = time.perf_counter(), time.process_time()
    for t in range(steps):
        out = market.step(1_000 + t)
        events += len(out)
        deltas += sum(1 for e in out if isinstance(e, BookDelta))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {
        "steps": steps,
        "markets": len(exchange.markets),
        "steps_per_s": round(steps / elapsed),
        "book_deltas_per_s": round(deltas / elapsed),
        "events_per_s": round(events / elapsed),
        "cpu_us_per_delta": round(cpu * 1e6 / max(deltas, 1), 2),
    }


if __name__ == "__main__":
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    print(json.dumps(run(steps)))
