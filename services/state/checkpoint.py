"""Checkpoints of the state core in Redis: ``pdx:<account>:checkpoint`` = hash {seq, state}.

``state`` is :meth:`StateCore.dump` bytes (deterministic JSON); ``seq`` the last ACCOUNT stream
sequence folded into it. On start the service loads it and replays the stream from ``seq + 1``.
"""

from __future__ import annotations

import logging
from typing import Any

from services.state.core import StateConfig, StateCore

log = logging.getLogger("state.checkpoint")


async def load_checkpoint(redis: Any, key: str, config: StateConfig) -> StateCore | None:
    """The core saved under ``key``, or None when there is none (or it cannot be read)."""
    data = await redis.hget(key, "state")
    if not data:
        return None
    try:
        core = StateCore.load(data)
    except Exception as exc:  # a corrupt or old-format checkpoint means a full replay, not a crash
        log.error("checkpoint %s unreadable (%s): replaying the whole stream", key, exc)
        return None
    core.config = config
    core.max_trades = config.max_trades
    # Books in a checkpoint are as old as the checkpoint and the market feed is not replayed.
    for book in core.books.values():
        book.invalidate("restored_from_checkpoint")
    return core


async def save_checkpoint(redis: Any, key: str, core: StateCore) -> int:
    """Write the core's dump; returns the account sequence it covers."""
    seq = core.account_seq
    await redis.hset(key, mapping={"seq": seq, "state": core.dump()})
    return seq
