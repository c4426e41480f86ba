"""Client ids generated for strategies that send none (pure apart from the random source)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable


def new_client_id(
    strategy: str, *, now_ns: Callable[[], int] = time.time_ns, rand: Callable[[int], bytes] = os.urandom
) -> str:
    """``<strategy>-<ns time base36>-<16 hex random>``: unique, ordered by time, at most 64 chars
    (strategy names are at most 24 characters)."""
    return f"{strategy}-{_b36(now_ns())}-{rand(8).hex()}"


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = []
    while n:
        n, r = divmod(n, 36)
        out.append(digits[r])
    return "".join(reversed(out)) or "0"
