"""Whether this checkout's commands service has the kill switch (issue 16 item 4), and how a
process system turns it on: the admin token setting, and ``POST /v1/kill`` in its OpenAPI.

The kill-switch tests of the dashboard and the CLI skip, saying so, while the commands service
has neither (a skip is not a pass: the report says what is pending); they run as soon as it does.
"""

from __future__ import annotations

import httpx
import msgspec
import pytest

from services.commands.settings import Settings as CommandsSettings

ADMIN_TOKEN = "admin-token-system-0123456789"
HAS_ADMIN_SETTING = "admin_token" in CommandsSettings.__struct_fields__
COMMANDS_ENV = {"COMMANDS_ADMIN_TOKEN": ADMIN_TOKEN} if HAS_ADMIN_SETTING else {}


async def require_kill_switch(commands_url: str) -> None:
    """Skip unless the running commands service serves ``POST /v1/kill`` with an admin token."""
    if not HAS_ADMIN_SETTING:
        pytest.skip("the commands service has no admin token setting yet (kill switch: issue 16 item 4)")
    async with httpx.AsyncClient(timeout=5.0) as c:
        doc = msgspec.json.decode((await c.get(f"{commands_url}/openapi.json")).content)
    if "post" not in doc.get("paths", {}).get("/v1/kill", {}):
        pytest.skip("the commands service has no POST /v1/kill yet (issue 16 item 4)")
