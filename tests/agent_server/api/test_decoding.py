"""Request bodies the storage could not hold are refused as a 422 naming the field, before anything is written."""

from __future__ import annotations

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent_server.api.decoding import decode_body
from agent_server.errors import ValidationError
from agent_server.routes.agent_shapes import AgentPatch
from agent_server.routes.campaign_shapes import CampaignPatch
from agent_server.routes.contacts_shapes import ContactPatch
from tests.conftest import MakeBusiness

Client = TestClient[web.Request, web.Application]


async def test_an_integer_wider_than_64_bits_in_free_form_attributes_is_a_422_and_writes_nothing(
        app_client: Client, make_business: MakeBusiness, pool: asyncpg.Pool) -> None:
    """jsonb goes through orjson, which holds 64-bit integers at most (the fuzzer's PATCH was a 500)."""
    tenant = await make_business()
    wide = {"phone": "+14155550123", "attributes": {"visits": [{"count": 2**64}]}}
    resp = await app_client.post("/api/contacts", json=wide, headers=tenant.headers)
    assert resp.status == 422
    assert (await resp.json())["error"]["field"] == "attributes"
    assert await pool.fetchval("SELECT count(*) FROM contacts") == 0
    edges = {"phone": "+14155550123", "attributes": {"high": 2**64 - 1, "low": -2**63, "long": 1.0e300}}
    created = await app_client.post("/api/contacts", json=edges, headers=tenant.headers)
    assert created.status == 201, await created.text()
    contact = await created.json()
    assert contact["attributes"] == edges["attributes"]
    patched = await app_client.patch(f"/api/contacts/{contact['id']}", json={"attributes": {"n": -2**63 - 1}},
                                     headers=tenant.headers)
    assert patched.status == 422
    assert await pool.fetchval("SELECT attributes FROM contacts") == edges["attributes"]


def test_a_patch_blanking_a_field_that_cannot_be_null_is_a_422_and_one_that_can_is_null() -> None:
    """In a PATCH "" means null: a campaign's name can't be null (the fuzzer's "" was a 500 from the
    NOT NULL column), a contact's first name or a campaign's send time can."""
    for raw, field in ((b'{"name": "  "}', "name"), (b'{"template": " "}', "template")):
        with pytest.raises(ValidationError) as refused:
            decode_body(raw, CampaignPatch)
        assert refused.value.details["field"] == field
    assert decode_body(b'{"firstName": ""}', ContactPatch).first_name is None
    assert decode_body(b'{"sendAt": ""}', CampaignPatch).send_at is None


async def test_a_campaign_renamed_to_nothing_is_a_422_and_keeps_its_name(
        app_client: Client, make_business: MakeBusiness, pool: asyncpg.Pool) -> None:
    tenant = await make_business()
    draft = {"name": "Spring", "template": "Hi", "audience": {}, "category": "transactional"}
    created = await (await app_client.post("/api/campaigns", json=draft, headers=tenant.headers)).json()
    resp = await app_client.patch(f"/api/campaigns/{created['id']}", json={"name": ""}, headers=tenant.headers)
    assert resp.status == 422 and (await resp.json())["error"]["field"] == "name"
    assert await pool.fetchval("SELECT name FROM campaigns") == "Spring"


def test_a_field_a_strict_shape_does_not_declare_is_a_422_naming_it() -> None:
    """Shapes declared with forbid_unknown_fields (the agent's settings) name the stray field, top level or nested."""
    with pytest.raises(ValidationError) as refused:
        decode_body(b'{"voiceId": "aura"}', AgentPatch)
    assert refused.value.details["field"] == "voiceId" and refused.value.status == 422
    with pytest.raises(ValidationError) as refused:
        decode_body(b'{"channels": {"sms": {"speed": 2}}}', AgentPatch)
    assert refused.value.details["field"] == "channels"
