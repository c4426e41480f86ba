"""Optional read tokens on the state API: every route but /healthz needs one when configured,
401 naming the rule otherwise; the client sends its token; settings refuse short tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.state.settings import Settings
from shared.client import StateClient, Unauthorized
from shared.errors import ConfigError
from shared.settings import Secret, load
from tests.state.test_service_harness import instance, order, order_ev, publish_all, settings_for

A, B = "read-token-aaaaaaaaaaaa", "read-token-bbbbbbbbbbbb"


def test_tokens_come_from_the_variable_or_a_file_and_short_ones_are_refused(tmp_path: Path) -> None:
    assert load(Settings, env={"STATE_READ_TOKENS": f"{A}, {B}"}).tokens == (A.encode(), B.encode())
    f = tmp_path / "tokens"
    f.write_text(f"{A}\n{B}\n")
    s = load(Settings, env={"STATE_READ_TOKENS_FILE": str(f)})
    assert s.tokens == (A.encode(), B.encode()) and A not in repr(s)
    assert load(Settings, env={}).tokens == ()
    with pytest.raises(ConfigError) as info:
        load(Settings, env={"STATE_READ_TOKENS": f"{A},short"})
    assert info.value.variable == "STATE_READ_TOKENS" and "#2" in str(info.value)


async def test_every_route_but_healthz_needs_a_read_token(
        nats_url: str, redis_url: str, js: Any, unique: str) -> None:
    account = f"acct{unique}"
    async with instance(settings_for(nats_url, redis_url, account, read_tokens=Secret(f"{A},{B}"))) as inst:
        seqs = await publish_all(js, account, [order_ev(order("1", account=account))])
        await inst.wait_seq(seqs[-1])
        assert (await inst.get("/healthz")).status_code == 200
        assert (await inst.get("/")).status_code == 200  # the dashboard page: it asks for the token
        for path in ("/v1/orders", "/v1/orders/1", "/v1/health", "/metrics", "/v1/markets", "/v1/events",
                     "/v1/lag", "/ui/config"):
            r = await inst.client.get(path)
            assert r.status_code == 401, path
            assert r.json()["rule"] == "read_token" and "Bearer" in r.headers["www-authenticate"]
        wrong = await inst.client.get("/v1/orders", headers={"Authorization": "Bearer not-a-valid-token-x"})
        assert wrong.status_code == 401 and "not one of STATE_READ_TOKENS" in wrong.json()["reason"]
        basic = await inst.client.get("/v1/orders", headers={"Authorization": "Basic eDp5"})
        assert basic.status_code == 401 and "Bearer" in basic.json()["reason"]
        for token in (A, B):
            ok = await inst.client.get("/v1/orders", headers={"Authorization": f"Bearer {token}"})
            assert ok.status_code == 200 and ok.json()["value"][0]["id"] == "1"
        url = str(inst.client.base_url)
        async with StateClient(url, token=B) as client:
            assert [o.id for o in (await client.orders()).value] == ["1"]
        async with StateClient(url) as anonymous:
            with pytest.raises(Unauthorized) as refused:
                await anonymous.orders()
            assert refused.value.rule == "read_token"
        assert inst.service.settings.tokens  # and the API stays open without them (every other test)
