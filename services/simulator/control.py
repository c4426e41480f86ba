"""Control API on its own port under ``/control`` (never on the venue's paths).

Faults (all cleared by ``POST /control/reset``):

=====================================  ===========================================================
``PUT/DELETE /control/rest/latency``   REST response delay distribution (LatencySpec)
``PUT /control/rest/stale``            ``{"ms": N}``: private GETs replayed from a snapshot ≤ N ms old
``POST/DELETE /control/rest/errors``   next N requests answer 4xx/5xx, hang or answer late
                                       (RestFault); ``"transport": "ws"`` or ``"both"`` applies it
                                       to the ``order.*`` WebSocket methods (there also ``drop`` /
                                       ``stall`` the connection)
``PUT/DELETE /control/ws/latency``     WebSocket push delay distribution (order kept)
``PUT /control/ws/private``            drop / duplicate / reorder / delay private pushes
                                       (PrivateFaults; ``"channels"`` limits them to those)
``GET /control/ws/private/dropped``    the private pushes dropped so far (newest 10 000):
                                       ``{"dropped": [{"at_ms", "channel", "frame"}]}``
``PUT /control/ws/freeze``             ``{"frozen": true}``: no pushes while REST goes on
``POST /control/ws/book_gap``          ``{"market", "count"}``: skip delta frames (a seq gap)
``POST /control/ws/drop``              drop every WebSocket connection, or ``{"conn_id": N}``
=====================================  ===========================================================

Venue state: ``GET /control/healthz`` (also ``GET /healthz``), ``GET /control/truth`` (the engine's
account state),
``GET /control/ws/connections``, ``POST /control/bust`` ``{"fill_id"}``, ``PUT /control/balance``
``{"amount", "account"?}``, ``PUT /control/system_state`` ``{"status"}``, ``PUT
/control/synthetic`` ``{"rate"}``, ``POST /control/synthetic/step`` ``{"steps"}``, ``POST
/control/process`` (run queued commands now), ``PUT /control/rate_limits`` ``{"scope", "limits"}``,
``PUT /control/order_flow`` ``{"rate", "market"?, "account"?, "resting"?}`` and ``POST
/control/order_flow/step`` ``{"orders"}`` (a flow of resting orders placed and cancelled, for
latency benchmarks: :mod:`..flow`).

Private-push faults, e.g. ``{"drop": {"next": 1}, "channels": ["fills"]}`` drops the next fill
push only; each of ``drop`` / ``duplicate`` / ``reorder`` / ``delay`` is a Rate
(``{"probability"}`` or ``{"next"}``), ``delay_ms`` the delay. ``channels`` holds private channel
families (``orders``, ``fills``, ``positions``, ``account``, ``balance_events``, ``tradebusts``)
or exact channel names (``fills.BTC-USD-PERP``); empty or absent means every private push. A
reordered push is released after the next private push delivered, whatever its channel.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.errors import VenueError
from shared.paradex.models.common import encode

from .driver import Drivers
from .engine import FillEvent, convert
from .faults import KINDS, TRANSPORTS, WS_ONLY_KINDS, Faults, LatencySpec, PrivateFaults, RestFault
from .flow import FlowSpec, FlowStep
from .ratelimit import Limit, RateLimiter
from .venue import Venue, normalize_account
from .wire import account_body
from .ws.channels import PRIVATE_FAMILIES
from .ws.hub import Hub

T = TypeVar("T")
PREFIX = "/control"


class _Stale(msgspec.Struct, forbid_unknown_fields=True):
    ms: int


class _Freeze(msgspec.Struct, forbid_unknown_fields=True):
    frozen: bool = True


class _BookGap(msgspec.Struct, forbid_unknown_fields=True):
    market: str
    count: int = 1


class _Drop(msgspec.Struct, forbid_unknown_fields=True):
    conn_id: int | None = None
    abrupt: bool = True


class _Bust(msgspec.Struct, forbid_unknown_fields=True):
    fill_id: str


class _Balance(msgspec.Struct, forbid_unknown_fields=True):
    amount: str
    account: str = ""


class _SystemState(msgspec.Struct, forbid_unknown_fields=True):
    status: str


class _Synthetic(msgspec.Struct, forbid_unknown_fields=True):
    rate: float


class _Steps(msgspec.Struct, forbid_unknown_fields=True):
    steps: int = 1


class _MarkPrice(msgspec.Struct, forbid_unknown_fields=True):
    market: str
    price: str | None = None


class _Advance(msgspec.Struct, forbid_unknown_fields=True):
    ms: int


class _Market(msgspec.Struct, forbid_unknown_fields=True):
    market: str | None = None


class _Account(msgspec.Struct, forbid_unknown_fields=True):
    account: str = ""


class _LimitSpec(msgspec.Struct, forbid_unknown_fields=True):
    capacity: int
    window_s: float


class _RateLimits(msgspec.Struct, forbid_unknown_fields=True):
    scope: str
    limits: list[_LimitSpec]


def _json(obj: Any, status: int = 200) -> Response:
    return Response(encode(obj), status_code=status, media_type="application/json")


async def _body(request: Request, type_: type[T]) -> T:
    raw = await request.body()
    try:
        return msgspec.json.decode(raw or b"{}", type=type_)
    except msgspec.MsgspecError as exc:
        raise VenueError(400, "VALIDATION_ERROR", str(exc)) from exc


class ControlApp:
    """ASGI app of the control API."""

    def __init__(
        self, venue: Venue, faults: Faults, hub: Hub, drivers: Drivers, limiter: RateLimiter
    ) -> None:
        self.venue, self.faults, self.hub, self.drivers, self.limiter = venue, faults, hub, drivers, limiter
        routes = [
            ("GET", "/healthz", self.healthz), ("POST", "/reset", self.reset), ("GET", "/truth", self.truth),
            ("PUT", "/rest/latency", self.rest_latency), ("DELETE", "/rest/latency", self.rest_latency),
            ("PUT", "/rest/stale", self.rest_stale),
            ("POST", "/rest/errors", self.rest_errors), ("DELETE", "/rest/errors", self.rest_errors),
            ("PUT", "/ws/latency", self.ws_latency), ("DELETE", "/ws/latency", self.ws_latency),
            ("PUT", "/ws/private", self.ws_private), ("PUT", "/ws/freeze", self.ws_freeze),
            ("POST", "/ws/book_gap", self.ws_book_gap), ("POST", "/ws/drop", self.ws_drop),
            ("GET", "/ws/connections", self.ws_connections),
            ("GET", "/ws/private/dropped", self.ws_private_dropped),
            ("POST", "/bust", self.bust), ("PUT", "/balance", self.balance),
            ("PUT", "/system_state", self.system_state), ("PUT", "/synthetic", self.synthetic),
            ("POST", "/synthetic/step", self.synthetic_step), ("POST", "/process", self.process),
            ("PUT", "/rate_limits", self.rate_limits),
            ("PUT", "/order_flow", self.order_flow), ("POST", "/order_flow/step", self.order_flow_step),
            *self.venue_routes(),
        ]
        table = [Route(PREFIX + p, self._wrap(h), methods=[m]) for m, p, h in routes]
        # Bare /healthz too: what the launcher and docker-compose health checks poll.
        table.append(Route("/healthz", self._wrap(self.healthz), methods=["GET"]))
        self.app = Starlette(routes=table)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    @staticmethod
    def _wrap(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except VenueError as exc:
                return _json({"error": exc.code, "message": exc.venue_message, "data": None}, exc.status)

        return endpoint

    # ------------------------------------------------------------ general

    async def healthz(self, request: Request) -> Response:
        return _json({"status": "ok", "ws_connections": len(self.hub.conns),
                      "synthetic_rate": self.drivers.synthetic_rate, "synthetic_steps": self.drivers.steps,
                      "system_status": self.venue.system_status, "ws_pushes": self.hub.pushes,
                      "ws_sbe_pushes": self.hub.sbe_pushes,
                      "sbe_encode_errors": self.hub.sbe_encode_errors, "push_errors": self.hub.push_errors})

    async def reset(self, request: Request) -> Response:
        """Clear every fault and put the system state back to ``ok``."""
        self.faults.reset()
        self.venue.set_system_status("ok")
        return _json({"status": "ok"})

    async def truth(self, request: Request) -> Response:
        """The engine's view of an account (default: the simulator's account)."""
        account = normalize_account(request.query_params.get("account") or self.venue.account)
        ex = self.venue.exchange
        fills = ex.list_fills(account, include_busted=True)
        return _json({
            "account": account_body(convert.account(ex.account_summary(account))),
            "orders": [convert.order(o) for o in ex.orders_history(account)],
            "open_orders": [convert.order(o) for o in ex.open_orders(account)],
            "fills": [convert.fill(f) for f in fills],
            "busted_fill_ids": [f.id for f in fills if ex.is_busted(f.id)],
            "positions": [convert.position(p) for p in ex.positions(account)],
            "balances": [convert.balance(b) for b in ex.balances(account)],
            "system_status": self.venue.system_status,
        })

    # ------------------------------------------------------------ REST faults

    async def rest_latency(self, request: Request) -> Response:
        self.faults.rest_latency = None if request.method == "DELETE" else await _body(request, LatencySpec)
        return _json({"rest_latency": self.faults.rest_latency})

    async def rest_stale(self, request: Request) -> Response:
        self.faults.stale_ms = max(0, (await _body(request, _Stale)).ms)
        return _json({"stale_ms": self.faults.stale_ms})

    async def rest_errors(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.faults.rest_errors.clear()
        else:
            fault = await _body(request, RestFault)
            if fault.kind not in KINDS or (fault.kind == "status" and not 400 <= fault.status <= 599):
                raise VenueError(400, "VALIDATION_ERROR",
                                 f"kind is one of {', '.join(KINDS)} (status: with a status 400-599)")
            if fault.transport not in TRANSPORTS:
                raise VenueError(400, "VALIDATION_ERROR", f"transport is one of {', '.join(TRANSPORTS)}")
            if fault.kind in WS_ONLY_KINDS and fault.transport != "ws":
                raise VenueError(400, "VALIDATION_ERROR",
                                 f"kind {fault.kind} is a WebSocket fault: transport ws")
            if fault.hang_ms < 0 or fault.delay_ms < 0:
                raise VenueError(400, "VALIDATION_ERROR", "hang_ms and delay_ms must be >= 0")
            self.faults.rest_errors.append(fault)
        return _json({"rest_errors": self.faults.rest_errors})

    # ------------------------------------------------------------ WS faults

    async def ws_latency(self, request: Request) -> Response:
        self.faults.ws_latency = None if request.method == "DELETE" else await _body(request, LatencySpec)
        return _json({"ws_latency": self.faults.ws_latency})

    async def ws_private(self, request: Request) -> Response:
        spec = await _body(request, PrivateFaults)
        unknown = [c for c in spec.channels if c.partition(".")[0] not in PRIVATE_FAMILIES]
        if unknown:
            families = ", ".join(sorted(PRIVATE_FAMILIES))
            raise VenueError(400, "VALIDATION_ERROR", f"channels must be private ({families}): {unknown}")
        self.faults.private = spec
        return _json({"private": self.faults.private})

    async def ws_private_dropped(self, request: Request) -> Response:
        return _json({"dropped": list(self.faults.dropped)})

    async def ws_freeze(self, request: Request) -> Response:
        self.faults.ws_frozen = (await _body(request, _Freeze)).frozen
        return _json({"frozen": self.faults.ws_frozen})

    async def ws_book_gap(self, request: Request) -> Response:
        gap = await _body(request, _BookGap)
        self.venue.exchange.market(gap.market)
        self.faults.book_gaps[gap.market] = self.faults.book_gaps.get(gap.market, 0) + max(1, gap.count)
        return _json({"book_gaps": self.faults.book_gaps})

    async def ws_drop(self, request: Request) -> Response:
        spec = await _body(request, _Drop)
        conns = [c for c in self.hub.conns.values() if spec.conn_id in (None, c.id)]
        if spec.conn_id is not None and not conns:
            raise VenueError(404, "NOT_FOUND", f"no connection {spec.conn_id}")
        for conn in conns:
            if spec.abrupt:
                conn.abort()
            else:
                conn.drop("dropped by control API")
        return _json({"dropped": [c.id for c in conns]})

    async def ws_connections(self, request: Request) -> Response:
        return _json({"connections": [
            {"conn_id": c.id, "account": c.account, "subscriptions": sorted(c.subscriptions),
             "queued": c.queued, "pushed": c.pushed, "sbe_version": c.sbe_version,
             "sbe_dropped": c.sbe_dropped}
            for c in self.hub.conns.values()
        ]})

    # ------------------------------------------------------------ venue state

    async def bust(self, request: Request) -> Response:
        fill_id = (await _body(request, _Bust)).fill_id
        self.venue.publish(self.venue.exchange.bust_fill(fill_id, self.venue.now_ms()))
        return _json({"busted_fill_id": fill_id})

    async def balance(self, request: Request) -> Response:
        spec = await _body(request, _Balance)
        account = normalize_account(spec.account or self.venue.account)
        self.venue.publish(self.venue.exchange.set_balance(account, spec.amount, self.venue.now_ms()))
        return _json({"account": account, "amount": spec.amount})

    async def system_state(self, request: Request) -> Response:
        self.venue.set_system_status((await _body(request, _SystemState)).status)
        return _json({"status": self.venue.system_status})

    async def synthetic(self, request: Request) -> Response:
        self.drivers.synthetic_rate = max(0.0, (await _body(request, _Synthetic)).rate)
        return _json({"rate": self.drivers.synthetic_rate})

    async def synthetic_step(self, request: Request) -> Response:
        steps = (await _body(request, _Steps)).steps
        self.venue.step_synthetic(max(0, steps))
        return _json({"steps": steps})

    async def process(self, request: Request) -> Response:
        self.venue.process_now()
        return _json({"status": "ok"})

    async def order_flow(self, request: Request) -> Response:
        flow = self.drivers.flow
        flow.configure(await _body(request, FlowSpec))
        return _json(flow.status())

    async def order_flow_step(self, request: Request) -> Response:
        flow = self.drivers.flow
        flow.step(max(0, min((await _body(request, FlowStep)).orders, 10_000)))
        return _json(flow.status())

    async def rate_limits(self, request: Request) -> Response:
        spec = await _body(request, _RateLimits)
        if spec.scope not in self.limiter.limits:
            raise VenueError(400, "VALIDATION_ERROR", f"scope must be one of {sorted(self.limiter.limits)}")
        self.limiter.set_limits(spec.scope, tuple(Limit(lim.capacity, lim.window_s) for lim in spec.limits))
        return _json({"scope": spec.scope, "limits": spec.limits})

    # ------------------------------------------------------------ venue behaviour (sim-venue)

    def venue_routes(self) -> list[tuple[str, str, Callable[[Request], Awaitable[Response]]]]:
        return [
            ("PUT", "/mark_price", self.mark_price), ("POST", "/time/advance", self.advance_time),
            ("POST", "/schedule/run", self.run_schedule), ("POST", "/funding/pay", self.pay_funding),
            ("POST", "/liquidations/check", self.health_check), ("POST", "/liquidate", self.liquidate),
        ]

    async def mark_price(self, request: Request) -> Response:
        """Pin the mark price of a market (``price`` null: back to the book's mid)."""
        spec = await _body(request, _MarkPrice)
        venue = self.venue
        venue.publish(venue.exchange.set_mark_price(spec.market, spec.price, venue.now_ms()))
        return _json({"market": spec.market, "mark_price": str(venue.exchange.mark_price(spec.market))})

    async def advance_time(self, request: Request) -> Response:
        """Skip the venue schedule ``ms`` (>= 0) ahead and run what became due (timestamps keep
        the wall clock)."""
        spec = await _body(request, _Advance)
        if spec.ms < 0:
            raise VenueError(400, "VALIDATION_ERROR", "ms must be >= 0 (time never goes back)")
        self.venue.skip_time(spec.ms)
        return _json({"now_ms": self.venue.now_ms(), "skipped_ms": self.venue.skipped_ms})

    async def run_schedule(self, request: Request) -> Response:
        self.venue.run_schedule()
        return _json({"now_ms": self.venue.now_ms()})

    async def pay_funding(self, request: Request) -> Response:
        """Every open position (of one market, or all) pays its accrued funding now."""
        spec = await _body(request, _Market)
        venue = self.venue
        events = venue.exchange.pay_funding(venue.now_ms(), spec.market)
        venue.publish(events)
        paid = sum(1 for e in events if e.kind == "funding_payment")
        return _json({"payments": paid})

    async def health_check(self, request: Request) -> Response:
        """The venue's health check now: accounts below maintenance margin are liquidated."""
        venue = self.venue
        events = venue.exchange.health_check(venue.now_ms())
        venue.publish(events)
        liquidated = sorted({e.fill.account for e in events if isinstance(e, FillEvent)})
        return _json({"liquidated": liquidated})

    async def liquidate(self, request: Request) -> Response:
        """Liquidate one account now, whatever its margin."""
        spec = await _body(request, _Account)
        venue = self.venue
        account = normalize_account(spec.account or venue.account)
        venue.publish(venue.exchange.liquidate(account, venue.now_ms()))
        return _json({"liquidated": [account]})
