"""The dashboard page in a real browser (headless Chromium, tests/system/browser.py) against the
system running as processes: it loads with no console error, an order placed through the commands
service shows within 1 s, a fill updates the position, the kill switch cancels. A screenshot is
saved (path printed); ``PDX_DASHBOARD_SCREENSHOT=docs/dashboard.png`` also writes the README's."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from shared.client import ServiceError
from tests.system.browser import FLAGS, require_chromium
from tests.system.killswitch import ADMIN_TOKEN, COMMANDS_ENV, require_kill_switch
from tests.system.procs import M, ProcSystem, process_system

APPEAR_WITHIN_S = 1.0


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def ps(nats_url: str, redis_url: str,
             tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ProcSystem]:
    async with process_system(nats_url, redis_url, tmp_path_factory.mktemp("dash"),
                              sim={"SIM_SYNTHETIC_RATE": "5"}, commands=COMMANDS_ENV) as system:
        yield system


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def page(ps: ProcSystem) -> AsyncIterator[Any]:
    chromium = require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            pg = await browser.new_page(viewport={"width": 1400, "height": 1000})
            pg.problems = []  # console errors and uncaught exceptions, checked by the tests
            pg.on("console", lambda m: pg.problems.append(f"console.{m.type}: {m.text}")
                  if m.type in ("error", "warning") else None)
            pg.on("pageerror", lambda e: pg.problems.append(f"pageerror: {e}"))
            pg.on("requestfailed", lambda r: pg.problems.append(f"request failed: {r.url}")
                  if "/v1/events" not in r.url else None)
            await pg.goto(ps.state_url + "/")
            await pg.wait_for_selector("[data-testid=stream-state].good", timeout=15_000)
            yield pg
        finally:
            await browser.close()


async def _no_problems(page: Any) -> None:
    assert page.problems == [], page.problems


async def test_page_loads_live_with_every_panel_and_no_console_error(ps: ProcSystem, page: Any) -> None:
    assert await page.title() == "paradex-hub"
    assert await page.inner_text("[data-testid=stream-state]") == "live"
    await page.wait_for_selector(f"[data-testid=books] .book[data-market='{M}'][data-valid=true]")
    assert "USDC" in await page.inner_text("[data-testid=balances]")
    assert "free collateral" in await page.inner_text("[data-testid=account]")
    health = await page.inner_text("[data-testid=health]")
    for label in ("private feed", "connected", "corrections", "stream lag", "last reconciliation"):
        assert label in health, health
    assert (await page.inner_text("footer")).find(ps.commands_url) > 0
    # every asset came from the state service itself (works offline)
    urls = await page.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
    assert urls and all(u.startswith(ps.state_url) for u in urls), urls
    await _no_problems(page)


async def test_an_order_placed_through_commands_shows_within_a_second(ps: ProcSystem, page: Any) -> None:
    bid = (await ps.state_client().bbo(M)).value.bid
    assert bid is not None
    price = (bid - Decimal(1000)).quantize(Decimal("0.1"))
    cmd = ps.commands_client()
    t0 = time.monotonic()
    placed = await cmd.place(M, "BUY", Decimal("0.01"), price, client_id="dash-rest", wait="none")
    row = await page.wait_for_selector("[data-testid=orders] tr[data-client-id='dash-rest']",
                                       timeout=APPEAR_WITHIN_S * 1000)
    elapsed = time.monotonic() - t0
    assert elapsed <= APPEAR_WITHIN_S
    assert placed.client_id == "dash-rest"
    await page.wait_for_selector("[data-testid=orders] tr[data-client-id='dash-rest'][data-status=OPEN]")
    text = await row.inner_text()
    assert "BUY" in text and str(price) in text
    group = await page.inner_text("[data-testid=orders] .group[data-strategy=mm] h3")
    assert group.startswith("mm")
    print(f"\norder visible on the page {elapsed * 1000:.0f} ms after the place call started")
    await _no_problems(page)


async def test_a_fill_updates_the_position_and_the_fills(ps: ProcSystem, page: Any) -> None:
    before = (await ps.state_client().positions()).value
    size0 = next((p.position.size for p in before if p.market == M), Decimal(0))
    ask = (await ps.state_client().bbo(M)).value.ask
    assert ask is not None
    r = await ps.commands_client().place(M, "BUY", Decimal("0.03"), ask + Decimal(50), client_id="dash-take",
                                         instruction="IOC", wait="ws")
    assert r.status == "closed", r
    await page.wait_for_selector("[data-testid=fills] tr:has-text('dash-take')", timeout=5000)
    want = size0 + Decimal("0.03")
    cell = f"[data-testid='position-{M}'] [data-field=size]"
    size_is = ("([sel, want]) => { const c = document.querySelector(sel); "
               "return c && +c.textContent === want; }")
    await page.wait_for_function(size_is, arg=[cell, float(want)], timeout=5000)
    assert "LONG" in await page.inner_text(f"[data-testid='position-{M}']")
    await _no_problems(page)


async def _confirm(page: Any, button: str, token: str, reason: str = "") -> None:
    await page.click(f"[data-testid={button}]")
    await page.wait_for_selector("[data-testid=token-dialog][open]")
    await page.fill("[data-testid=token-input]", token)
    if reason:
        await page.fill("[data-testid=reason-input]", reason)
    await page.click("[data-testid=token-ok]")


async def test_kill_switch_asks_for_the_admin_token_cancels_everything_and_resume_reopens(
        ps: ProcSystem, page: Any) -> None:
    await require_kill_switch(ps.commands_url)
    bid = (await ps.state_client().bbo(M)).value.bid
    assert bid is not None
    cmd = ps.commands_client()
    far = (bid - 900).quantize(Decimal("0.1"))
    for i in range(2):
        await cmd.place(M, "BUY", Decimal("0.01"), far - i, client_id=f"dash-k{i}")
    await page.wait_for_selector("[data-testid=orders] tr[data-client-id='dash-k1']")

    await _confirm(page, "kill-button", "not-the-admin-token-0123")  # a wrong token changes nothing
    await page.wait_for_selector("[data-testid=toast].bad:has-text('refused')")
    assert await page.query_selector("[data-testid=orders] tr[data-client-id='dash-k0']") is not None

    await _confirm(page, "kill-button", ADMIN_TOKEN, "browser test")
    await page.wait_for_selector("[data-testid=kill-state]:has-text('ON')", timeout=5000)
    await page.wait_for_function("() => !document.querySelector(\"[data-testid=orders] tr[data-client-id]\")",
                                 timeout=5000)
    with pytest.raises(ServiceError) as refused:  # no new order while the kill switch is on
        await cmd.place(M, "BUY", Decimal("0.01"), far, client_id="dash-k9")
    assert 400 <= refused.value.status < 500, refused.value
    stored = await page.evaluate("() => [document.getElementById('token-input').value, JSON.stringify("
                                 "localStorage), JSON.stringify(sessionStorage), document.cookie]")
    assert stored == ["", "{}", "{}", ""], stored  # the admin token is kept nowhere

    await _confirm(page, "resume-button", ADMIN_TOKEN)
    await page.wait_for_selector("[data-testid=kill-state]:has-text('off')", timeout=5000)
    r = await cmd.place(M, "BUY", Decimal("0.01"), far, client_id="dash-k10")
    assert r.client_id == "dash-k10"
    await page.wait_for_selector("[data-testid=orders] tr[data-client-id='dash-k10']", timeout=5000)
    await _no_problems(page)


async def test_screenshot(ps: ProcSystem, page: Any, tmp_path: Path) -> None:
    path = tmp_path / "dashboard.png"
    await page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    print(f"\ndashboard screenshot: {path}")
    extra = os.environ.get("PDX_DASHBOARD_SCREENSHOT")
    if extra:  # the README's: the first screen, JPEG when asked (small enough to commit)
        kind = "jpeg" if extra.endswith((".jpg", ".jpeg")) else "png"
        await page.screenshot(path=extra, full_page=False, type=kind, quality=80 if kind == "jpeg" else None)
        print(f"dashboard screenshot also written to {extra}")
