"""Account records without a sequence number: funding payments and liquidations.

- :class:`FundingPayment`: ``funding_payments.{market}`` push (AsyncAPI
  ``ResponsesFundingPayment``, every field required) and ``GET /funding/payments`` item
  (OpenAPI ``responses.FundingPayment``). Dedup by ``id``.
- :class:`Liquidation`: ``GET /liquidations`` item (OpenAPI ``responses.LiquidationResp``):
  only the liquidation transaction hash and its time. What was liquidated is seen in the
  ``fills`` (``fill_type`` LIQUIDATION), the public ``trades`` (``trade_type`` LIQUIDATION) and
  the account ``status`` (LIQUIDATION while it runs).
"""

from __future__ import annotations

from decimal import Decimal

from shared.paradex.models.common import Model


class FundingPayment(Model, frozen=True, kw_only=True):
    """One funding payment of one position, in the settlement asset (USDC).

    ``payment`` is signed from the account's side: positive received, negative paid (a long
    pays when the funding index rises). ``index`` is the market's funding index at payment
    time; ``fill_id`` is the fill that realized the payment, ``""`` for a periodic one. Sample::

        {"id":"1681375578221101699352320000","account":"0x4638...","market":"BTC-USD-PERP",
         "payment":"34.4490622","index":"-2819.53434361","fill_id":"8615262148007718462",
         "created_at":1681375481000}
    """

    id: str
    account: str
    market: str
    payment: Decimal
    index: Decimal
    fill_id: str
    created_at: int


class Liquidation(Model, frozen=True, kw_only=True):
    """``GET /liquidations`` item: ``{"id": "<tx hash>", "created_at": <ms>}``."""

    id: str
    created_at: int
