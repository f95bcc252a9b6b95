"""The dashboard's older voice and WhatsApp calls edit the agent and its channel through the versioned edit."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.conftest import MakeBusiness, Tenant

Client = TestClient[web.Request, web.Application]

VOICE_EDIT = {"name": "Front desk", "system_prompt": "You book appointments.", "first_message": "Acme, how can I help?",
              "voice_id": "aura-2-orion-en", "model_id": "gpt-voice", "temperature": 0.2, "language": "en-GB"}


async def _agent(client: Client, tenant: Tenant, **fields: Any) -> dict[str, Any]:
    resp = await client.post("/api/agents", json={"name": "Desk", "model": "gpt-agent", "greeting": "Hello!",
                                                   "temperature": 0.7, **fields}, headers=tenant.headers)
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


def _set(channel: dict[str, Any]) -> dict[str, Any]:
    """A channel's overrides as read back (a field it inherits shows as null)."""
    return {k: v for k, v in channel.items() if v is not None}


async def _read(client: Client, tenant: Tenant, agent_id: str) -> dict[str, Any]:
    body: dict[str, Any] = await (await client.get(f"/api/agents/{agent_id}", headers=tenant.headers)).json()
    return body


async def test_voice_patch_in_the_dashboards_names_edits_the_agent_and_its_voice_channel_as_a_new_version(
        app_client: Client, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    agent = await _agent(app_client, tenant)
    resp = await app_client.patch(f"/api/voice/{agent['id']}", json=VOICE_EDIT, headers=tenant.headers)
    assert resp.status == 200, await resp.text()
    assert resp.headers["ETag"] == '"v2"'
    shown = await resp.json()
    assert {k: shown[k] for k in VOICE_EDIT if k != "model_id"} == {k: v for k, v in VOICE_EDIT.items()
                                                                   if k != "model_id"}
    assert (shown["model"], shown["model_id"], shown["version"]) == ("gpt-voice", "gpt-voice", 2)
    stored = await _read(app_client, tenant, agent["id"])
    assert (stored["name"], stored["systemPrompt"], stored["model"]) == ("Front desk", "You book appointments.",
                                                                         "gpt-agent")
    assert _set(stored["channels"]["voice"]) == {"greeting": "Acme, how can I help?", "voice": "aura-2-orion-en",
                                           "model": "gpt-voice", "temperature": 0.2, "language": "en-GB"}
    assert stored["effective"]["sms"]["model"] == "gpt-agent"  # other channels untouched
    versions = await (await app_client.get(f"/api/agents/{agent['id']}/versions", headers=tenant.headers)).json()
    assert [v["version"] for v in versions["versions"]] == [2, 1]


async def test_voice_patch_merges_into_the_channel_and_null_goes_back_to_inheriting(
        app_client: Client, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    agent = await _agent(app_client, tenant, channels={"voice": {"voice": "aura-2-thalia-en"}})
    await app_client.patch(f"/api/voice/{agent['id']}", json={"model": "gpt-voice", "first_message": "Hi there."},
                           headers=tenant.headers)
    resp = await app_client.patch(f"/api/voice/{agent['id']}", json={"first_message": None}, headers=tenant.headers)
    shown = await resp.json()
    assert (shown["voice_id"], shown["model"], shown["first_message"]) == ("aura-2-thalia-en", "gpt-voice", "Hello!")
    resp = await app_client.patch(f"/api/voice/{agent['id']}", json={"model_id": " ", "voice_id": ""},
                                  headers=tenant.headers)
    shown = await resp.json()
    assert (shown["voice_id"], shown["model"]) == ("", "gpt-agent")  # blank: back to the agent's own


async def test_whatsapp_get_and_patch_show_what_the_whatsapp_channel_uses(
        app_client: Client, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    agent = await _agent(app_client, tenant)
    resp = await app_client.get(f"/api/whatsapp/{agent['id']}", headers=tenant.headers)
    assert resp.status == 200 and resp.headers["ETag"] == '"v1"'
    assert await resp.json() == {
        "id": agent["id"], "business_id": str(tenant.business_id), "name": "Desk", "system_prompt": "",
        "first_message": "Hello!", "model": "gpt-agent", "model_id": "gpt-agent", "temperature": 0.7,
        "language": "en-US", "enabled": True, "version": 1}
    resp = await app_client.patch(f"/api/whatsapp/{agent['id']}", headers={**tenant.headers, "If-Match": '"v1"'},
                                  json={"first_message": "Hi on WhatsApp!", "model": "gpt-wa", "temperature": 0.1})
    assert resp.status == 200 and resp.headers["ETag"] == '"v2"'
    stored = await _read(app_client, tenant, agent["id"])
    assert _set(stored["channels"]["whatsapp"]) == {"greeting": "Hi on WhatsApp!", "model": "gpt-wa", "temperature": 0.1}
    assert stored["channels"]["voice"] is None and stored["effective"]["voice"]["greeting"] == "Hello!"


async def test_bad_fields_are_422_and_a_stale_version_is_412_and_nothing_is_written(
        app_client: Client, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    agent = await _agent(app_client, tenant)
    refused = [("/api/whatsapp/{}", {"voice_id": "aura-2-orion-en"}, "voice_id"),
               ("/api/voice/{}", {"temperature": 3}, "temperature"),
               ("/api/voice/{}", {"model": "a", "model_id": "b"}, "model_id"),
               ("/api/voice/{}", {"firstMessage": "camelCase is not these calls' name"}, "firstMessage"),
               ("/api/whatsapp/{}", {"language": ""}, "language"),
               ("/api/voice/{}", {"name": "  "}, "name")]
    for path, body, field in refused:
        resp = await app_client.patch(path.format(agent["id"]), json=body, headers=tenant.headers)
        assert resp.status == 422, (body, await resp.text())
        assert (await resp.json())["error"]["field"] == field
    resp = await app_client.patch(f"/api/voice/{agent['id']}", json={"name": "Late"},
                                  headers={**tenant.headers, "If-Match": '"v0"'})
    assert resp.status == 412 and (await resp.json())["error"]["code"] == "VERSION_CONFLICT"
    stored = await _read(app_client, tenant, agent["id"])
    assert (stored["version"], stored["name"], stored["channels"]["voice"]) == (1, "Desk", None)


async def test_sync_lists_the_businesss_agents_in_each_channels_names(
        app_client: Client, make_business: MakeBusiness) -> None:
    tenant, other = await make_business(), await make_business("Other")
    first = await _agent(app_client, tenant, channels={"voice": {"voice": "aura-2-orion-en"}})
    second = await _agent(app_client, tenant, name="Night line")
    await _agent(app_client, other, name="Not theirs")
    voice = await (await app_client.post("/api/voice/sync", headers=tenant.headers)).json()
    assert [(a["id"], a["voice_id"]) for a in voice["agents"]] == [(first["id"], "aura-2-orion-en"),
                                                                   (second["id"], "")]
    whatsapp = await (await app_client.post("/api/whatsapp/sync", headers=tenant.headers)).json()
    assert [(a["name"], a["enabled"]) for a in whatsapp["agents"]] == [("Desk", True), ("Night line", True)]


async def test_another_businesss_agent_answers_404_like_a_missing_one(
        app_client: Client, make_business: MakeBusiness) -> None:
    owner, intruder = await make_business(), await make_business("Intruder")
    agent = await _agent(app_client, owner)
    for method, path in (("PATCH", "/api/voice/{}"), ("GET", "/api/whatsapp/{}"), ("PATCH", "/api/whatsapp/{}")):
        foreign = await app_client.request(method, path.format(agent["id"]), json={"name": "Mine"},
                                           headers=intruder.headers)
        missing = await app_client.request(method, path.format("00000000-0000-4000-8000-000000000000"),
                                           json={"name": "Mine"}, headers=intruder.headers)
        assert foreign.status == missing.status == 404
        assert await foreign.json() == await missing.json()
    assert (await _read(app_client, owner, agent["id"]))["name"] == "Desk"
