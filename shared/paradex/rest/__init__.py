"""Async Paradex REST client (PROTOCOL.md 3): endpoints, retry/auth policy, pagination, rate limits.

* :mod:`.client` — :class:`ParadexRest`, one typed method per endpoint;
* :mod:`.session` — the I/O seam: JWT, safe retries, error translation, hooks, rate-limit headers;
* :mod:`.orders` — signed order/modify bodies from plain arguments (pure);
* :mod:`.pagination` — cursor iteration with a page guard (pure);
* :mod:`.errors` — venue responses and httpx exceptions → the hub's typed errors;
* :mod:`.ratelimit` — endpoint families and ``x-ratelimit-*`` parsing (pure).
"""

from shared.paradex.rest.client import ParadexRest
from shared.paradex.rest.errors import error_from_response, error_from_transport
from shared.paradex.rest.orders import build_modify, build_order
from shared.paradex.rest.pagination import PageLimitError, collect_all, iter_items, iter_pages
from shared.paradex.rest.ratelimit import RateLimit, endpoint_family, parse_rate_limit
from shared.paradex.rest.session import RequestTiming, RestSession, RestTimeouts

__all__ = [
    "PageLimitError",
    "ParadexRest",
    "RateLimit",
    "RequestTiming",
    "RestSession",
    "RestTimeouts",
    "build_modify",
    "build_order",
    "collect_all",
    "endpoint_family",
    "error_from_response",
    "error_from_transport",
    "iter_items",
    "iter_pages",
    "parse_rate_limit",
]
