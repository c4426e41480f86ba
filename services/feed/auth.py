"""The feed's JWT source: ``POST /auth`` through the shared REST client, created lazily so the
feed starts (and reports ``disconnected``) even while the venue's REST API is unreachable."""

from __future__ import annotations

import asyncio

from shared.config import CommonSettings
from shared.paradex.rest import ParadexRest


class RestJwtSource:
    """``token()``/``invalidate()`` of the REST client's :class:`~shared.paradex.auth.JwtManager`."""

    def __init__(self, settings: CommonSettings) -> None:
        self._settings = settings
        self._rest: ParadexRest | None = None
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        """A valid JWT (fetched when none is held or the held one is due for renewal)."""
        async with self._lock:
            if self._rest is None:
                self._rest = await ParadexRest.connect(self._settings)
        return await self._rest.jwt.token()

    def invalidate(self, token: str) -> None:
        """Forget ``token`` after the venue refused it."""
        if self._rest is not None:
            self._rest.jwt.invalidate(token)

    async def aclose(self) -> None:
        """Close the REST client."""
        if self._rest is not None:
            await self._rest.aclose()
            self._rest = None
