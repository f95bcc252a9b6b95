"""The widget and forms: the config lists the active forms' public face; a keyword sends the form after `done`."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson
from aiohttp import ClientWebSocketResponse

from tests.automations.conftest import ORIGIN, Client, Shop, cake_form
from tests.conftest import fund_wallet


async def _form(client: Client, shop: Shop, **overrides: Any) -> dict[str, Any]:
    resp = await client.post(f"/api/agents/{shop.agent_id}/forms", json=cake_form(**overrides), headers=shop.headers)
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def _turn(ws: ClientWebSocketResponse, text: str) -> list[dict[str, Any]]:
    """Send a message; the frames up to its `done`."""
    await ws.send_str(orjson.dumps({"type": "user_message", "text": text}).decode())
    frames = []
    while True:
        frame = orjson.loads((await ws.receive(timeout=10)).data)
        frames.append(frame)
        if frame["type"] in ("done", "error"):
            return frames


async def test_the_config_lists_active_forms_without_their_private_settings(client: Client, shop: Shop) -> None:
    shown = await _form(client, shop, webhookUrl="https://hooks.example.test/x")
    hidden = await _form(client, shop, name="Old", isActive=False)
    resp = await client.get(f"/api/widget/{shop.agent_id}/config", headers=ORIGIN)
    assert resp.status == 200
    (form,) = (await resp.json())["forms"]
    assert form["id"] == shown["id"] and form["id"] != hidden["id"]
    assert set(form) == {"id", "name", "title", "description", "fields", "triggerKeywords", "successMessage",
                         "termsAndConditions", "requireTermsAcceptance"}


async def test_a_whole_word_keyword_sends_the_form_after_done_and_a_word_inside_another_does_not(
        client: Client, shop: Shop, pool: asyncpg.Pool) -> None:
    await fund_wallet(pool, shop.tenant.business_id)
    form = await _form(client, shop, triggerKeywords=["form", "quote"])
    async with client.ws_connect(f"/api/widget/{shop.agent_id}/ws", headers=ORIGIN) as ws:
        answered = await _turn(ws, "Where do I find information about prices?")
        assert answered[-1]["type"] == "done", answered
        asked = await _turn(ws, "Could I get a QUOTE?")
        assert asked[-1]["type"] == "done", asked
        offer = orjson.loads((await ws.receive(timeout=10)).data)
        assert offer["type"] == "form" and offer["prefill"] == {}
        assert (offer["form"]["id"], offer["form"]["fields"]) == (form["id"], form["fields"])
        assert "notificationEmail" not in offer["form"]
        after = await _turn(ws, "thanks")
        assert [f["type"] for f in after if f["type"] == "form"] == []
