"""Order signing in a child process, so the event loop is free while an order is signed.

Signing an order (typed-data hash and ECDSA, ~0.4-0.7 ms of CPU) was the largest piece of the
place path's own work, and pure CPU under the GIL: overlapping it with the claim's and the
intent's round trips only moved it around on the same core. The child (``python -m
services.commands.signproc``) signs on the other core while this process claims the client id
and publishes the intent; the pipeline awaits the signature just before the venue request.

What is signed is exactly what the inline path signs: :func:`unsigned` runs the REST client's own
:func:`~shared.paradex.rest.orders.build_order` (the body, its Decimal conversions, price 0 for
MARKET types) and records the six values it hands to the signer; the child signs those values
with :meth:`~shared.paradex.signer.OrderSigner.sign_order` for the same key, account and chain
(checked at start: the child's first signature must equal the inline one, byte for byte).

The child is a :class:`shared.linechild.LineChild` (its protocol, restarts and fallbacks): the
parent sends ``{"key", "account", "chain_id"}`` first (the key never appears in the command line),
then ``[id, market, side, type, size, price, ts]`` per order; the child answers the signature, or
the error the inline path would meet (:class:`SigningError` here). A child that died, hung or
never started only costs speed: :meth:`SignerProcess.submit` returns None then, and a pending
signature that does not come within ``timeout_s`` is abandoned; the caller signs inline (the same
values, so the same signature). A child that died or hung is started again after ``restart_s``
(doubling up to ``restart_max_s``), so one crash does not cost the speed for the rest of the
process's life.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any, cast

import msgspec

from shared.errors import SigningError
from shared.linechild import LineChild, serve
from shared.paradex.models.requests import OrderRequest
from shared.paradex.rest.orders import build_order
from shared.paradex.signer import OrderSigner

log = logging.getLogger("commands.signproc")

Values = tuple[str, str, str, Decimal, Decimal, int]
"""What an order signature covers: market, side, type, size, price, timestamp (ms)."""


class _Capture:
    """Stands in for the signer inside ``build_order``: records what it would sign."""

    values: Values | None = None

    def sign_order(
        self, market: str, side: str, order_type: str, size: Decimal, price: Decimal, timestamp_ms: int
    ) -> str:
        self.values = (market, side, order_type, size, price, timestamp_ms)
        return ""


def unsigned(**order: Any) -> tuple[OrderRequest, Values]:
    """The order body ``build_order(**order)`` makes (signature empty) and the values to sign."""
    capture = _Capture()
    body = build_order(cast(OrderSigner, capture), **order)
    if capture.values is None:  # build_order always signs; a body without values is a bug here
        raise SigningError("build_order returned without signing")
    return body, capture.values


def signed(body: OrderRequest, signature: str) -> OrderRequest:
    """``body`` with its signature."""
    return msgspec.structs.replace(body, signature=signature)


class SignerProcess(LineChild):
    """One child process signing orders for one account (module docstring)."""

    def __init__(
        self,
        signer: OrderSigner,
        private_key: str,
        *,
        timeout_s: float = 0.5,
        restart_s: float = 1.0,
        restart_max_s: float = 60.0,
    ) -> None:
        config = {"key": private_key, "account": signer.account, "chain_id": signer.chain_id}
        super().__init__("services.commands.signproc", config, name="signer", check=self._probe,
                         refused=SigningError, timeout_s=timeout_s, restart_s=restart_s,
                         restart_max_s=restart_max_s)
        self.signer = signer

    @property
    def signed(self) -> int:
        """Signatures made by the child."""
        return self.answered

    async def _probe(self, child: LineChild) -> None:
        """The child's first signature must equal ours, byte for byte."""
        probe: Values = ("BTC-USD-PERP", "BUY", "LIMIT", Decimal("0.001"), Decimal("1"), 1)
        fut = self._send_values(probe, checked=False)
        got = await fut if fut is not None else None
        if got != self.signer.sign_order(*probe):
            raise RuntimeError(f"the child's probe signature differs: {got!r}")

    def view(self) -> dict[str, Any]:
        """For /healthz."""
        return {"ready": self.ready, "signed": self.signed, "fallbacks": self.fallbacks,
                "restarts": self.restarts}

    def submit(self, values: Values) -> asyncio.Future[str] | None:
        """Send ``values`` to the child: the future of its signature, or None when the child is
        not there (sign inline)."""
        return self._send_values(values, checked=True)

    def _send_values(self, values: Values, *, checked: bool) -> asyncio.Future[str] | None:
        market, side, order_type, size, price, ts = values
        args = (market, side, order_type, str(size), str(price), ts)
        return super().submit(*args) if checked else self.send(*args)

    async def sign(self, values: Values, fut: asyncio.Future[str] | None) -> str:
        """The signature of ``values``: the child's (``fut``), else made here (a child that does
        not answer within ``timeout_s`` is stopped: every order is signed inline from then on)."""
        if fut is not None:
            with contextlib.suppress(Exception):  # refused, down or slow: the same values signed here
                signature: str = await self.result(fut)
                return signature
        else:
            self.fallbacks += 1
        return self.signer.sign_order(*values)


def _setup(config: dict[str, Any]) -> Callable[..., str]:
    signer = OrderSigner(config.pop("key"), config["account"], config["chain_id"])

    def handle(market: str, side: str, order_type: str, size: str, price: str, ts: int) -> str:
        return signer.sign_order(market, side, order_type, Decimal(size), Decimal(price), ts)

    return handle


def main() -> None:
    """The child: sign every request line until stdin closes."""
    serve(_setup)


if __name__ == "__main__":
    main()
