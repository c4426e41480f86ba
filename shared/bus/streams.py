"""JetStream stream definitions and an idempotent :func:`ensure_streams`."""

from __future__ import annotations

from typing import Any

from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from shared.bus import subjects

DAY_S = 86_400.0


def account_stream(max_age_s: float = 7 * DAY_S, duplicate_window_s: float = 120.0) -> StreamConfig:
    """ACCOUNT: durable (file), deduplicating by ``Nats-Msg-Id``; the total order of account events."""
    return StreamConfig(
        name=subjects.ACCOUNT_STREAM,
        subjects=[subjects.ACCOUNT_WILDCARD],
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        max_age=max_age_s,
        duplicate_window=duplicate_window_s,
        description="paradex-hub account events (orders, fills, positions, balances, commands, snapshots)",
    )


def market_stream(max_age_s: float = 60.0, max_bytes: int = 256 * 1024 * 1024) -> StreamConfig:
    """MARKET: in memory, bounded age and size; old market data is simply dropped."""
    return StreamConfig(
        name=subjects.MARKET_STREAM,
        subjects=[subjects.MARKET_WILDCARD],
        storage=StorageType.MEMORY,
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        max_age=max_age_s,
        max_bytes=max_bytes,
        duplicate_window=min(max_age_s, 10.0),
        description="paradex-hub market data (book, bbo, trades, summaries, funding, gaps)",
    )


def dlq_stream(max_age_s: float = 7 * DAY_S) -> StreamConfig:
    """DLQ: undecodable bus messages kept for inspection."""
    return StreamConfig(
        name=subjects.DLQ_STREAM,
        subjects=[subjects.DLQ_WILDCARD],
        storage=StorageType.FILE,
        max_age=max_age_s,
        max_msgs=100_000,
        description="paradex-hub dead letters",
    )


def all_streams() -> list[StreamConfig]:
    return [account_stream(), market_stream(), dlq_stream()]


async def ensure_streams(js: Any, configs: list[StreamConfig] | None = None) -> list[str]:
    """Create each stream, or update it to ``configs`` when it exists. Safe to call any number of times.

    Returns what was done per stream (``created:NAME``, ``updated:NAME``, ``unchanged:NAME``).
    """
    done: list[str] = []
    for cfg in configs or all_streams():
        assert cfg.name is not None
        try:
            info = await js.stream_info(cfg.name)
        except NotFoundError:
            await js.add_stream(cfg)
            done.append(f"created:{cfg.name}")
            continue
        current = info.config
        wanted = {k: v for k, v in cfg.as_dict().items() if v is not None}
        have = current.as_dict()
        if any(have.get(k) != v for k, v in wanted.items()):
            await js.update_stream(cfg)
            done.append(f"updated:{cfg.name}")
        else:
            done.append(f"unchanged:{cfg.name}")
    return done
