"""JetStream stream definitions, their settings, and an idempotent, conservative :func:`ensure_streams`.

Settings (environment, prefix ``BUS_``; README "Configuration"):

=============================  ==========  ===================================================
``BUS_STREAM_REPLICAS``        1           replicas of every stream (3 on a 3-node cluster)
``BUS_ACCOUNT_MAX_BYTES``      8 GiB       ACCOUNT stream size cap (oldest events dropped);
                                           ``-1`` = no cap
``BUS_ACCOUNT_MAX_AGE_S``      604800      ACCOUNT stream age cap (7 days); ``0`` = no cap
``BUS_MARKET_MAX_BYTES``       256 MiB     MARKET stream (in memory) size cap
``BUS_MARKET_MAX_AGE_S``       60          MARKET stream age cap
=============================  ==========  ===================================================

Start-up never lowers a stream's replicas (a cluster operator may have raised them, and a service
started with the default must not undo that) and never touches settings it does not manage
(placement, mirrors, per-subject limits, ... set by hand stay as they are): it merges the managed
fields into the stream's current configuration and updates only when one of them differs.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, NotFoundError

from shared.bus import subjects
from shared.errors import ConfigError
from shared.settings import SettingsBase, load

log = logging.getLogger("shared.bus.streams")

DAY_S = 86_400.0
GIB = 1024**3

# The fields ensure_streams owns; every other field of an existing stream is left as it is.
MANAGED = ("subjects", "max_age", "max_bytes", "max_msgs", "duplicate_window", "discard", "description")


class BusSettings(SettingsBase, frozen=True, kw_only=True):
    """Stream replicas and limits (``BUS_*``)."""

    env_prefix: ClassVar[str] = "BUS_"

    stream_replicas: int = 1
    account_max_bytes: int = 8 * GIB
    account_max_age_s: float = 7 * DAY_S
    market_max_bytes: int = 256 * 1024 * 1024
    market_max_age_s: float = 60.0

    def __post_init__(self) -> None:
        if not 1 <= self.stream_replicas <= 5:
            raise ConfigError("BUS_STREAM_REPLICAS", f"must be 1..5, got {self.stream_replicas}")
        if self.account_max_bytes == 0 or self.account_max_bytes < -1:
            raise ConfigError("BUS_ACCOUNT_MAX_BYTES", f"-1 (no cap) or > 0, got {self.account_max_bytes}")
        if self.account_max_age_s < 0:
            raise ConfigError("BUS_ACCOUNT_MAX_AGE_S", f">= 0 (0 = no cap), got {self.account_max_age_s}")
        if self.market_max_bytes <= 0 or self.market_max_age_s <= 0:
            raise ConfigError("BUS_MARKET_MAX_BYTES", "market limits must be > 0 (it is an in-memory stream)")


def bus_settings(env: Mapping[str, str] | None = None) -> BusSettings:
    """:class:`BusSettings` from the environment (ConfigError naming the variable when malformed)."""
    return load(BusSettings, env)


def account_stream(max_age_s: float = 7 * DAY_S, duplicate_window_s: float = 120.0, *,
                   max_bytes: int = 8 * GIB, replicas: int = 1) -> StreamConfig:
    """ACCOUNT: durable (file), deduplicating by ``Nats-Msg-Id``; the total order of account events.

    Bounded by size and age, oldest first: the state's checkpoints make a restart independent of
    evicted events (README "Configuration", ``BUS_ACCOUNT_*``)."""
    return StreamConfig(
        name=subjects.ACCOUNT_STREAM,
        subjects=[subjects.ACCOUNT_WILDCARD],
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        max_age=max_age_s,
        max_bytes=max_bytes,
        duplicate_window=duplicate_window_s,
        num_replicas=replicas,
        description="paradex-hub account events (orders, fills, positions, balances, commands, snapshots)",
    )


def market_stream(max_age_s: float = 60.0, max_bytes: int = 256 * 1024 * 1024, *,
                  replicas: int = 1) -> StreamConfig:
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
        num_replicas=replicas,
        description="paradex-hub market data (book, bbo, trades, summaries, funding, gaps)",
    )


def dlq_stream(max_age_s: float = 7 * DAY_S, *, replicas: int = 1) -> StreamConfig:
    """DLQ: undecodable bus messages kept for inspection."""
    return StreamConfig(
        name=subjects.DLQ_STREAM,
        subjects=[subjects.DLQ_WILDCARD],
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        max_age=max_age_s,
        max_msgs=100_000,
        duplicate_window=120.0,  # the server's default, said explicitly so a start never sees a difference
        num_replicas=replicas,
        description="paradex-hub dead letters",
    )


def all_streams(bus: BusSettings | None = None) -> list[StreamConfig]:
    """The three streams with ``bus`` (default: from the environment) applied."""
    b = bus if bus is not None else bus_settings()
    return [
        account_stream(b.account_max_age_s, max_bytes=b.account_max_bytes, replicas=b.stream_replicas),
        market_stream(b.market_max_age_s, b.market_max_bytes, replicas=b.stream_replicas),
        dlq_stream(replicas=b.stream_replicas),
    ]


def merged(current: StreamConfig, wanted: StreamConfig) -> StreamConfig | None:
    """``current`` with ``wanted``'s managed fields and replicas raised (never lowered), or None if
    nothing changes."""
    changes: dict[str, Any] = {}
    for name in MANAGED:
        value = getattr(wanted, name)
        if value is not None and getattr(current, name) != value:
            changes[name] = value
    have = current.num_replicas or 1
    if wanted.num_replicas is not None and wanted.num_replicas > have:
        changes["num_replicas"] = wanted.num_replicas
    if not changes:
        return None
    return dataclasses.replace(current, **changes)


async def ensure_streams(js: Any, configs: list[StreamConfig] | None = None) -> list[str]:
    """Create each stream, or merge ``configs``' managed fields into it when it exists (see module doc).

    Safe to call any number of times, from any number of services at once. Returns what was done
    per stream (``created:NAME``, ``updated:NAME``, ``unchanged:NAME``). A replica count the
    cluster cannot place raises ConfigError naming ``BUS_STREAM_REPLICAS``.
    """
    done: list[str] = []
    for cfg in configs if configs is not None else all_streams():
        assert cfg.name is not None
        try:
            try:
                info = await js.stream_info(cfg.name)
            except NotFoundError:
                try:
                    await js.add_stream(cfg)
                    done.append(f"created:{cfg.name}")
                    continue
                except APIError as exc:
                    if exc.err_code != 10058:  # "stream name already in use": another service won the race
                        raise
                    info = await js.stream_info(cfg.name)
            current = info.config
            if cfg.num_replicas is not None and (current.num_replicas or 1) > cfg.num_replicas:
                log.info("stream %s keeps its %d replicas (BUS_STREAM_REPLICAS=%d never lowers them)",
                         cfg.name, current.num_replicas, cfg.num_replicas)
            update = merged(current, cfg)
            if update is None:
                done.append(f"unchanged:{cfg.name}")
                continue
            await js.update_stream(update)
            done.append(f"updated:{cfg.name}")
        except APIError as exc:
            if exc.err_code == 10047:  # the server reserves max_bytes up front: more than its store holds
                raise ConfigError("BUS_ACCOUNT_MAX_BYTES", f"stream {cfg.name}: {exc.description} (asked for "
                                  f"{cfg.max_bytes} bytes; lower it or give JetStream more storage)") from exc
            if exc.err_code in (10005, 10023, 10074):  # insufficient resources / replicas > cluster size
                raise ConfigError("BUS_STREAM_REPLICAS", f"stream {cfg.name}: {exc.description} (wanted "
                                  f"{cfg.num_replicas} replicas; a single server holds only 1)") from exc
            raise
    return done
