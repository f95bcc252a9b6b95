"""The widget follows the agent's `widget` channel settings (issue 22)."""

from __future__ import annotations

import asyncpg
import msgspec

from agent_server.config import Settings
from agent_server.routes.widget_shapes import WidgetConfig
from tests.conftest import PUBLIC_URL, MakeClient
from tests.fake_openai import FakeOpenAi
from tests.messaging.conftest import Shop

ORIGIN = {"Origin": PUBLIC_URL}
WIDGET = {"greeting": "Welcome to the web chat!", "placeholder": "Ask about teeth…", "formatting": "markdown",
          "theme": {"primaryColor": "#112233", "position": "bottom-left"}, "faqButtons": ["Are you open today?"],
          "voiceEnabled": True, "messengerEnabled": True}


async def test_config_serves_the_widget_channels_effective_settings(
        make_client: MakeClient, messaging_settings: Settings, shop: Shop, pool: asyncpg.Pool) -> None:
    await pool.execute("UPDATE agents SET channels = $2, widget_theme = $3 WHERE id = $1", shop.agent_id,
                       {"widget": WIDGET}, {"textColor": "#000000", "font": "serif"})
    client = await make_client(messaging_settings)
    resp = await client.get(f"/api/widget/{shop.agent_id}/config", headers=ORIGIN)
    msgspec.json.decode(await resp.read(), type=WidgetConfig)  # the declared shape, so the document tells the truth
    config = await resp.json()
    assert config["name"] == "Receptionist" and config["allowedOrigins"] == [PUBLIC_URL]
    assert {k: config[k] for k in WIDGET if k != "theme"} == {k: v for k, v in WIDGET.items() if k != "theme"}
    assert config["theme"] == {"primaryColor": "#112233", "secondaryColor": "#f3f4f6", "textColor": "#000000",
                               "position": "bottom-left", "font": "serif"}


async def test_config_without_overrides_inherits_the_agents_greeting_and_faq_questions(
        make_client: MakeClient, messaging_settings: Settings, shop: Shop) -> None:
    client = await make_client(messaging_settings)
    config = await (await client.get(f"/api/widget/{shop.agent_id}/config", headers=ORIGIN)).json()
    assert config["greeting"] == "Hi! How can I help?"
    assert config["faqButtons"] and config["placeholder"] and config["formatting"] == "plain"
    assert (config["voiceEnabled"], config["messengerEnabled"]) == (False, False)
    assert config["theme"]["position"] == "bottom-right"


async def test_widget_replies_use_the_agents_own_model_not_another_channels(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,
        pool: asyncpg.Pool) -> None:
    await pool.execute("UPDATE agents SET model = 'gpt-agent', temperature = 0.4, channels = $2 WHERE id = $1",
                       shop.agent_id, {"sms": {"model": "gpt-sms", "temperature": 0.1}, "widget": WIDGET})
    fake_openai.state.script("Yes, we take new patients.")
    client = await make_client(messaging_settings)
    resp = await client.post(f"/api/widget/{shop.agent_id}/message", json={"text": "New patients?"}, headers=ORIGIN)
    assert resp.status == 200
    request = fake_openai.state.chat_requests[-1]
    assert request["model"] == "gpt-agent" and abs(request["temperature"] - 0.4) < 1e-6
