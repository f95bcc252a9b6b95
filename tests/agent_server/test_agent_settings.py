"""Agents read, edited and deleted from the dashboard: per-channel settings, versions, ETags and soft delete."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent_server import agents
from phone_numbers import registry
from tests.conftest import MakeBusiness, Tenant

Client = TestClient[web.Request, web.Application]


async def _create(client: Client, tenant: Tenant, **fields: Any) -> dict[str, Any]:
    resp = await client.post("/api/agents", json={"name": "Desk", **fields}, headers=tenant.headers)
    assert resp.status == 201, await resp.text()
    assert resp.headers["ETag"] == '"v1"'
    body: dict[str, Any] = await resp.json()
    return body


async def _patch(client: Client, tenant: Tenant, agent_id: str, body: dict[str, Any],
                 if_match: str | None = None) -> Any:
    headers = {**tenant.headers, **({"If-Match": if_match} if if_match else {})}
    return await client.patch(f"/api/agents/{agent_id}", json=body, headers=headers)


async def test_get_shows_each_channels_overrides_and_what_it_effectively_uses(
        app_client: Client, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    created = await _create(app_client, tenant, model="gpt-4.1", temperature=0.3, greeting="Hello!", channels={
        "sms": {"model": "gpt-4.1-mini"}, "voice": {"recording": {"enabled": True}},
        "widget": {"theme": {"position": "bottom-left"}}})
    resp = await app_client.get(f"/api/agents/{created['id']}", headers=tenant.headers)
    assert resp.status == 200 and resp.headers["ETag"] == '"v1"'
    agent = await resp.json()
    assert agent["channels"]["sms"]["model"] == "gpt-4.1-mini" and agent["channels"]["whatsapp"] is None
    effective = agent["effective"]
    assert (effective["sms"]["model"], effective["sms"]["temperature"], effective["sms"]["greeting"]) == (
        "gpt-4.1-mini", 0.3, "Hello!")
    assert (effective["whatsapp"]["model"], effective["voice"]["model"]) == ("gpt-4.1", "gpt-4.1")
    assert effective["voice"]["recording"] == {"enabled": True, "noticeText": "This call is recorded.",
                                               "retentionDays": 90}
    assert effective["widget"]["theme"]["position"] == "bottom-left"


async def test_each_edit_is_a_new_version_with_its_author_listed_newest_first(
        app_client: Client, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    agent_id = (await _create(app_client, tenant, systemPrompt="Be kind."))["id"]
    resp = await _patch(app_client, tenant, agent_id, {"systemPrompt": "Be brief.", "temperature": 1.5})
    assert resp.status == 200 and resp.headers["ETag"] == '"v2"'
    assert (await resp.json())["version"] == 2
    resp = await _patch(app_client, tenant, agent_id, {"channels": {"widget": {"formatting": "markdown"}}})
    assert resp.headers["ETag"] == '"v3"'
    listed = await (await app_client.get(f"/api/agents/{agent_id}/versions", headers=tenant.headers)).json()
    assert [v["version"] for v in listed["versions"]] == [3, 2, 1]
    assert [v["config"]["systemPrompt"] for v in listed["versions"]] == ["Be brief.", "Be brief.", "Be kind."]
    assert listed["versions"][0]["config"]["channels"]["widget"]["formatting"] == "markdown"
    assert {v["authorId"] for v in listed["versions"]} == {str(tenant.user_id)}
    limited = await (await app_client.get(f"/api/agents/{agent_id}/versions?limit=1", headers=tenant.headers)).json()
    assert [v["version"] for v in limited["versions"]] == [3]


async def test_a_stale_if_match_is_refused_and_changes_nothing(
        app_client: Client, make_business: MakeBusiness, pool: asyncpg.Pool) -> None:
    tenant = await make_business()
    agent_id = (await _create(app_client, tenant))["id"]
    assert (await _patch(app_client, tenant, agent_id, {"greeting": "Hi"}, if_match='"v1"')).status == 200
    stale = await _patch(app_client, tenant, agent_id, {"greeting": "Lost update"}, if_match='"v1"')
    assert stale.status == 412
    assert (await stale.json())["error"]["code"] == "VERSION_CONFLICT"
    assert (await _patch(app_client, tenant, agent_id, {"greeting": "x"}, if_match="garbage")).status == 412
    assert await pool.fetchval("SELECT count(*) FROM agent_versions WHERE agent_id = $1", agent_id) == 2
    agent = await (await app_client.get(f"/api/agents/{agent_id}", headers=tenant.headers)).json()
    assert agent["greeting"] == "Hi"
    # No If-Match (or "*"): the last write wins.
    assert (await _patch(app_client, tenant, agent_id, {"greeting": "Mine"})).status == 200
    assert (await _patch(app_client, tenant, agent_id, {"greeting": "Theirs"}, if_match="*")).status == 200


async def test_restoring_a_version_writes_a_new_one_with_its_configuration(
        app_client: Client, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    agent_id = (await _create(app_client, tenant, systemPrompt="First.", channels={"sms": {"enabled": False}}))["id"]
    await _patch(app_client, tenant, agent_id, {"systemPrompt": "Second.", "channels": {"sms": {}}})
    resp = await app_client.post(f"/api/agents/{agent_id}/versions/1/restore", headers=tenant.headers)
    assert resp.status == 200 and resp.headers["ETag"] == '"v3"'
    restored = await resp.json()
    assert restored["systemPrompt"] == "First." and restored["effective"]["sms"]["enabled"] is False
    listed = await (await app_client.get(f"/api/agents/{agent_id}/versions", headers=tenant.headers)).json()
    assert [v["config"]["systemPrompt"] for v in listed["versions"]] == ["First.", "Second.", "First."]
    for missing in ("9", "0", "x"):
        resp = await app_client.post(f"/api/agents/{agent_id}/versions/{missing}/restore", headers=tenant.headers)
        assert resp.status == 404, missing


async def test_editing_the_prompt_or_a_channel_moves_the_answer_cache_key_and_a_greeting_does_not(
        app_client: Client, make_business: MakeBusiness, pool: asyncpg.Pool) -> None:
    tenant = await make_business()
    agent_id = (await _create(app_client, tenant))["id"]

    async def config_version() -> int:
        value: int = await pool.fetchval("SELECT config_version FROM agents WHERE id = $1", agent_id)
        return value

    before = await config_version()
    await _patch(app_client, tenant, agent_id, {"greeting": "Hey"})
    assert await config_version() == before
    await _patch(app_client, tenant, agent_id, {"systemPrompt": "Be brief."})
    assert await config_version() == before + 1
    await _patch(app_client, tenant, agent_id, {"channels": {"sms": {"model": "gpt-4.1-mini"}}})
    assert await config_version() == before + 2
    await _patch(app_client, tenant, agent_id, {"systemPrompt": "Be kind.", "channels": {"sms": {}}})
    assert await config_version() == before + 3  # both changed: one bump


async def test_unknown_or_bad_fields_are_422_naming_the_field_and_write_nothing(
        app_client: Client, make_business: MakeBusiness, pool: asyncpg.Pool) -> None:
    tenant = await make_business()
    agent_id = (await _create(app_client, tenant))["id"]
    for body, field in (({"colour": "red"}, "colour"), ({"temperature": 2.5}, "temperature"),
                        ({"channels": {"voice": {"pitch": 1}}}, "channels"),
                        ({"channels": {"widget": {"theme": {"position": "middle"}}}}, "channels"),
                        ({"name": ""}, "name"), ({"language": ""}, "language")):
        resp = await _patch(app_client, tenant, agent_id, body)
        assert resp.status == 422, body
        error = (await resp.json())["error"]
        assert (error["code"], error["field"]) == ("VALIDATION_ERROR", field), body
    resp = await app_client.post("/api/agents", json={"name": "X", "voiceId": "v"}, headers=tenant.headers)
    assert resp.status == 422 and (await resp.json())["error"]["field"] == "voiceId"
    assert await pool.fetchval("SELECT count(*) FROM agent_versions WHERE agent_id = $1", agent_id) == 1


async def test_an_agent_a_live_number_routes_to_cannot_be_deleted(
        app_client: Client, make_business: MakeBusiness, pool: asyncpg.Pool) -> None:
    tenant = await make_business()
    agent_id = (await _create(app_client, tenant))["id"]
    number_id = await registry.add_number(pool, tenant.business_id, "+14155550111", agent_id=agent_id)
    resp = await app_client.delete(f"/api/agents/{agent_id}", headers=tenant.headers)
    assert resp.status == 409
    error = (await resp.json())["error"]
    assert error["code"] == "AGENT_IN_USE" and "+14155550111" in error["message"]
    await pool.execute("UPDATE business_numbers SET status = 'released' WHERE id = $1", number_id)
    assert (await app_client.delete(f"/api/agents/{agent_id}", headers=tenant.headers)).status == 204


async def test_an_unassigned_number_falling_back_to_the_agent_also_keeps_it(
        app_client: Client, make_business: MakeBusiness, pool: asyncpg.Pool) -> None:
    tenant = await make_business()
    first, second = (await _create(app_client, tenant))["id"], (await _create(app_client, tenant))["id"]
    await registry.add_number(pool, tenant.business_id, "+14155550112")  # no agent: the first active one answers
    assert (await app_client.delete(f"/api/agents/{first}", headers=tenant.headers)).status == 409
    assert (await app_client.delete(f"/api/agents/{second}", headers=tenant.headers)).status == 204


async def test_a_deleted_agent_answers_404_everywhere_after(
        app_client: Client, make_business: MakeBusiness, pool: asyncpg.Pool) -> None:
    tenant = await make_business()
    agent_id = (await _create(app_client, tenant))["id"]
    assert (await app_client.delete(f"/api/agents/{agent_id}", headers=tenant.headers)).status == 204
    assert await pool.fetchval("SELECT deleted_at IS NOT NULL FROM agents WHERE id = $1", agent_id)
    for method, path in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("GET", "/versions"),
                         ("POST", "/versions/1/restore"), ("GET", "/knowledge/sources")):
        resp = await app_client.request(method, f"/api/agents/{agent_id}{path}", headers=tenant.headers,
                                        json={"name": "Back"} if method == "PATCH" else None)
        assert resp.status == 404, (method, path)
    assert await agents.get_agent(pool, agent_id) is None
    listed = await (await app_client.get("/api/agents", headers=tenant.headers)).json()
    assert listed["agents"] == []
    widget = await app_client.get(f"/api/widget/{agent_id}/config")
    assert widget.status == 404


async def test_another_business_cannot_read_edit_restore_or_delete_the_agent(
        app_client: Client, make_business: MakeBusiness, pool: asyncpg.Pool) -> None:
    a, b = await make_business("A"), await make_business("B")
    agent_id = (await _create(app_client, b))["id"]
    for method, path in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("GET", "/versions"),
                         ("POST", "/versions/1/restore")):
        resp = await app_client.request(method, f"/api/agents/{agent_id}{path}", headers=a.headers,
                                        json={"name": "Mine"} if method == "PATCH" else None)
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "NOT_FOUND", (method, path)
    assert await pool.fetchval("SELECT version FROM agents WHERE id = $1", agent_id) == 1


async def test_two_edits_from_the_same_version_at_once_one_wins_and_one_is_412(
        app_client: Client, make_business: MakeBusiness, pool: asyncpg.Pool) -> None:
    tenant = await make_business()
    agent_id = (await _create(app_client, tenant))["id"]
    answers = await asyncio.gather(*(_patch(app_client, tenant, agent_id, {"greeting": f"Hi {i}"}, if_match='"v1"')
                                     for i in range(4)))
    assert sorted(r.status for r in answers) == [200, 412, 412, 412]
    assert await pool.fetchval("SELECT version FROM agents WHERE id = $1", agent_id) == 2
