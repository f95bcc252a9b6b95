"""A form offered in the widget, in headless Chromium: labels drawn as text, errors beside fields, then submitted."""

from __future__ import annotations

import datetime
from typing import Any

import asyncpg
from playwright.async_api import Browser, expect

from agent_server import agents, tenants
from agent_server.app import make_app
from automations import form_store
from automations.form_model import FormField, FormSpec, checked_spec
from tests.conftest import MakeSettings, fund_wallet
from tests.fake_openai import FakeOpenAi
from tests.messaging.test_widget_browser import browser, free_port  # noqa: F401  (fixture)

LABEL = "<img src=x onerror=\"document.title='pwned'\"> Email"


async def test_a_keyword_opens_the_form_whose_labels_are_text_and_whose_answers_are_submitted(
        browser: Browser, make_settings: MakeSettings, fake_openai: FakeOpenAi, pool: asyncpg.Pool,  # noqa: F811
        aiohttp_client: Any) -> None:
    port = free_port()
    settings = make_settings(PUBLIC_URL=f"http://127.0.0.1:{port}", OPENAI_API_KEY=fake_openai.state.options.api_key,
                             OPENAI_BASE_URL=fake_openai.base_url)
    business_id = await tenants.create_business(pool, "Demo Bakery")
    agent_id = await agents.create_agent(pool, business_id, "Baker", greeting="Hello!")
    await fund_wallet(pool, business_id)
    spec = checked_spec(FormSpec(name="Quote", title="Get a quote", trigger_keywords=["quote"],
                                 success_message="Thanks, we'll be in touch.", fields=[
                                     FormField(id="name", label="Your name", type="text", required=True),
                                     FormField(id="email", label=LABEL, type="email", required=True),
                                     FormField(id="size", label="Size", type="select", options=["small", "large"])]))
    await form_store.create(pool, business_id, agent_id, spec, now=datetime.datetime.now(datetime.UTC))
    fake_openai.state.script("Happy to help with that.")
    await aiohttp_client(make_app(settings), server_kwargs={"port": port})

    page = await browser.new_page()
    await page.goto(f"http://127.0.0.1:{port}/demo?agent={agent_id}")
    await page.locator("button.launcher").click()
    await page.locator("input.input").fill("Could I get a quote?")
    await page.locator("input.input").press("Enter")
    offer = page.locator(".offer")
    await expect(offer).to_be_visible()
    await expect(offer.locator(".field > span:first-child").nth(1)).to_have_text(LABEL + " *")
    assert await offer.locator("img").count() == 0 and await page.title() != "pwned"
    await offer.locator("[data-field=name]").fill("Ann")
    await offer.locator("[data-field=email]").fill("not an address")
    await offer.locator("button[type=submit]").click()
    await expect(offer.locator(".fault").nth(1)).not_to_be_empty()
    assert await pool.fetchval("SELECT count(*) FROM form_submissions") == 0
    await offer.locator("[data-field=email]").fill("ann@example.com")
    await offer.locator("[data-field=size]").select_option("large")
    await offer.locator("button[type=submit]").click()
    await expect(page.locator(".msg.assistant").last).to_have_text("Thanks, we'll be in touch.")
    await expect(offer).to_have_count(0)
    row = await pool.fetchrow("SELECT data, conversation_id FROM form_submissions")
    assert row["data"] == {"name": "Ann", "email": "ann@example.com", "size": "large"}
    assert row["conversation_id"] is not None
