"""REST envelopes and small bodies: list/page wrappers, errors, batch results, auth, onboarding.

``Results[T]`` is ``{"results": [...]}`` (APIResults), ``Page[T]`` is
``{"next": cursor|null, "prev": cursor|null, "results": [...]}`` (PaginatedAPIResults); use them
parametrised, e.g. ``decode(Results[Position], body)`` or ``decode(Page[Fill], body)``.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from shared.paradex.models.account import Order
from shared.paradex.models.common import Model

T = TypeVar("T")


class Results(Model, Generic[T], frozen=True, kw_only=True):
    """``{"results": [...]}``: unpaginated list responses (/orders, /positions, /balance, /markets)."""

    results: list[T]


class Page(Model, Generic[T], frozen=True, kw_only=True):
    """``{"next", "prev", "results"}``: paginated responses; request more with ``?cursor=<next>``."""

    results: list[T]
    next: str | None = None
    prev: str | None = None


class ApiError(Model, frozen=True, kw_only=True):
    """Error body ``{"error": CODE, "message": text, "data": {...}|null}`` (also a batch item)."""

    error: str
    message: str = ""
    data: Any = None


class BatchOrderResponse(Model, frozen=True, kw_only=True):
    """``POST /orders/batch`` (201): accepted orders and per-order errors."""

    orders: list[Order] = []
    errors: list[ApiError] = []


class CancelOrderResult(Model, frozen=True, kw_only=True):
    """One cancel outcome: ``status`` QUEUED_FOR_CANCELLATION / ALREADY_CLOSED / NOT_FOUND."""

    status: str
    id: str = ""
    client_id: str = ""
    account: str = ""
    market: str = ""


class CancelBatchResponse(Model, frozen=True, kw_only=True):
    """``DELETE /orders/batch`` and ``order.cancel_batch`` result: ``{"results": [...]}``."""

    results: list[CancelOrderResult]


class AuthResponse(Model, frozen=True, kw_only=True):
    """``POST /auth`` → ``{"jwt_token": "<JWT>"}`` (valid 5 minutes)."""

    jwt_token: str


class OnboardingDerivationInfo(Model, frozen=True, kw_only=True):
    """Class hashes used to derive the account address."""

    class_hash: str = ""
    proxy_class_hash: str = ""


class OnboardingCheck(Model, frozen=True, kw_only=True):
    """``GET /onboarding`` → whether the account exists, its address and signer type."""

    exists: bool
    address: str = ""
    account_signer_type: str = ""
    derivation_info: OnboardingDerivationInfo | None = None
