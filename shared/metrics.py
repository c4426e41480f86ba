"""One Prometheus registry per service instance, with the process and Python metrics included.

Each service keeps its own :class:`~prometheus_client.CollectorRegistry` (tests run several
services in one process, and the default global registry would mix them). prometheus_client
registers its process (``process_cpu_seconds_total``, ``process_resident_memory_bytes``,
``process_open_fds``...), platform (``python_info``) and garbage-collector
(``python_gc_collections_total``...) collectors only on the global registry, so every service's
registry gets its own copies here.

Naming conventions for every metric (https://prometheus.io/docs/practices/naming/): the service
name first (``state_``, ``feed_``, ``commands_``, ``reconciler_``), base units (``_seconds``,
``_bytes``), counters end in ``_total`` (prometheus_client adds it to a ``Counter``'s name),
label values escaped by the library (never hand-written exposition text). The ``*_created``
series prometheus_client adds to every counter (a gauge per counter, doubling the exposition for
no query anyone runs here) are turned off.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

disable_created_metrics()  # type: ignore[no-untyped-call]


def service_registry() -> CollectorRegistry:
    """A new registry holding the process, platform and GC collectors."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry
