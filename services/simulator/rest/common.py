"""What every REST handler uses: the call context, JSON responses, venue error bodies, query params."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from shared.errors import DecodeError, VenueError
from shared.paradex.models.common import decode, encode

from ..venue import Venue
from ..wire import complete

T = TypeVar("T")
JSON = "application/json"


@dataclass(slots=True)
class Call:
    """One REST request as a handler sees it. ``account`` is "" on public endpoints."""

    request: Request
    venue: Venue
    account: str
    body: bytes
    now_ms: int

    def param(self, name: str) -> str:
        return str(self.request.path_params[name])

    def query(self, name: str) -> str | None:
        value = self.request.query_params.get(name)
        return value if value not in (None, "") else None

    def query_int(self, name: str, default: int | None = None, *, lo: int | None = None,
                  hi: int | None = None) -> int | None:
        raw = self.query(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise VenueError(400, "INVALID_REQUEST_PARAMETER", f"{name} must be an integer") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise VenueError(400, "INVALID_REQUEST_PARAMETER", f"{name} must be in [{lo}, {hi}]")
        return value

    def body_as(self, type_: type[T]) -> T:
        """The JSON body decoded into ``type_``; 400 VALIDATION_ERROR naming the bad field."""
        if not self.body:
            raise VenueError(400, "VALIDATION_ERROR", "request body is empty")
        try:
            return decode(type_, self.body)
        except DecodeError as exc:
            raise VenueError(400, "VALIDATION_ERROR", str(exc)) from exc


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """``obj`` as the venue writes it: every field that has a value (see :func:`..wire.complete`)."""
    return Response(encode(complete(obj)), status_code=status, media_type=JSON, headers=headers)


def page_response(results: list[Any], next_cursor: str | None, prev_cursor: str | None) -> Response:
    """A paginated body; ``next``/``prev`` are always present (``null`` at either end)."""
    return json_response({"next": next_cursor, "prev": prev_cursor, "results": results})


def error_body(code: str, message: str, data: Any = None) -> bytes:
    return encode({"error": code, "message": message, "data": data})


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """The venue's error shape: ``{"error": CODE, "message": text, "data": null}``."""
    return Response(error_body(code, message), status_code=status, media_type=JSON, headers=headers)


def venue_error_response(exc: VenueError) -> Response:
    return error_response(exc.status, exc.code, exc.venue_message or str(exc))


def empty(status: int) -> Response:
    return Response(b"", status_code=status)
