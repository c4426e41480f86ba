"""Give freed heap memory back to the OS after big transient allocations (glibc ``malloc_trim``).

Records of ~700 bytes (and their encoded JSON) are above pymalloc's 512-byte limit, so they come
from glibc's malloc; a checkpoint builds tens of MB of segments and frees them, and evicted
records are freed all the time. glibc keeps freed chunks in its heap and returns memory from the
top only, so the resident size creeps up with fragmentation although the live data is bounded
(measured in ``bench.memory``: ~360 MB resident for ~210 MB live after 200 000 events).
``malloc_trim(0)`` releases the free pages inside the heap too; it costs a few ms, run after each
checkpoint (at most every few seconds). Where the C library is not glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections.abc import Callable

log = logging.getLogger("state.memtrim")


def _load() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        fn = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to call
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return fn


_TRIM = _load()


def trim() -> bool:
    """Return freed heap pages to the OS; True when the C library offers it."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True
