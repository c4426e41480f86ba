"""Garbage-collector pauses of this process (``gc.callbacks``), for /metrics and the bench.

``freeze_startup_objects()`` collects once and moves every object alive after start-up (modules,
FastAPI routes, the restored core) to the permanent generation, so later full collections scan
only what was created since: at start-up the import-time objects alone made a full collection
cost ~15 ms.
"""

from __future__ import annotations

import gc
import time
from typing import Any


class GcWatch:
    """Counts collections per generation and their pause times while installed."""

    def __init__(self) -> None:
        self.collections = [0, 0, 0]
        self.pause_s = [0.0, 0.0, 0.0]
        self.max_pause_s = [0.0, 0.0, 0.0]
        self._t0 = 0.0

    def _cb(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
            return
        gen = int(info["generation"])
        dt = time.perf_counter() - self._t0
        self.collections[gen] += 1
        self.pause_s[gen] += dt
        self.max_pause_s[gen] = max(self.max_pause_s[gen], dt)

    def reset(self) -> None:
        """Forget what was counted so far (e.g. the start-up collections)."""
        self.collections = [0, 0, 0]
        self.pause_s = [0.0, 0.0, 0.0]
        self.max_pause_s = [0.0, 0.0, 0.0]

    def install(self) -> None:
        """Start watching (idempotent)."""
        if self._cb not in gc.callbacks:
            gc.callbacks.append(self._cb)

    def uninstall(self) -> None:
        """Stop watching."""
        if self._cb in gc.callbacks:
            gc.callbacks.remove(self._cb)


def freeze_startup_objects() -> int:
    """Collect, then freeze everything alive; returns the number of objects frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
