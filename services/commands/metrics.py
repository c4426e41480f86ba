"""Prometheus metrics of the commands service (one registry per service instance)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from shared.metrics import service_registry

VENUE_CODES = frozenset(
    {
        "VALIDATION_ERROR",
        "BINDING_ERROR",
        "INVALID_REQUEST_PARAMETER",
        "ORDER_ID_NOT_FOUND",
        "ORDER_IS_CLOSED",
        "ORDER_IS_NOT_OPEN",
        "INVALID_ORDER_SIZE",
        "CLIENT_ORDER_ID_NOT_FOUND",
        "DUPLICATED_CLIENT_ID",
        "INVALID_SYMBOL",
        "MARKET_NOT_FOUND",
        "MARKET_NOT_OPEN",
        "INVALID_ORDER_SIGNATURE",
        "BATCH_SIZE_OUT_OF_RANGE",
        "SYSTEM_STATUS_POST_ONLY",
        "SYSTEM_STATUS_CANCEL_ONLY",
        "NO_ACCESS_TO_MARKET",
        "INVALID_PRICE_PRECISION",
        "INSUFFICIENT_MARGIN",
        "INVALID_TOKEN",
        "UNAUTHORIZED_ERROR",
        "TOO_MANY_REQUESTS",
        "INTERNAL_ERROR",
        "SERVICE_UNAVAILABLE",
        "NOT_FOUND",
    }
)
"""The venue's error codes (PROTOCOL 5.1) kept as metric labels; any other is counted as OTHER."""


def venue_code(code: str) -> str:
    """A label for a venue code: itself when known, else ``OTHER`` (labels stay a fixed set)."""
    return code if code in VENUE_CODES else "OTHER"


class Metrics:
    """Counters of outcomes and the added-latency histogram."""

    def __init__(self) -> None:
        r = self.registry = service_registry()
        self.requests = Counter(
            "commands_requests",
            "HTTP command requests by endpoint and answer status",
            ["endpoint", "status"],
            registry=r,
        )
        self.accepted = Counter("commands_orders_accepted", "orders the venue accepted", registry=r)
        self.rejected = Counter("commands_orders_rejected", "venue rejections", ["code"], registry=r)
        self.refused = Counter(
            "commands_refused", "requests refused by our rules/limits", ["error"], registry=r
        )
        self.unknown = Counter("commands_unknown", "commands without a venue answer", registry=r)
        self.not_sent = Counter(
            "commands_not_sent", "order writes that failed before reaching the venue", registry=r
        )
        self.resolved = Counter(
            "commands_unknown_resolved", "unknown outcomes corrected from the venue's record", registry=r
        )
        self.redis_errors = Counter(
            "commands_redis_unavailable", "requests answered 503 because Redis did not answer", registry=r
        )
        self.index_missing = Counter(
            "commands_index_missing", "places refused while the idempotency index was rebuilt", registry=r
        )
        self.invalid_answers = Counter(
            "commands_venue_answer_invalid",
            "venue answers refused at the edge (treated as unknown)",
            ["reason"],
            registry=r,
        )
        self.duplicates = Counter("commands_duplicates", "requests answered from idempotency", registry=r)
        self.rate_limited = Counter("commands_rate_limited", "429s from the client-side bucket", registry=r)
        self.ws_fallback = Counter(
            "commands_ws_fallback",
            "order writes sent by REST because the order websocket was down",
            ["op"],
            registry=r,
        )
        self.added = Histogram(
            "commands_added_seconds",
            "request arrival to venue request leaving",
            buckets=(0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05),
            registry=r,
        )
