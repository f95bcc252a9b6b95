"""The demo page in a real browser: headless Chromium (Debian's) driven by Playwright.

The app runs on a real socket with PUBLIC_URL set to its own address, as `make run` does, so
the demo page's origin is the one the widget accepts by default. The LLM is the OpenAI fake
with a delay between tokens, so the answer visibly streams into the widget in pieces.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from playwright.async_api import Browser, async_playwright, expect

from agent_server import agents, tenants
from agent_server.app import make_app
from tests.conftest import MakeSettings, fund_wallet
from tests.fake_openai import FakeOpenAi

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ANSWER = "Our hygienist has openings on Thursday afternoon."


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("/usr/bin/chromium is missing: `make install-dev` installs Debian's chromium")
        pytest.skip("needs Debian's chromium: run `make install-dev` (as root)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_demo_page_widget_streams_the_answer(
        browser: Browser, make_settings: MakeSettings, fake_openai: FakeOpenAi, pool: asyncpg.Pool,
        aiohttp_client: Any) -> None:
    port = free_port()
    settings = make_settings(PUBLIC_URL=f"http://127.0.0.1:{port}", OPENAI_API_KEY=fake_openai.state.options.api_key,
                             OPENAI_BASE_URL=fake_openai.base_url)
    business_id = await tenants.create_business(pool, "Demo Dental")
    user_id = await tenants.create_user(pool, "demo@example.com")
    await tenants.add_member(pool, business_id, user_id, "owner")
    await agents.create_agent(pool, business_id, "Demo receptionist", greeting="Hello from Demo Dental!")
    await fund_wallet(pool, business_id)
    fake_openai.state.options.token_delay = 0.05
    fake_openai.state.script(ANSWER)
    await aiohttp_client(make_app(settings), server_kwargs={"port": port})

    page = await browser.new_page()
    await page.goto(f"http://127.0.0.1:{port}/demo")
    await page.locator("button.launcher").click()
    await expect(page.locator(".msg.assistant").first).to_have_text("Hello from Demo Dental!")
    await page.locator("input.input").fill("Can I see the hygienist this week?")
    await page.locator("input.input").press("Enter")
    reply = page.locator(".msg.assistant").nth(1)
    await expect(reply).to_have_attribute("data-state", "streaming")
    await expect(reply).to_have_attribute("data-state", "done")
    await expect(reply).to_have_text(ANSWER)
    assert int(await reply.get_attribute("data-deltas") or 0) > 1
    assert await page.evaluate("Object.keys(localStorage).length") == 1
