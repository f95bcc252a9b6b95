"""A business whose agent answers a number and the widget, with a cake form, the app pointed at the OpenAI fake."""

from __future__ import annotations

import dataclasses
import itertools
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

import asyncpg
import orjson
from aiohttp import ClientWebSocketResponse, web
from aiohttp.test_utils import TestClient
from twilio.request_validator import RequestValidator

from agent_server import agents
from agent_server.app import make_app
from agent_server.config import Settings
from agent_server.url_resolver import URL_RESOLVER
from phone_numbers import registry
from tests.conftest import PUBLIC_URL, MakeBusiness, MakeSettings, fund_wallet
from tests.fake_openai import FakeOpenAi
from tests.knowledge.test_url_guard import StubResolver

Client = TestClient[web.Request, web.Application]
ORIGIN = {"Origin": PUBLIC_URL}
TWILIO_TOKEN = "fake-twilio-auth-token"
TWILIO_SID = "AC" + "0123456789abcdef" * 2
OUR_NUMBER = "+14155550100"
SENDER = "+14155550123"
SMS_PATH = "/api/voice-agent/handle-sms"
_sids = itertools.count(1)


@dataclasses.dataclass(frozen=True)
class Bakery:
    business_id: uuid.UUID
    agent_id: uuid.UUID
    token: str

    @property
    def headers(self) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def tool_settings(make_settings: MakeSettings, fake_openai: FakeOpenAi) -> Settings:
    """The LLM at the fake, Twilio's token for signatures; no in-process job runner (queued mail and webhooks
    stay queued for the test to read); actions may call the local webhook receiver."""
    settings = make_settings(TWILIO_AUTH_TOKEN=TWILIO_TOKEN, OPENAI_API_KEY=fake_openai.state.options.api_key,
                             OPENAI_BASE_URL=fake_openai.base_url)
    return dataclasses.replace(settings, jobs=dataclasses.replace(settings.jobs, run_in_process=False),
                               knowledge=dataclasses.replace(settings.knowledge, allowed_private_hosts=("127.0.0.1",)))


async def start(settings: Settings, aiohttp_client: Any) -> Client:
    app = make_app(settings)
    app[URL_RESOLVER] = StubResolver({"hooks.example.test": ["93.184.216.34"]})
    client: Client = await aiohttp_client(app)
    return client


async def bakery(pool: asyncpg.Pool, make_business: MakeBusiness) -> Bakery:
    tenant = await make_business("Bakery", email="owner@bakery.example")
    agent_id = await agents.create_agent(pool, tenant.business_id, "Baker", system_prompt="You take cake orders.")
    await registry.add_number(pool, tenant.business_id, OUR_NUMBER, agent_id=agent_id, is_primary=True)
    await fund_wallet(pool, tenant.business_id)
    return Bakery(tenant.business_id, agent_id, tenant.token)


CAKE_FORM = {"name": "Cake order", "title": "Order a cake", "description": "Take a cake order",
             "fields": [{"id": "name", "label": "Your name", "type": "text", "required": True},
                        {"id": "email", "label": "Email", "type": "email", "required": True},
                        {"id": "size", "label": "Size", "type": "select", "options": ["small", "large"]}],
             "successMessage": "Thanks, we'll call you back", "notificationEmail": "orders@bakery.example",
             "emailSubject": "New cake order", "webhookUrl": "https://hooks.example.test/cakes"}


async def cake_form(client: Client, shop: Bakery) -> str:
    resp = await client.post(f"/api/agents/{shop.agent_id}/forms", json=CAKE_FORM, headers=shop.headers)
    assert resp.status == 201, await resp.text()
    form_id: str = (await resp.json())["id"]
    return form_id


async def text(client: Client, body: str, *, sender: str = SENDER, to: str = OUR_NUMBER) -> str | None:
    """One signed inbound SMS (or WhatsApp message, with `whatsapp:` addresses); the TwiML reply's text."""
    form = {"MessageSid": f"SM{next(_sids):032x}", "AccountSid": TWILIO_SID, "From": sender, "To": to,
            "Body": body, "NumMedia": "0"}
    headers = {"X-Twilio-Signature": RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_URL + SMS_PATH, form)}
    resp = await client.post(SMS_PATH, data=form, headers=headers)
    assert resp.status == 200, await resp.text()
    message = ET.fromstring(await resp.text()).find("Message")
    return None if message is None else message.text


async def widget_turn(ws: ClientWebSocketResponse, message: str) -> list[dict[str, Any]]:
    """Send a visitor message; the frames up to its `done` (or `error`)."""
    await ws.send_str(orjson.dumps({"type": "user_message", "text": message}).decode())
    frames = []
    while True:
        frame = orjson.loads((await ws.receive(timeout=15)).data)
        frames.append(frame)
        if frame["type"] in ("done", "error"):
            return frames


def tool_messages(request: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The `tool` messages of one recorded chat request, their content decoded when it is JSON."""
    found = []
    for m in request["messages"]:
        if m["role"] == "tool":
            try:
                content = orjson.loads(m["content"])
            except orjson.JSONDecodeError:
                content = m["content"]
            found.append({"tool_call_id": m["tool_call_id"], "content": content})
    return found
