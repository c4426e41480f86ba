"""Builds the commands service from settings and live clients; owns its background tasks.

:class:`CommandsService` is also what the HTTP edge calls (``api.Commands``): each command is one
method handing over to the piece that does it (the place pipeline, cancels, modifies, records).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError

from services.commands import audit
from services.commands.algo import Algos, PlaceAlgo
from services.commands.api import build_app
from services.commands.backlog import Backlog
from services.commands.budget import LocalBudget, SharedBudget
from services.commands.cancels import Cancels
from services.commands.core.exposure import ExposureBook
from services.commands.core.kill import KillState
from services.commands.core.messages import (
    Answer,
    CancelBatch,
    KillRequest,
    ModifyOrder,
    PlaceBatch,
    PlaceOrder,
)
from services.commands.core.place import Context
from services.commands.core.pnl import DailyPnl, check_loss
from services.commands.core.rules import Intent, Violation
from services.commands.core.strategies import Strategies, Strategy
from services.commands.exposure import ExposureFollower
from services.commands.follow import KillFollower, PnlFollower
from services.commands.index import IndexKeeper
from services.commands.kill import KillSwitches
from services.commands.metrics import Metrics
from services.commands.modify import Modifies
from services.commands.outbox import Outbox
from services.commands.ownership import Ownership
from services.commands.pipeline import PlacePipeline, Waits
from services.commands.records import Records
from services.commands.settings import Settings
from services.commands.signproc import SignerProcess
from services.commands.store import BudgetSpec, CommandStore, Rate
from services.commands.timing import TIMING
from services.commands.transport import VENUE_MS, RestTransport
from services.commands.venue import VenueView
from services.commands.watch import OrderWatch
from services.commands.ws import WsOrderClient, WsTransport, with_sbe
from shared import httpserve
from shared.bus import EventPublisher
from shared.bus.gate import RecordGate
from shared.errors import ConfigError
from shared.paradex.models.account import Order
from shared.paradex.rest import ParadexRest, RestTimeouts
from shared.paradex.retry import BackoffPolicy
from shared.paradex.validate import Scope
from shared.rediskeys import Keys

log = logging.getLogger("commands.service")


class CommandsService:
    """``await start()`` connects to the venue and serves HTTP; ``await stop()`` drains."""

    def __init__(
        self,
        settings: Settings,
        nc: Any,
        js: Any,
        redis: Any,
        *,
        http: bool = True,
        venue_transport: Any = None,
    ) -> None:
        self.settings = settings
        self.nc, self.js, self.redis = nc, js, redis
        self.http = http
        self.venue_transport = venue_transport  # an httpx transport under the REST client (tests)
        self.strategies = Strategies.parse(settings.strategies.reveal())
        admin = settings.admin_token.reveal()
        if admin and len(admin) < 16:
            raise ConfigError("COMMANDS_ADMIN_TOKEN", "shorter than 16 characters")
        if admin and self.strategies.authenticate(f"Bearer {admin}") is not None:
            raise ConfigError("COMMANDS_ADMIN_TOKEN", "equals a strategy's token")
        self.metrics = Metrics()
        self.added_s: list[float] = []  # kept for the bench (bounded)
        if settings.transport not in ("ws", "rest"):
            raise ConfigError("COMMANDS_TRANSPORT", f"must be ws or rest, got {settings.transport!r}")
        if settings.cancel_on_disconnect and settings.transport != "ws":
            raise ConfigError("COMMANDS_CANCEL_ON_DISCONNECT", "needs COMMANDS_TRANSPORT=ws")
        self.ws: WsOrderClient | None = None
        self.port = 0
        self.kill_state = KillState()
        self.pnl = DailyPnl()
        self.pnl_follower: PnlFollower | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._server: httpserve.HttpServer | None = None

    def _on_request(self, method: str, path: str, attempt: int) -> None:
        timing = TIMING.get()
        if timing is not None and method != "GET" and attempt == 0 and (added := timing.left()) is not None:
            self.metrics.added.observe(added)
            if len(self.added_s) < 1_000_000:
                self.added_s.append(added)

    async def start(self) -> None:
        s = self.settings
        timeouts = RestTimeouts(connect_s=s.venue_connect_timeout_s, read_s=s.venue_read_timeout_s)
        self.rest = await ParadexRest.connect(
            s,
            timeouts=timeouts,
            on_request=self._on_request,
            max_connections=64,
            transport=self.venue_transport,
        )
        keys = Keys(s.account_token)
        spec = BudgetSpec(Rate(s.rate_per_s, float(s.rate_burst)), Rate(s.rate_per_min / 60, s.rate_per_min))
        store = CommandStore(self.redis, keys, s.idempotency_ttl_s, spec, s.reservation_s)
        self.store = store
        self.index = IndexKeeper(
            self.js, self.redis, keys, s.account_token, ttl_s=s.idempotency_ttl_s, settle_s=s.index_settle_s
        )
        self.backlog = Backlog(store)
        self.venue = VenueView(self.rest, s.markets_refresh_s, s.system_refresh_s)
        await self.venue.load()
        self.exposure = ExposureBook()
        self.follower = ExposureFollower(
            self.redis,
            keys,
            self.exposure,
            store,
            list(self.venue.markets),
            self.venue.venue_prices,
            block_s=s.exposure_refresh_s,
            resync_s=s.exposure_resync_s,
        )
        await self._redis_at_start()
        self.watch = OrderWatch(self.nc, s.account_token)
        await self.watch.start()
        outbox = Outbox(EventPublisher(self.js, s.account_token, timeout_s=s.publish_timeout_s), self.nc)
        rest_transport = RestTransport(
            self.rest,
            Scope.of(account=s.paradex_account),
            on_invalid=lambda reason: self.metrics.invalid_answers.labels(reason).inc(),
            gate=RecordGate("commands", s.account_token, self.nc),  # dead letters (counted above)
        )
        transport: RestTransport | WsTransport = rest_transport
        if s.transport == "ws":
            transport = await self._start_ws(rest_transport)
        self.transport = transport
        share = max(1, s.replicas)
        budget = SharedBudget(store, LocalBudget(s.rate_per_s / share, max(1.0, s.rate_burst / share)))
        ownership = Ownership(store, self.exposure)
        self.signproc: SignerProcess | None = None
        if s.signer_process and self.rest.signer is not None:
            self.signproc = SignerProcess(self.rest.signer, s.paradex_l2_private_key.reveal())
            await self.signproc.start()
        self.pipeline = PlacePipeline(
            store=store,
            outbox=outbox,
            transport=transport,
            signer=self.rest,
            book=self.exposure,
            venue=self.venue,
            watch=self.watch,
            metrics=self.metrics,
            waits=Waits(s.ws_wait_default_s, s.ws_wait_max_s, s.pending_stale_s),
            index=self.index,
            backlog=self.backlog,
            context=self._context,
            remote=self.signproc,
        )
        self.follower.after_apply = self.pipeline.absorb
        self.cancels = Cancels(
            outbox=outbox,
            transport=transport,
            ownership=ownership,
            book=self.exposure,
            budget=budget,
            metrics=self.metrics,
            markets=lambda: self.venue.markets,
        )
        self.modifies = Modifies(
            outbox=outbox,
            transport=transport,
            signer=self.rest,
            ownership=ownership,
            book=self.exposure,
            venue=self.venue,
            budget=budget,
            metrics=self.metrics,
            killed=lambda st: self.kill_state.refusal(st.name),
        )
        self.kills = KillSwitches(
            state=self.kill_state,
            outbox=outbox,
            cancels=self.cancels,
            book=self.exposure,
            strategies=self.strategies,
            sending=self.pipeline.tasks,
        )
        self.records = Records(store, self.metrics)
        self.algos = Algos(
            rest=self.rest,
            outbox=outbox,
            redis=self.redis,
            owner_prefix=keys.cmd,
            book=self.exposure,
            context=self._context,
            budget=budget,
            store=store,
        )
        self.watch.on_truth = self._resolve
        await self._follow_stream(store)
        self.app = build_app(self, self.strategies, max_body_bytes=s.max_body_bytes, admin=self._is_admin)
        self._tasks = [
            asyncio.ensure_future(self.venue.run()),
            asyncio.ensure_future(self.follower.run()),
            asyncio.ensure_future(self.backlog.run()),
        ]
        if self.http:
            await self._serve()

    # ------------------------------------------------------------------ commands (api.Commands)

    async def place(self, s: Strategy, req: PlaceOrder) -> Answer:
        return await self.pipeline.place_one(s, req)

    async def place_batch(self, s: Strategy, req: PlaceBatch) -> Answer:
        return await self.pipeline.place_batch(s, req.orders, req.wait)

    async def record(self, s: Strategy, client_id: str) -> Answer:
        return await self.records.get(s, client_id)

    async def _audited(self, base: dict[str, Any], run: Awaitable[Answer]) -> Answer:
        VENUE_MS.set(None)
        try:
            answer = await run
        except Exception as exc:
            audit.failed(base, exc)
            raise
        audit.outcome(base, answer, VENUE_MS.get())
        return answer

    async def cancel(self, s: Strategy, order_id: str) -> Answer:
        base = audit.command("cancel", s.name, order_id=order_id[:64])
        return await self._audited(base, self.cancels.cancel(s, order_id))

    async def cancel_by_client_id(self, s: Strategy, client_id: str, market: str | None) -> Answer:
        base = audit.command("cancel_by_client_id", s.name, client_id=client_id[:64], market=market)
        return await self._audited(base, self.cancels.cancel_by_client_id(s, client_id, market))

    async def cancel_batch(self, s: Strategy, req: CancelBatch) -> Answer:
        base = audit.command(
            "cancel_batch", s.name, order_ids=len(req.order_ids), client_ids=len(req.client_ids)
        )
        return await self._audited(base, self.cancels.cancel_batch(s, req))

    async def cancel_all(self, s: Strategy, market: str | None) -> Answer:
        base = audit.command("cancel_all", s.name, market=market)
        return await self._audited(base, self.cancels.cancel_all(s, market))

    async def modify(self, s: Strategy, order_id: str, req: ModifyOrder) -> Answer:
        base = audit.command(
            "modify",
            s.name,
            order_id=order_id[:64],
            market=req.market,
            side=req.side,
            type=req.type,
            size=req.size,
            price=req.price,
        )
        return await self._audited(base, self.modifies.modify(s, order_id, req))

    async def kill(self, s: Strategy | None, req: KillRequest) -> Answer:
        base = audit.command("kill", s.name if s else "admin", target=req.strategy, reason=req.reason[:200])
        answer = await self._audited(base, self.kills.kill(s, req))
        if answer.status < 400 or answer.status >= 500:  # not refused: this replica is killed
            await self.algos.cancel_open(req.strategy if s is None else s.name)
        return answer

    async def resume(self, s: Strategy | None, req: KillRequest) -> Answer:
        base = audit.command("resume", s.name if s else "admin", target=req.strategy, reason=req.reason[:200])
        return await self._audited(base, self.kills.resume(s, req))

    async def place_algo(self, s: Strategy, req: PlaceAlgo) -> Answer:
        return await self.algos.place(s, req)

    async def cancel_algo(self, s: Strategy, algo_id: str) -> Answer:
        return await self.algos.cancel(s, algo_id)

    async def list_algos(self, s: Strategy, market: str | None) -> Answer:
        return await self.algos.list(s, market)

    async def _start_ws(self, rest_transport: RestTransport) -> WsTransport:
        """The order WebSocket, connecting in the background (REST until it is ready: a venue
        whose WebSocket is down does not keep the service from starting)."""
        s = self.settings
        self.ws = WsOrderClient(
            with_sbe(s.paradex_ws_url, s.ws_sbe_schema_version),
            self.rest.jwt,
            cancel_on_disconnect=s.cancel_on_disconnect,
            reply_timeout_s=s.venue_read_timeout_s,
            connect_timeout_s=s.venue_connect_timeout_s,
            backoff=BackoffPolicy(
                initial_s=s.ws_backoff_initial_s, max_s=max(s.ws_backoff_initial_s, s.ws_backoff_max_s)
            ),
            on_send=self._on_request,
            ping_interval_s=s.ws_ping_interval_s,
            ping_timeout_s=s.ws_ping_timeout_s,
        )
        self._ws_task = asyncio.ensure_future(self.ws.run())
        if not await self.ws.wait_ready(s.venue_connect_timeout_s):
            log.warning("order websocket not ready at start-up (%s): REST until it is", self.ws.last_error)
        return WsTransport(
            self.ws, rest_transport, on_fallback=lambda op: self.metrics.ws_fallback.labels(op).inc()
        )

    async def _redis_at_start(self) -> None:
        """Read the exposure and check the idempotency index; when Redis does not answer, start
        anyway (unhealthy, places 503) and let the follower and the index keeper retry."""
        try:
            await self.follower.snapshot()
            await self.index.ensure()
        except (RedisError, OSError) as exc:
            log.error(
                "Redis at %s unreachable at start-up (%r): serving 503 until it answers (REDIS_URL)",
                self.settings.redis_url,
                exc,
            )
            self.index.missing()

    def _is_admin(self, authorization: str | None) -> bool:
        token = self.settings.admin_token.reveal()
        if not token or not authorization or not authorization.startswith("Bearer "):
            return False
        return hmac.compare_digest(authorization[7:].strip().encode(), token.encode())

    def _context(self, strategy: Strategy) -> Context:
        """What the static rules read for ``strategy``: venue specs and state, prices, the kill
        switch, and its max_loss."""
        prices = self.exposure.exposure.prices
        rules: tuple[Callable[[Intent], Violation | None], ...] = ()
        if strategy.max_loss is not None:
            rules = (lambda intent: check_loss(strategy, intent, self.pnl, prices),)
        return Context(
            markets=self.venue.markets,
            system_status=self.venue.system_status,
            prices=prices,
            now_ms=int(time.time() * 1000),
            killed=self.kill_state.refusal(strategy.name),
            extra_rules=rules,
        )

    async def _follow_stream(self, store: CommandStore) -> None:
        """The kill switch (and the day's fills when a strategy has a max_loss) from the stream,
        caught up before serving."""
        account = self.settings.account_token
        self.kill_follower = KillFollower(self.js, account, self.kill_state)
        await self.kill_follower.start()
        if any(st.max_loss is not None for st in self.strategies.by_name.values()):
            self.pnl_follower = PnlFollower(self.js, account, self.pnl, self.exposure, store)
            await self.pnl_follower.start()

    async def _resolve(self, strategy: str, order: Order) -> None:
        await self.records.resolve(strategy, order)

    def health(self) -> tuple[bool, dict[str, Any]]:
        age = time.time() - self.follower.updated_at
        fresh = self.follower.healthy and age < 10 * max(1.0, self.settings.exposure_refresh_s)
        ok = bool(self.venue.markets) and self.nc.is_connected and fresh and self.index.ready
        return ok, {
            "markets": len(self.venue.markets),
            "system_status": self.venue.system_status,
            "exposure_age_s": round(age, 3),
            "redis_connected": self.follower.healthy,
            "nats_connected": self.nc.is_connected,
            "idempotency_index": "ready" if self.index.ready else "rebuilding",
            "kill_switch": self.kill_state.view(),
            "unstored_outcomes": len(self.backlog),
            "strategies": len(self.strategies),
            "order_transport": self.settings.transport,
            "order_ws": self._ws_health(),
            "signer_process": self.signproc.view() if self.signproc is not None else None,
        }

    def _ws_health(self) -> dict[str, Any] | None:
        if self.ws is None:
            return None
        return {
            "ready": self.ws.ready,
            "sessions": self.ws.sessions,
            "cancel_on_disconnect": "armed" if self.ws.cod_armed else "off",
            "last_error": self.ws.last_error,
            "suspects": self.ws.suspects,
            "stalls": self.ws.stalls,
        }

    # ------------------------------------------------------------------ lifecycle

    async def _serve(self) -> None:
        # The shared helper: TCP_NODELAY on accepted connections, no signal handling of its own.
        self._server = httpserve.HttpServer(
            self.app, self.settings.http_host, self.settings.http_port, name="commands", graceful_s=5
        )
        await self._server.start()
        self.port = self._server.port

    async def stop(self) -> None:
        """Stop serving, stop the refresh loops (cancelled again until they end: a cancellation
        landing inside a redis-py command can be swallowed), wait for in-flight sends."""
        for part in ("venue", "follower", "backlog"):
            if hasattr(self, part):
                getattr(self, part).stopped = True
        if self._server is not None:
            await self._server.stop()  # in-flight requests finish (bounded), then the listener closes
        loops = set(self._tasks)
        for _ in range(50):
            if not loops:
                break
            for t in loops:
                t.cancel()
            _, loops = await asyncio.wait(loops, timeout=0.1)
        for t in self._tasks:
            if t.done() and not t.cancelled() and t.exception() is not None:
                log.error("task %s ended with an error", t.get_name(), exc_info=t.exception())
        if hasattr(self, "pipeline"):
            await self.pipeline.tasks.wait(5)
            await self.pipeline.close()
            await self.pipeline.store.close()
        signproc: SignerProcess | None = getattr(self, "signproc", None)
        if signproc is not None:
            await signproc.stop()
        if self.ws is not None:
            await self.ws.stop()
            self._ws_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._ws_task
        if hasattr(self, "backlog") and len(self.backlog):
            try:
                await self.backlog.flush()
            except Exception as exc:
                log.error(
                    "%d unstored outcomes lost at shutdown (the stream keeps them): %r",
                    len(self.backlog),
                    exc,
                )
        for follower in ("kill_follower", "pnl_follower"):
            if getattr(self, follower, None) is not None:
                await getattr(self, follower).stop()
        if hasattr(self, "watch"):
            await self.watch.stop()
        if hasattr(self, "rest"):
            await self.rest.aclose()
