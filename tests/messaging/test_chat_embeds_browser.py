"""Inline and hosted chat in a real browser (headless Debian Chromium through Playwright).

The inline script runs on a page of a second local origin (another port), which the agent
lists in its allowed origins; the hosted page runs on the server's own origin.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web
from playwright.async_api import Browser, expect

from agent_server import agents, tenants
from agent_server.app import make_app
from tests.conftest import MakeSettings, fund_wallet
from tests.fake_openai import FakeOpenAi
from tests.messaging.test_widget_browser import browser, free_port

__all__ = ["browser"]

FAQ = [agents.FaqEntry("Do you take new patients?", "Yes, we do."),
       agents.FaqEntry("Where are you?", "At 1 Main Street.")]


async def _server(make_settings: MakeSettings, fake_openai: FakeOpenAi, pool: asyncpg.Pool, aiohttp_client: Any,
                  *, name: str, allowed: list[str], widget: dict[str, Any]) -> tuple[int, str]:
    port = free_port()
    settings = make_settings(PUBLIC_URL=f"http://127.0.0.1:{port}", OPENAI_API_KEY=fake_openai.state.options.api_key,
                             OPENAI_BASE_URL=fake_openai.base_url)
    business_id = await tenants.create_business(pool, "Demo Dental")
    agent_id = await agents.create_agent(pool, business_id, name, greeting="Hello from Demo Dental!", faq=FAQ,
                                         allowed_origins=allowed)
    await pool.execute("UPDATE agents SET channels = $2 WHERE id = $1", agent_id, {"widget": widget})
    await fund_wallet(pool, business_id)
    await aiohttp_client(make_app(settings), server_kwargs={"port": port})
    return port, str(agent_id)


async def test_inline_chat_renders_in_its_element_on_another_origin_with_faq_buttons_and_markdown(
        browser: Browser, make_settings: MakeSettings, fake_openai: FakeOpenAi, pool: asyncpg.Pool,
        aiohttp_client: Any) -> None:
    site_port = free_port()
    port, agent_id = await _server(make_settings, fake_openai, pool, aiohttp_client, name="Demo receptionist",
                                   allowed=[f"http://127.0.0.1:{site_port}"], widget={"formatting": "markdown"})
    page_html = (f"<!doctype html><html><body><h1>Clinic</h1><div id='chat' style='height:400px'></div>"
                 f"<script src='http://127.0.0.1:{port}/api/chat/inline/{agent_id}.js' data-target='#chat'>"
                 "</script></body></html>")

    async def site(_: web.Request) -> web.Response:
        return web.Response(text=page_html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", site)
    await aiohttp_client(app, server_kwargs={"port": site_port})
    fake_openai.state.script("We open **at nine**, see <b>[hours](https://dental.example/hours)</b>.")

    page = await browser.new_page()
    await page.goto(f"http://127.0.0.1:{site_port}/")
    chat = page.locator("#chat .panel")
    await expect(chat).to_be_visible()  # open in the element, no bubble to click
    assert await page.locator("#chat button.launcher").count() == 0
    await expect(page.locator("#chat .msg.assistant").first).to_have_text("Hello from Demo Dental!")
    buttons = page.locator("#chat .faq button")
    await expect(buttons).to_have_text([e.question for e in FAQ])
    await buttons.first.click()
    await expect(page.locator("#chat .msg.user")).to_have_text("Do you take new patients?")
    await expect(page.locator("#chat .msg.assistant").nth(1)).to_have_text("Yes, we do.")

    await page.locator("#chat input.input").fill("When do you open?")
    await page.locator("#chat input.input").press("Enter")
    reply = page.locator("#chat .msg.assistant").nth(2)
    await expect(reply).to_have_attribute("data-state", "done")
    await expect(reply.locator("strong")).to_have_text("at nine")
    await expect(reply.locator("a")).to_have_attribute("href", "https://dental.example/hours")
    assert await reply.locator("b").count() == 0  # the model's HTML stays text
    await expect(reply).to_contain_text("<b>")


async def test_hosted_page_opens_its_panel_unclicked_and_shows_a_script_name_as_text(
        browser: Browser, make_settings: MakeSettings, fake_openai: FakeOpenAi, pool: asyncpg.Pool,
        aiohttp_client: Any) -> None:
    name = "<script>window.hacked = 1</script>Dental"
    port, agent_id = await _server(make_settings, fake_openai, pool, aiohttp_client, name=name,
                                   allowed=["https://dental.example"], widget={"messengerEnabled": True})
    page = await browser.new_page()
    await page.goto(f"http://127.0.0.1:{port}/m/{agent_id}?autoOpen=1")
    await expect(page.locator("h1.name")).to_have_text(name)
    assert await page.evaluate("window.hacked === undefined")
    await expect(page.locator(".panel")).to_be_visible()  # opened without a click
    await expect(page.locator(".msg.assistant").first).to_have_text("Hello from Demo Dental!")

    closed = await browser.new_page()
    await closed.goto(f"http://127.0.0.1:{port}/m/{agent_id}")
    await expect(closed.locator("button.launcher")).to_be_visible()
    await expect(closed.locator(".panel")).to_be_hidden()
