"""Order signature checks in a child process (``python -m services.simulator.verifyproc``).

Checking an order's signature (its typed-data hash and the ECDSA verification, ~0.6 ms of CPU)
was about 60 % of the simulator's CPU per REST order, all of it under the GIL on one core while
the machine's other core idled. With :class:`Verifier` (``SIM_VERIFY_PROCESS``, on by default),
the REST routes that create orders (``POST /orders``, ``POST /orders/batch``) hand every order's
check to the child before their handler runs, and the handler's :func:`..commands.verify_order`
takes the child's verdict instead of computing it (:data:`VERDICTS`, per request). The verdict is
exactly what the inline check decides: the same functions (:func:`~shared.paradex.signer.
order_hash`, :func:`~shared.paradex.signer.verify_signature`) run in the child, and a child that
is down, slow or refusing only means the check is done inline (:mod:`shared.linechild`).

The WebSocket ``order.create`` and ``order.create_batch`` calls take the child's verdicts the same
way (:meth:`..ws.orders.OrderMethods.verdicts`). The order of effects is unchanged: the handler
still checks the market, the system state and the receive window first and places the order only
after its verdict. Modify orders and algo orders check inline.

A verdict is ``""`` (valid) or the ``INVALID_ORDER_SIGNATURE`` message the inline check raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from contextvars import ContextVar
from decimal import Decimal
from typing import Any

from shared.errors import SigningError
from shared.linechild import LineChild, serve
from shared.paradex.models.requests import OrderRequest
from shared.paradex.signer import order_hash, verify_signature

log = logging.getLogger("simulator.verify")

BAD_SIGNATURE = "order signature verification failed"

Key = tuple[str, str, str, str, str, str, int, str]
"""An order's signed fields as checked: account, market, side, type, size, price, timestamp, signature."""

VERDICTS: ContextVar[dict[Key, str] | None] = ContextVar("verdicts", default=None)
"""The verdicts of the current request's orders, made before its handler ran (absent: inline)."""


def key(account: str, req: OrderRequest) -> Key:
    return (account, req.market, req.side, req.type, str(req.size),
            "" if req.price is None else str(req.price), req.signature_timestamp, req.signature)


def verdict(chain_id: str, account: str, public_key: int | None, market: str, side: str, order_type: str,
            size: Decimal | str, price: Decimal | str | None, timestamp_ms: int, signature: str) -> str:
    """The check itself: ``""`` when the signature is the account's, else why not."""
    try:
        msg = order_hash(chain_id, account, market, side, order_type, size, price, timestamp_ms)
    except SigningError as exc:
        return str(exc)
    if public_key is None or not verify_signature(public_key, msg, signature):
        return BAD_SIGNATURE
    return ""


class Verifier:
    """The venue's signature checks in a child process (module docstring)."""

    def __init__(self, chain_id: str, timeout_s: float = 0.5) -> None:
        self.chain_id = chain_id
        self.child = LineChild("services.simulator.verifyproc", {"chain_id": chain_id},
                               name="signature checker", check=self._check, timeout_s=timeout_s)
        self._starting: asyncio.Task[bool] | None = None

    def start(self) -> None:
        """Start the child in the background (orders are checked inline until it is ready)."""
        self._starting = asyncio.get_running_loop().create_task(self.child.start())

    async def stop(self) -> None:
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._starting
        await self.child.stop()

    async def _check(self, child: LineChild) -> None:
        """The child must decide a known valid and a known invalid signature as we do."""
        from shared.config import DEV_ACCOUNT, DEV_L2_PRIVATE_KEY
        from shared.paradex.signer import OrderSigner

        signer = OrderSigner(DEV_L2_PRIVATE_KEY, DEV_ACCOUNT, self.chain_id)
        sig = signer.sign_order("BTC-USD-PERP", "BUY", "LIMIT", Decimal("0.001"), Decimal("1"), 1)
        key_hex = hex(signer.public_key)
        for price, want in (("1", ""), ("2", BAD_SIGNATURE)):
            fut = child.send(DEV_ACCOUNT, key_hex, "BTC-USD-PERP", "BUY", "LIMIT", "0.001", price, 1, sig)
            got = await fut if fut is not None else None
            if got != want:
                raise RuntimeError(f"the child's verdict on a probe differs: {got!r}, not {want!r}")

    async def verdicts(
        self, account: str, public_key: int | None, reqs: Sequence[OrderRequest]
    ) -> dict[Key, str]:
        """Every order's verdict from the child (those it could not give are left out: checked
        inline by the handler)."""
        out: dict[Key, str] = {}
        if not self.child.ready:
            return out
        if public_key is None:
            return {key(account, r): BAD_SIGNATURE for r in reqs}
        key_hex = hex(public_key)
        futs = [(r, self.child.submit(account, key_hex, r.market, r.side, r.type, str(r.size),
                                      None if r.price is None else str(r.price), r.signature_timestamp,
                                      r.signature)) for r in reqs]
        for r, fut in futs:
            if fut is None:
                continue
            try:
                out[key(account, r)] = await self.child.result(fut)
            except Exception:  # down, slow or refused: the handler checks this one inline
                continue
        return out

    def view(self) -> dict[str, Any]:
        return self.child.view()


def _setup(config: dict[str, Any]) -> Any:
    chain_id = config["chain_id"]

    def handle(account: str, key_hex: str, market: str, side: str, order_type: str, size: str,
               price: str | None, timestamp_ms: int, signature: str) -> str:
        return verdict(chain_id, account, int(key_hex, 16), market, side, order_type, Decimal(size),
                       None if price is None else Decimal(price), timestamp_ms, signature)

    return handle


if __name__ == "__main__":
    serve(_setup, batch=False)  # the verdict is on the order's path: not behind other work
