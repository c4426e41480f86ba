"""Fault injection state and decisions (pure apart from the seeded RNG; time is passed in).

The control API edits a :class:`Faults`; the REST dispatcher and the WebSocket hub ask it what to
do with each request or push. :meth:`Faults.reset` clears every fault.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec


class LatencySpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A delay distribution in ms: uniform on [min_ms, max_ms] when ``max_ms`` > 0, else normal
    (``mean_ms``, ``stdev_ms``) clipped at 0."""

    mean_ms: float = 0.0
    stdev_ms: float = 0.0
    min_ms: float = 0.0
    max_ms: float = 0.0

    def sample_s(self, rng: random.Random) -> float:
        if self.max_ms > 0:
            return rng.uniform(self.min_ms, self.max_ms) / 1000
        if self.stdev_ms > 0:
            return max(0.0, rng.gauss(self.mean_ms, self.stdev_ms)) / 1000
        return max(0.0, self.mean_ms) / 1000


KINDS = ("status", "hang", "delay", "drop", "stall")
WS_ONLY_KINDS = ("drop", "stall")
TRANSPORTS = ("rest", "ws", "both")


class RestFault(msgspec.Struct, forbid_unknown_fields=True):
    """Answer the next ``count`` matching order requests with ``status`` (429, 5xx), hang, or
    answer late; on the WebSocket also drop the connection or stall it.

    ``kind``:

    * ``"status"``: answer ``status`` (the body's ``error`` is ``code``, default by status);
    * ``"hang"``: no answer for ``hang_ms`` (or until reset), then 503, as the venue does after
      its 30 s timeout;
    * ``"delay"``: the real answer, ``delay_ms`` late (with ``execute`` the venue acts at once and
      answers late; without, the request reaches the engine ``delay_ms`` late);
    * ``"drop"`` (WebSocket only): the connection is cut before the answer;
    * ``"stall"`` (WebSocket only): the connection stops being read (no answer, no pong: a
      stalled but open socket) for ``hang_ms`` or until reset, then the call answers as a hang.

    With ``execute`` the request is carried out before the error is returned (a lost response:
    the outcome is unknown to the client). ``transport`` is ``rest`` (the default), ``ws`` (the
    ``order.*`` JSON-RPC methods) or ``both`` (one count shared by both). A WebSocket call matches
    as its REST twin (:func:`ws_route`: ``order.create`` is ``POST /v1/orders``, ``order.cancel``
    ``DELETE /v1/orders/{id}``...); a ``path`` starting with ``order.`` matches the JSON-RPC method
    name instead (a prefix, like paths).
    """

    count: int = 1
    kind: str = "status"
    status: int = 503
    path: str = ""
    method: str = ""
    execute: bool = False
    hang_ms: int = 30_000
    delay_ms: int = 1000
    transport: str = "rest"
    code: str = ""

    def matches(self, method: str, path: str) -> bool:
        method_ok = not self.method or self.method.upper() == method
        return method_ok and (not self.path or path.startswith(self.path))

    def matches_ws(self, rpc_method: str, params: object) -> bool:
        """True when this fault applies to the JSON-RPC call ``rpc_method(params)``."""
        method, path = ws_route(rpc_method, params)
        if not path:
            return False
        if self.path.startswith("order."):
            return rpc_method.startswith(self.path) and (not self.method or self.method.upper() == method)
        return self.matches(method, path)


def ws_route(rpc_method: str, params: object) -> tuple[str, str]:
    """The REST twin (method, path) of an ``order.*`` JSON-RPC call, for fault matching."""
    p = params if isinstance(params, dict) else {}
    if rpc_method == "order.create":
        return "POST", "/v1/orders"
    if rpc_method == "order.create_batch":
        return "POST", "/v1/orders/batch"
    if rpc_method == "order.modify":
        return "PUT", f"/v1/orders/{p.get('id') or ''}"
    if rpc_method == "order.cancel":
        if p.get("id"):
            return "DELETE", f"/v1/orders/{p['id']}"
        return "DELETE", f"/v1/orders/by_client_id/{p.get('client_id') or ''}"
    if rpc_method == "order.cancel_batch":
        return "DELETE", "/v1/orders/batch"
    if rpc_method == "order.cancel_all":
        return "DELETE", "/v1/orders"
    return "", ""  # order.cancel_on_disconnect and the rest: never faulted


class Rate(msgspec.Struct, forbid_unknown_fields=True):
    """Apply a fault to each item with ``probability``, or to the next ``next`` items."""

    probability: float = 0.0
    next: int = 0

    def hit(self, rng: random.Random) -> bool:
        if self.next > 0:
            self.next -= 1
            return True
        return self.probability > 0 and rng.random() < self.probability


class PrivateFaults(msgspec.Struct, forbid_unknown_fields=True):
    """Faults on private pushes (orders, fills, positions, account, balance_events, tradebusts).

    ``channels`` limits them to pushes of those private channels: a family (``"fills"`` matches
    ``fills.ALL`` and ``fills.BTC-USD-PERP``) or an exact channel name; empty means every private
    push. Pushes outside the filter are delivered untouched and consume no ``next`` count.
    """

    drop: Rate = msgspec.field(default_factory=Rate)
    duplicate: Rate = msgspec.field(default_factory=Rate)
    reorder: Rate = msgspec.field(default_factory=Rate)
    delay: Rate = msgspec.field(default_factory=Rate)
    delay_ms: float = 500.0
    channels: list[str] = msgspec.field(default_factory=list)

    def applies(self, channel: str) -> bool:
        """True when the faults apply to a push on ``channel``."""
        if not self.channels:
            return True
        return channel in self.channels or channel.partition(".")[0] in self.channels


DROPPED_KEPT = 10_000
"""Dropped private pushes remembered for ``GET /control/ws/private/dropped`` (the newest)."""


class DroppedPush(msgspec.Struct, frozen=True, kw_only=True):
    """A private push the drop fault swallowed: when (simulator wall ms), on which channel, and
    the frame that was not sent (so a test can tell what the client never saw)."""

    at_ms: int
    channel: str
    frame: msgspec.Raw


@dataclass
class Faults:
    """Every injectable fault. The servers read it; the control API writes it."""

    rng: random.Random = field(default_factory=lambda: random.Random(0))
    rest_errors: list[RestFault] = field(default_factory=list)
    rest_latency: LatencySpec | None = None
    stale_ms: int = 0
    ws_latency: LatencySpec | None = None
    ws_frozen: bool = False
    private: PrivateFaults = field(default_factory=PrivateFaults)
    dropped: deque[DroppedPush] = field(default_factory=lambda: deque(maxlen=DROPPED_KEPT))
    #: market -> how many of its next delta frames to skip (a sequence gap for subscribers).
    book_gaps: dict[str, int] = field(default_factory=dict)
    generation: int = 0
    """Increases on every reset."""
    on_reset: list[Callable[[], None]] = field(default_factory=list)
    """Called after every reset (e.g. to release hanging requests)."""

    def reset(self) -> None:
        self.rest_errors.clear()
        self.rest_latency = None
        self.stale_ms = 0
        self.ws_latency = None
        self.ws_frozen = False
        self.private = PrivateFaults()
        self.dropped.clear()
        self.book_gaps.clear()
        self.generation += 1
        for callback in self.on_reset:
            callback()

    def take_rest_fault(self, method: str, path: str) -> RestFault | None:
        """The first armed REST fault matching the request (its count is consumed)."""
        for fault in self.rest_errors:
            if fault.count > 0 and fault.transport != "ws" and fault.matches(method, path):
                return self._consume(fault)
        return None

    def take_ws_fault(self, rpc_method: str, params: object) -> RestFault | None:
        """The first armed fault matching an ``order.*`` JSON-RPC call (its count is consumed)."""
        for fault in self.rest_errors:
            if fault.count > 0 and fault.transport != "rest" and fault.matches_ws(rpc_method, params):
                return self._consume(fault)
        return None

    def _consume(self, fault: RestFault) -> RestFault:
        fault.count -= 1
        if fault.count == 0:
            self.rest_errors.remove(fault)
        return fault

    def rest_delay_s(self) -> float:
        return self.rest_latency.sample_s(self.rng) if self.rest_latency is not None else 0.0

    def ws_delay_s(self) -> float:
        return self.ws_latency.sample_s(self.rng) if self.ws_latency is not None else 0.0

    def skip_book_delta(self, market: str) -> bool:
        """True when this delta frame of ``market`` must not reach subscribers (injected gap)."""
        left = self.book_gaps.get(market, 0)
        if left <= 0:
            return False
        if left == 1:
            del self.book_gaps[market]
        else:
            self.book_gaps[market] = left - 1
        return True
