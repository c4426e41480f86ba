"""GET /v1/markets end to end, as processes: the reconciler fetches the simulator's GET /markets,
publishes the specs to the ACCOUNT stream, the state folds and serves them."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.system.procs import M, process_system, wait_until


async def test_state_serves_the_venues_market_specs_fetched_by_the_reconciler(
        nats_url: str, redis_url: str, tmp_path: Path) -> None:
    async with process_system(nats_url, redis_url, tmp_path) as ps, \
            httpx.AsyncClient(timeout=5.0) as c:
        venue = {m["symbol"]: m for m in (await c.get(f"{ps.rest_url}/markets")).json()["results"]}

        async def served() -> bool:
            r = await c.get(f"{ps.state_url}/v1/markets")
            return r.status_code == 200 and {m["symbol"] for m in r.json()["value"]} == set(venue)

        await wait_until(served, 20.0, "the state serving every venue market")
        btc = (await c.get(f"{ps.state_url}/v1/markets/{M}")).json()["value"]
        for field in ("price_tick_size", "order_size_increment", "min_notional", "max_order_size"):
            assert btc[field] == venue[M][field], field
        assert btc["status"] == "open"
